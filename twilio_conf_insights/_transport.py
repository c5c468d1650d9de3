"""The innermost step of a call: one attempt over the connection, to a response or a typed error.

:class:`SendTransport` sends the request (through its proxy, if any), reads the body within
its bounds (:mod:`._body`), and returns a :class:`~._pipeline.Response` for a 2xx answer
with JSON, or raises: an :class:`ApiError` for any other status, a :class:`TransportError`
for a failure below HTTP (aiohttp's exceptions mapped through one table), a
:class:`DecodeError` for a body that is not JSON. It reports each attempt to the call's
hooks (:class:`RequestSent`, :class:`ResponseReceived`).
"""

from __future__ import annotations

import asyncio
import logging
import time
import types
from collections.abc import Mapping

import aiohttp

from ._body import BodyBudget, read_body
from ._connection import USER_AGENT, Connection
from ._errors import (
    ClientClosedError,
    DecodeError,
    TransportError,
    error_from_response,
)
from ._events import RequestSent, ResponseReceived
from ._json import json_loads, parse_json_body
from ._options import DEFAULT_MAX_BODY_BYTES
from ._pipeline import REQUEST_ID_HEADER, Request, Response
from ._retry import parse_retry_after

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "USER_AGENT",
    "SendTransport",
    "json_loads",
    "parse_json_body",
    "transport_error",
]

_log = logging.getLogger("twilio_conf_insights")

_NO_HEADERS: Mapping[str, str] = types.MappingProxyType({})


class SendTransport:
    """One attempt on a slot already held; see the module documentation."""

    def __init__(self, connection: Connection, budget: BodyBudget) -> None:
        self._connection = connection
        self._budget = budget

    async def handle(self, request: Request) -> Response:
        """Send one attempt of ``request``."""
        connection = self._connection
        url = request.url
        attempt = request.attempt
        if request.scope.closed:  # closed while this call waited for a slot or to be retried
            raise ClientClosedError(
                "this client was closed while the request was still queued: it was never sent"
                if attempt == 1
                else "this client was closed while the request was waiting to be retried"
            )
        session = connection.session()
        if session.closed:  # a session the user passed in, and closed
            raise ClientClosedError("the aiohttp session given to this client is closed")
        events = request.events
        if _log.isEnabledFor(logging.DEBUG):
            _log.debug("GET %s (attempt %d, call %d)", url, attempt, request.call_id)
        if events:
            events.emit(
                RequestSent(method="GET", url=str(url), attempt=attempt, call_id=request.call_id)
            )
        status = 0
        headers = _NO_HEADERS
        body: bytes | bytearray = b""
        held = 0
        response: aiohttp.ClientResponse | None = None
        failure: TransportError | DecodeError | None = None
        route = connection.proxies.route_for(url)
        timeout = request.options.timeout
        sent = time.monotonic()
        if request.sent_at is None:
            request.sent_at = sent
        try:
            async with asyncio.timeout(timeout):
                sending = (
                    session.get(url, headers=request.headers, allow_redirects=False)
                    if route is None
                    else session.get(
                        url,
                        headers=route.request_headers(url, request.headers),
                        allow_redirects=False,
                        proxy=route.url,
                        proxy_headers=route.headers,
                    )
                )
                async with sending as response:
                    status = response.status
                    headers = response.headers
                    body, held = await read_body(
                        response, url, request.options.max_body_bytes, self._budget
                    )
        except (DecodeError, TransportError) as exc:
            # Re-raised below from here: its traceback until now (read_body's frame, with the
            # chunks read so far) would keep them alive as long as the error lives.
            failure = exc.with_traceback(None)
        except (TimeoutError, aiohttp.ClientError) as exc:
            failure = transport_error(
                exc, url=str(url), timeout=timeout, proxy=route.shown if route else None
            )
        if events:
            events.emit(
                ResponseReceived(
                    method="GET",
                    url=str(url),
                    attempt=attempt,
                    status=status or None,
                    elapsed=time.monotonic() - sent,
                    error=str(failure) if failure is not None else None,
                    call_id=request.call_id,
                    request_id=headers.get(REQUEST_ID_HEADER),
                )
            )
        try:
            # Raised here, outside the except blocks: aiohttp's exceptions carry the request
            # headers (our Authorization), so they must not ride along as __context__.
            if failure is not None:
                raise failure
            if 200 <= status < 300:
                return Response(
                    status=status,
                    headers=headers,
                    json=parse_json_body(body, url=str(url)),
                    url=url,
                    attempts=attempt,
                )
            raise error_from_response(
                status,
                body,
                method="GET",
                url=str(url),
                retry_after=parse_retry_after(headers.get("Retry-After")),
                redact=connection.secret_forms,
                location=headers.get("Location"),
                request_id=headers.get(REQUEST_ID_HEADER),
            )
        finally:
            if held:
                self._budget.give(held)
            # A raised error keeps this frame alive (its traceback): not the body, nor the
            # response with whatever its stream still buffers.
            body = b""
            response = None


#: aiohttp's failures as :class:`TransportError` kinds, first match wins (so the more
#: specific classes come first), with the words used when the exception has none.
#: aiohttp's ServerTimeoutError is also a TimeoutError: one kind for every timeout.
_AIOHTTP_ERRORS: tuple[tuple[type[BaseException], str, str], ...] = (
    (TimeoutError, "timeout", "timed out"),
    (aiohttp.ClientProxyConnectionError, "proxy", "cannot connect to the proxy"),
    (aiohttp.ClientHttpProxyError, "proxy", "the proxy refused the connection"),
    (aiohttp.ClientPayloadError, "payload", "truncated or damaged body"),
    (aiohttp.ServerDisconnectedError, "disconnected", "server disconnected"),
    (aiohttp.ClientConnectionError, "connect", "connection failed"),
    (aiohttp.ClientError, "other", "HTTP client error"),
)


def transport_error(
    exc: BaseException, *, url: str, timeout: float, proxy: str | None = None
) -> TransportError:
    """The :class:`TransportError` for an aiohttp failure: the one place its message is built.

    The message names the kind and the exception's class and text, never its request
    headers; the caller raises it outside the ``except`` block, so ``exc`` is not chained.
    ``proxy`` (password replaced) is named in the messages about it.
    """
    kind, fallback = next(
        (kind, fallback) for kinds, kind, fallback in _AIOHTTP_ERRORS if isinstance(exc, kinds)
    )
    if kind == "timeout":
        message = f"no complete response within {timeout:g}s"
    elif isinstance(exc, aiohttp.ClientHttpProxyError):
        message = f"{fallback}: HTTP {exc.status} {exc.message}".rstrip()
    else:
        text = str(exc).strip() or fallback
        message = f"{fallback} ({type(exc).__name__}: {text})" if text != fallback else fallback
    if kind == "proxy" and proxy:
        message = f"{message} [proxy {proxy}]"
    return TransportError(message, kind=kind, url=url)
