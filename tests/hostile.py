"""Hostile peers on loopback: raw-socket servers that answer with malformed HTTP.

Each echoes the request's ``Authorization`` value where aiohttp's parser will quote it back
in its exception: in the status line, in ``Content-Length``, or as a chunk size.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

#: Builds the raw answer from the echoed ``Authorization`` value.
Answer = Callable[[bytes], bytes]

ANSWERS: dict[str, Answer] = {
    "status line": lambda auth: b"HTTP/1.1 " + auth + b"\r\n\r\n",
    "content-length": lambda auth: b"HTTP/1.1 200 OK\r\nContent-Length: " + auth + b"\r\n\r\n",
    "chunk size": lambda auth: (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + auth + b"\r\n"
    ),
}


def authorization_of(request: bytes) -> bytes:
    """The ``Authorization`` header's value in a raw request head."""
    for line in request.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"authorization":
            return value.strip()
    return b""


@contextlib.asynccontextmanager
async def echoing_server(answer: Answer) -> AsyncIterator[str]:
    """A server on 127.0.0.1 answering every request with ``answer(authorization)``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            writer.write(answer(authorization_of(head)))
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()
