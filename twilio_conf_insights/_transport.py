"""The session layer: one pooled aiohttp session, auth, limits, retries, typed failures.

Every request of a client goes through :meth:`Transport.get_json`. One *attempt* holds a
slot of the client-wide :class:`~.limiter.AdaptiveLimiter` while it is on the wire and
never while it waits to be retried; :class:`~.retry.RetryPolicy` (tenacity) decides
whether and when to try again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections.abc import Awaitable, Callable, Collection
from typing import Any

import aiohttp
import tenacity
from yarl import URL

from . import _testmode
from ._credentials import Credentials
from ._errors import (
    ClientClosedError,
    DecodeError,
    ForeignOriginError,
    RetryExhaustedError,
    TransportError,
    TwilioInsightsError,
    error_from_response,
)
from ._events import EventDispatcher, RequestSent, ResponseReceived, RetryScheduled
from ._limiter import AdaptiveLimiter
from ._retry import RetryPolicy, is_retryable, parse_retry_after
from ._urls import Origin, describe_origin, origin_of
from ._version import __version__

__all__ = [
    "DEFAULT_MAX_BODY_BYTES",
    "Transport",
    "json_loads",
    "parse_json_body",
    "transport_error",
]

_log = logging.getLogger("twilio_conf_insights")

#: Largest response body accepted (after decompression): a page of 1,000 participant
#: summaries is about 2 MB, so 32 MiB leaves room without letting a broken peer exhaust memory.
DEFAULT_MAX_BODY_BYTES = 32 * 1024 * 1024

USER_AGENT = (
    f"twilio-conf-insights/{__version__} aiohttp/{aiohttp.__version__} "
    f"python/{sys.version_info.major}.{sys.version_info.minor}"
)

try:  # the optional ``fast`` extra
    import orjson

    json_loads: Callable[[bytes], Any] = orjson.loads
except ImportError:  # pragma: no cover - depends on the environment
    json_loads = json.loads


class Transport:
    """Sends GET requests and returns parsed JSON, or raises a typed error."""

    def __init__(
        self,
        *,
        credentials: Credentials,
        origins: Collection[Origin],
        limiter: AdaptiveLimiter,
        retry: RetryPolicy,
        timeout: float,
        session: aiohttp.ClientSession | None = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        events: EventDispatcher | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._secret_forms = credentials.secret_forms()
        self._headers = {
            "Authorization": credentials.authorization_header(),
            "User-Agent": USER_AGENT,
            "Accept": "application/json",
        }
        self._origins = frozenset(origins)
        self.limiter = limiter
        self._retry_policy = retry
        self._timeout = timeout
        self._session = session
        self._owns_session = session is None
        self._max_body = max_body_bytes
        self._events = events if events is not None else EventDispatcher()
        self._sleep = sleep
        self._closed = False
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` was called."""
        return self._closed

    def _get_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise ClientClosedError("this client is closed; create a new InsightsClient")
        if (
            self._owns_session
            and self._session is not None
            and self._loop is not asyncio.get_running_loop()
        ):
            raise ClientClosedError(
                "this client's connection pool belongs to another event loop: "
                "create one client per event loop (inside the coroutine that asyncio.run runs)"
            )
        if self._session is None:
            self._loop = asyncio.get_running_loop()
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self.limiter.stats().max_concurrency),
                # Per-attempt deadlines are ours (asyncio.timeout), not aiohttp's 5-minute default.
                timeout=aiohttp.ClientTimeout(total=None),
            )
        return self._session

    async def aclose(self) -> None:
        """Close the session if we opened it; a session the user passed in is left open."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            await session.close()

    def check_origin(self, url: URL) -> None:
        """Refuse any URL outside the configured Twilio origins: credentials stay home."""
        if origin_of(url) not in self._origins or url.user is not None or url.password is not None:
            raise ForeignOriginError(
                f"refusing to send credentials to {describe_origin(url)}: "
                "not one of the configured API hosts"
            )

    async def get_json(self, url: URL) -> Any:
        """GET ``url`` with retries; the parsed JSON body of the first 2xx response."""
        self.check_origin(url)
        session = self._get_session()
        slot = await self._acquire_slot()
        # The time budget starts when the first attempt is sent, not while it queued.
        started = time.monotonic()
        # The first attempt runs before any retry machinery exists: almost every call
        # succeeds at once, and a tenacity controller costs about as much CPU as the
        # request itself. Only a retryable failure builds one.
        try:
            return await self._send(session, url, 1, slot)
        except TwilioInsightsError as error:
            if not is_retryable(error) or self._retry_policy.max_attempts == 1:
                raise
            first_failure = error
        return await self._retry(session, url, first_failure, started)

    async def _retry(
        self,
        session: aiohttp.ClientSession,
        url: URL,
        first_failure: TwilioInsightsError,
        started: float,
    ) -> Any:
        """Attempts 2 and later, under tenacity, after the first attempt failed.

        tenacity's attempt 1 *is* that first attempt: it reports its failure, so every
        decision (wait, stop, logging) is tenacity's from the first failure on, and its
        time budget counts from ``started``.
        """
        retrying = self._retry_policy.retrying(
            sleep=self._sleep, before_sleep=self._before_sleep(url), started=started
        )
        last: BaseException | None = None
        attempts = 0
        try:
            async for attempt in retrying:
                with attempt:
                    number = attempt.retry_state.attempt_number
                    if number == 1:
                        raise first_failure
                    return await self._send(session, url, number, await self._acquire_slot())
        except tenacity.RetryError as exhausted:
            last = exhausted.last_attempt.exception()
            attempts = exhausted.last_attempt.attempt_number
        # Raised outside the except block so tenacity's RetryError is not chained in.
        assert isinstance(last, TwilioInsightsError), "tenacity stops only on our retryable errors"
        if attempts == 1:
            raise last  # nothing was retried (no time left in the budget): the error as is
        raise RetryExhaustedError(attempts, last, elapsed=time.monotonic() - started) from last

    def _before_sleep(self, url: URL) -> Callable[[tenacity.RetryCallState], None]:
        def before_sleep(state: tenacity.RetryCallState) -> None:
            wait = state.upcoming_sleep
            outcome = state.outcome
            error = outcome.exception() if outcome is not None else None
            cause = str(error) if error is not None else "unknown"
            _log.info(
                "retrying GET %s in %.2fs after attempt %d: %s",
                url,
                wait,
                state.attempt_number,
                cause,
            )
            if self._events:
                self._events.emit(
                    RetryScheduled(
                        method="GET",
                        url=str(url),
                        attempt=state.attempt_number,
                        wait=wait,
                        cause=cause,
                        cause_type=type(error).__name__,
                    )
                )

        return before_sleep

    async def _acquire_slot(self) -> tuple[int, int]:
        """A limiter slot: its level and the limiter's generation when it was granted."""
        limiter = self.limiter
        level = limiter.try_acquire() or await limiter.acquire()
        return level, limiter.generation

    async def _send(
        self, session: aiohttp.ClientSession, url: URL, attempt: int, slot: tuple[int, int]
    ) -> Any:
        """One attempt, on a slot already acquired; the slot is released here."""
        status = 0
        body = b""
        retry_after_header: str | None = None
        location: str | None = None
        failure: TransportError | DecodeError | None = None
        try:
            if self._closed:  # closed while this call waited for a slot or to be retried
                raise ClientClosedError(
                    "this client was closed while the request was still queued: it was never sent"
                    if attempt == 1
                    else "this client was closed while the request was waiting to be retried"
                )
            if session.closed:  # a session the user passed in, and closed
                raise ClientClosedError("the aiohttp session given to this client is closed")
            if _log.isEnabledFor(logging.DEBUG):
                _log.debug("GET %s (attempt %d)", url, attempt)
            if self._events:
                self._events.emit(RequestSent(method="GET", url=str(url), attempt=attempt))
            sent = time.perf_counter()
            try:
                async with asyncio.timeout(self._timeout):
                    async with session.get(
                        url, headers=self._headers, allow_redirects=False
                    ) as response:
                        status = response.status
                        retry_after_header = response.headers.get("Retry-After")
                        location = response.headers.get("Location")
                        body = await self._read_body(response, url)
            except DecodeError as exc:
                failure = exc
            except (TimeoutError, aiohttp.ClientError) as exc:
                failure = transport_error(exc, url=str(url), timeout=self._timeout)
            elapsed = time.perf_counter() - sent
            if self._events:
                self._events.emit(
                    ResponseReceived(
                        method="GET",
                        url=str(url),
                        attempt=attempt,
                        status=status or None,
                        elapsed=elapsed,
                        error=str(failure) if failure is not None else None,
                    )
                )
        finally:
            self.limiter.release()
        # Raised here, outside the except blocks: aiohttp's exceptions carry the request
        # headers (our Authorization), so they must not ride along as __context__.
        if failure is not None:
            raise failure
        level, generation = slot
        if 200 <= status < 300:
            data = parse_json_body(body, url=str(url))
            self.limiter.record_success(level)
            return data
        retry_after = parse_retry_after(retry_after_header)
        if status in _THROTTLE_STATUSES:
            # Capped like the retry wait: a huge Retry-After must not freeze the whole client.
            # Only a 429 speaks of concurrency; a 503 may have any cause.
            self.limiter.record_throttle(
                _testmode.pause(self._retry_policy.cap_retry_after(retry_after)),
                level=level if status == 429 else None,
                generation=generation,
            )
        raise error_from_response(
            status,
            body,
            method="GET",
            url=str(url),
            retry_after=retry_after,
            redact=self._secret_forms,
            location=location,
        )

    async def _read_body(self, response: aiohttp.ClientResponse, url: URL) -> bytes:
        limit = self._max_body
        length = response.content_length
        if length is not None and length > limit and "Content-Encoding" not in response.headers:
            raise DecodeError(
                f"response body of {length} bytes exceeds max_body_bytes={limit}",
                resource="response",
                url=str(url),
            )
        if length is not None and "Content-Encoding" not in response.headers:
            return await response.read()  # the common case: a known, acceptable size
        body = bytearray()
        stream = response.content
        while chunk := await stream.read(limit + 1 - len(body)):
            body += chunk
            if len(body) > limit:
                raise DecodeError(
                    f"response body exceeds max_body_bytes={limit}",
                    resource="response",
                    url=str(url),
                )
        return bytes(body)


#: Statuses by which Twilio says "too much": they slow the whole client down.
_THROTTLE_STATUSES = frozenset({429, 503})

#: aiohttp's failures as :class:`TransportError` kinds, first match wins (so the more
#: specific classes come first), with the words used when the exception has none.
#: aiohttp's ServerTimeoutError is also a TimeoutError: one kind for every timeout.
_AIOHTTP_ERRORS: tuple[tuple[type[BaseException], str, str], ...] = (
    (TimeoutError, "timeout", "timed out"),
    (aiohttp.ClientPayloadError, "payload", "truncated or damaged body"),
    (aiohttp.ServerDisconnectedError, "disconnected", "server disconnected"),
    (aiohttp.ClientConnectionError, "connect", "connection failed"),
    (aiohttp.ClientError, "other", "HTTP client error"),
)


def parse_json_body(body: bytes, *, url: str = "") -> Any:
    """Parse a 2xx body as JSON; anything else is a retryable :class:`DecodeError`.

    A body that is not JSON at all is most likely damaged in transit (a proxy error page, a
    cut connection without Content-Length), so it is worth another attempt.
    """
    try:
        return json_loads(body)
    except (ValueError, RecursionError):
        pass
    if json_loads is not json.loads:
        # orjson refuses a few valid documents (integers beyond 64 bits): ask the stdlib.
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            pass
    raise DecodeError(
        "response body is not valid JSON", resource="response", url=url, retryable=True
    )


def transport_error(exc: BaseException, *, url: str, timeout: float) -> TransportError:
    """The :class:`TransportError` for an aiohttp failure: the one place its message is built.

    The message names the kind and the exception's class and text, never its request
    headers; the caller raises it outside the ``except`` block, so ``exc`` is not chained.
    """
    kind, fallback = next(
        (kind, fallback) for kinds, kind, fallback in _AIOHTTP_ERRORS if isinstance(exc, kinds)
    )
    if kind == "timeout":
        message = f"no complete response within {timeout:g}s"
    else:
        text = str(exc).strip() or fallback
        message = f"{fallback} ({type(exc).__name__}: {text})" if text != fallback else fallback
    return TransportError(message, kind=kind, url=url)
