"""Reading a response body within two bounds: one body's size, and all bodies held at once.

``max_body_bytes`` bounds each response (after decompression). That alone lets a client
hold ``max_concurrency`` times as much: 32 hostile gzip bodies of 32 MiB each are a
gigabyte. A :class:`BodyBudget` bounds what the whole client holds: the reader takes budget
for every chunk before it keeps it, and gives it back when the body has been parsed (or
failed).

A response that finds the budget exhausted fails at once with a retryable
:class:`TransportError` (``kind="budget"``) rather than waiting for budget: waiting
responses that each hold part of the budget could wait for each other for ever, while a
failed one gives its share back at once and is retried after the policy's backoff, when the
other bodies are gone. The default budget holds a full page from every slot of a busy
client many times over, so ordinary traffic never meets it.
"""

from __future__ import annotations

import aiohttp
import attrs
from yarl import URL

from ._errors import DecodeError, TransportError
from ._validation import positive_int

__all__ = ["DEFAULT_MAX_BUFFERED_BYTES", "BodyBudget", "BufferStats", "read_body"]

#: Bytes of response bodies a client holds at once by default (after decompression).
DEFAULT_MAX_BUFFERED_BYTES = 256 * 1024 * 1024

#: The most a body of unknown length is read at once.
_CHUNK = 256 * 1024


@attrs.frozen
class BufferStats:
    """What a client's response bodies hold in memory (see ``InsightsClient.buffer_stats``)."""

    #: The client's ``max_buffered_bytes``.
    max_bytes: int
    #: Bytes of response bodies held now.
    held_bytes: int
    #: The most ever held at once.
    peak_bytes: int
    #: Responses that failed because the budget was exhausted.
    refusals: int


class BodyBudget:
    """The bytes of response bodies a client may hold at once; see the module documentation."""

    __slots__ = ("_held", "_max", "_peak", "_refusals")

    def __init__(self, max_bytes: int) -> None:
        positive_int(max_bytes, "max_buffered_bytes")
        self._max = max_bytes
        self._held = 0
        self._peak = 0
        self._refusals = 0

    @property
    def available(self) -> int:
        """Bytes that may still be taken."""
        return self._max - self._held

    def take(self, count: int, url: URL) -> None:
        """Take ``count`` bytes of budget, or raise the refusal for ``url``'s response."""
        held = self._held + count
        if held > self._max:
            self._refusals += 1
            raise TransportError(
                f"this client already holds {self._held} bytes of response bodies, and "
                f"max_buffered_bytes={self._max}: the response was not read",
                kind="budget",
                url=str(url),
            )
        self._held = held
        if held > self._peak:
            self._peak = held

    def give(self, count: int) -> None:
        """Give back ``count`` bytes taken before."""
        self._held -= count

    def stats(self) -> BufferStats:
        """A snapshot."""
        return BufferStats(
            max_bytes=self._max,
            held_bytes=self._held,
            peak_bytes=self._peak,
            refusals=self._refusals,
        )


def _too_large(limit: int, url: URL, length: int | None = None) -> DecodeError:
    size = f" of {length} bytes" if length is not None else ""
    return DecodeError(
        f"response body{size} exceeds max_body_bytes={limit}", resource="response", url=str(url)
    )


async def read_body(
    response: aiohttp.ClientResponse, url: URL, limit: int, budget: BodyBudget
) -> tuple[bytes | bytearray, int]:
    """The body, and the budget it holds (the caller gives that back when done with it)."""
    length = response.content_length
    if length is not None and "Content-Encoding" not in response.headers:
        # The common case: a known size, read at once.
        if length > limit:
            raise _too_large(limit, url, length)
        budget.take(length, url)
        try:
            return await response.read(), length
        except BaseException:
            budget.give(length)
            raise
    # A compressed body, or one of unknown length: chunk by chunk, each one paid for before
    # it is read (the decompressed size of a compressed body is unknown until it is read).
    chunks: list[bytes] = []
    size = 0
    held = 0
    stream = response.content
    try:
        while True:
            want = min(_CHUNK, limit + 1 - size, max(1, budget.available))
            budget.take(want, url)
            held += want
            chunk = await stream.read(want)
            unused = want - len(chunk)
            budget.give(unused)
            held -= unused
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
            if size > limit:
                raise _too_large(limit, url)
        if len(chunks) == 1:
            return chunks[0], held
        # The joined body and its pieces coexist for a moment: that is held too.
        budget.take(size, url)
        held += size
        body = b"".join(chunks)
        chunks.clear()
        budget.give(size)
        held -= size
        return body, held
    except BaseException:
        budget.give(held)
        chunks.clear()  # the error's traceback keeps this frame: not what it read
        raise
