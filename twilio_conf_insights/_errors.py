"""The exception tree, and the pure mapping from an HTTP response to an exception.

Every exception the client raises on purpose derives from :class:`TwilioInsightsError`,
except invalid arguments, which raise :class:`InvalidArgumentError` (a :class:`ValueError`)
before any request is sent::

    TwilioInsightsError
    ├── ApiError                  Twilio answered with an error status
    │   ├── BadRequestError       400
    │   ├── AuthenticationError   401
    │   ├── PermissionDeniedError 403
    │   ├── NotFoundError         404
    │   ├── RateLimitError        429
    │   └── ServerError           5xx
    ├── TransportError            below HTTP: connect, timeout, disconnected, payload
    ├── DecodeError               a body that is not the JSON the API documents
    │   └── PaginationLoopError   next-page links in circles, or endless empty pages
    ├── RetryExhaustedError       the retry budget ran out; ``last_error`` is the cause
    ├── ForeignOriginError        a next-page link or redirect to another host
    ├── ClientClosedError         (also a RuntimeError) the client was used after closing
    └── WaitTimeoutError          (also a TimeoutError, in ``_waiting``) a waiter's deadline
    InvalidArgumentError          (a ValueError) raised before any request
    └── ConfigurationError        incomplete or invalid client configuration

The store's errors (:class:`~twilio_conf_insights.sync.StoreError` and its subclasses) are
:class:`OSError` subclasses: they are about a file or a database, not about Twilio.

Every exception pickles with its type and attributes (``pickle``, ``multiprocessing``, Celery
and Ray hand errors between processes), :attr:`RetryExhaustedError.last_error` included.

Every message and URL an exception carries is passed through
:func:`~._redaction.redact` when the exception is built: peer-controlled text (an error
body, a malformed status line quoted by aiohttp, a next-page link) may echo the
credentials, and must not reach a ``str``, ``repr``, log line or terminal.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

from . import _redaction
from ._redaction import redact, redact_url

__all__ = [
    "ApiError",
    "AuthenticationError",
    "BadRequestError",
    "ClientClosedError",
    "ConfigurationError",
    "DecodeError",
    "ForeignOriginError",
    "InvalidArgumentError",
    "NotFoundError",
    "PaginationLoopError",
    "PermissionDeniedError",
    "RateLimitError",
    "RetryExhaustedError",
    "ServerError",
    "TransportError",
    "TwilioInsightsError",
    "error_from_response",
]


def _rebuild(cls: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    """An exception unpickled: its arguments and attributes back, without calling ``__init__``.

    Most of the SDK's exceptions take keyword-only arguments (or none of the message they
    carry), which the default pickling of exceptions, ``cls(*args)``, cannot call.
    """
    error = cls.__new__(cls, *args)
    error.args = args
    error.__dict__.update(state)
    return error


def _reduce(error: BaseException) -> tuple[Any, ...]:
    """Pickle an exception by its arguments and attributes (see :func:`_rebuild`)."""
    return (_rebuild, (type(error), error.args, error.__dict__.copy()))


class TwilioInsightsError(Exception):
    """Base class of every error raised by this SDK about a request or its response."""

    __reduce__ = _reduce


class InvalidArgumentError(ValueError):
    """An argument is invalid; raised before any request is sent."""

    __reduce__ = _reduce


class ConfigurationError(InvalidArgumentError):
    """The client configuration (credentials, hosts, options) is incomplete or invalid."""


class ClientClosedError(TwilioInsightsError, RuntimeError):
    """The client was used after :meth:`InsightsClient.aclose` (or its ``async with``) ended."""


class ApiError(TwilioInsightsError):
    """Twilio answered with an error status.

    Attributes mirror Twilio's error body (``code``, ``message``, ``more_info``) plus the
    HTTP ``status`` and the request's ``method`` and ``url``. ``retry_after`` holds the
    server's requested wait in seconds when it sent a ``Retry-After`` header, and
    ``request_id`` Twilio's id of the response (``Twilio-Request-Id``, ``RQ…``): give it to
    Twilio's support. ``str()`` names it too.
    """

    def __init__(
        self,
        status: int,
        code: int | None,
        message: str,
        more_info: str | None = None,
        method: str = "GET",
        url: str = "",
        *,
        retry_after: float | None = None,
        request_id: str | None = None,
    ) -> None:
        self.status = status
        self.code = code
        self.message = message = redact(message)
        self.more_info = redact(more_info) if more_info else more_info
        self.method = method
        self.url = redact_url(url)
        self.retry_after = retry_after
        self.request_id = redact(request_id) if request_id else None
        super().__init__(status, message)

    def __str__(self) -> str:
        code = f" (Twilio error {self.code})" if self.code is not None else ""
        request = f" request {self.request_id}" if self.request_id else ""
        return f"HTTP {self.status}{code}: {self.message} [{self.method} {self.url}{request}]"


class BadRequestError(ApiError):
    """HTTP 400: Twilio rejected the request's parameters."""


class AuthenticationError(ApiError):
    """HTTP 401: the credentials were missing or wrong."""


class PermissionDeniedError(ApiError):
    """HTTP 403: the credentials may not read this resource."""


class NotFoundError(ApiError):
    """HTTP 404: no such resource."""


class RateLimitError(ApiError):
    """HTTP 429: Twilio is throttling this account."""


class ServerError(ApiError):
    """HTTP 5xx: Twilio failed to answer."""


class TransportError(TwilioInsightsError):
    """The request failed below HTTP: connection refused or reset, timeout, truncated body.

    ``kind`` is one of ``"connect"``, ``"timeout"``, ``"disconnected"``, ``"payload"``,
    ``"proxy"`` (the proxy cannot be reached, or refused the connection), ``"budget"`` (the
    client already holds ``max_buffered_bytes`` of response bodies: retried like the others)
    or ``"other"``. The message is built from safe parts only: aiohttp's own exceptions carry
    the request headers (and so the credentials), so they are never chained.
    """

    def __init__(
        self, message: str, *, kind: str = "other", method: str = "GET", url: str = ""
    ) -> None:
        self.kind = kind
        self.method = method
        self.url = redact_url(url)
        self.message = message = redact(message)
        super().__init__(message)

    def __str__(self) -> str:
        return f"{self.message} [{self.method} {self.url}]"


class DecodeError(TwilioInsightsError):
    """A response body was not the documented shape.

    ``resource`` names what was being decoded (e.g. ``"ConferenceSummary"``) and ``field``
    the JSON path of the offending value (``"$.metrics.inbound.mos"``), when known.
    ``retryable`` is true for bodies that are not JSON at all (a damaged transfer), which the
    transport retries; a well-formed body of the wrong shape is not retried.
    """

    def __init__(
        self,
        message: str,
        *,
        resource: str = "",
        field: str | None = None,
        url: str = "",
        retryable: bool = False,
    ) -> None:
        self.resource = resource
        self.field = field
        self.url = redact_url(url)
        self.message = message = redact(message)
        self.retryable = retryable
        super().__init__(message)

    def __str__(self) -> str:
        where = f" at {self.field}" if self.field else ""
        what = f"{self.resource}: " if self.resource else ""
        url = f" [{self.url}]" if self.url else ""
        return f"{what}{self.message}{where}{url}"


class PaginationLoopError(DecodeError):
    """A listing's next-page links go round in circles, or through endless empty pages.

    ``link`` is the offending link (page token redacted). Raised instead of following it,
    after the items of every new page were yielded: no item is yielded twice.
    """

    def __init__(
        self,
        message: str,
        *,
        link: str,
        resource: str = "",
        field: str | None = None,
        url: str = "",
    ) -> None:
        super().__init__(message, resource=resource, field=field, url=url)
        self.link = redact_url(link)


class ForeignOriginError(TwilioInsightsError):
    """A next-page link or redirect pointed at a host other than the request's.

    Nothing is sent to the foreign host: credentials never leave the configured origins.
    """

    def __init__(self, message: str) -> None:
        super().__init__(redact(message))


class RetryExhaustedError(TwilioInsightsError):
    """A request kept failing with retryable errors until the retry budget ran out.

    ``attempts`` is the number of attempts made and ``last_error`` (also ``__cause__``) the
    error of the last one: a :class:`RateLimitError`, :class:`ServerError`,
    :class:`TransportError` or retryable :class:`DecodeError`. ``request_id`` is that of the
    last response (``None`` when the last attempt got none).
    """

    def __init__(self, attempts: int, last_error: TwilioInsightsError, *, elapsed: float) -> None:
        self.attempts = attempts
        self.last_error = last_error
        self.elapsed = elapsed
        self.request_id: str | None = getattr(last_error, "request_id", None)
        super().__init__(
            redact(
                f"gave up after {attempts} attempt{'s' if attempts != 1 else ''} "
                f"in {elapsed:.1f}s; last error: {last_error}"
            )
        )


_STATUS_ERRORS: Mapping[int, type[ApiError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    429: RateLimitError,
}


def error_class_for_status(status: int) -> type[ApiError]:
    """The :class:`ApiError` subclass for an HTTP status."""
    if status >= 500:
        return ServerError
    return _STATUS_ERRORS.get(status, ApiError)


def error_from_response(
    status: int,
    body: bytes | bytearray,
    *,
    method: str,
    url: str,
    retry_after: float | None = None,
    redact: Collection[str] = (),
    location: str | None = None,
    request_id: str | None = None,
) -> ApiError:
    """Build the typed error for a non-2xx response from Twilio's JSON error body.

    Twilio's body is ``{"code", "message", "more_info", "status"}``; a body that is not that
    shape (a proxy's HTML page, an empty body) still gives a useful error with the status.
    ``redact`` names secrets to scrub besides the registered ones; ``location`` is the
    ``Location`` header of a 3xx answer, which the message names (redirects are not
    followed: a redirect could carry the credentials to another host); ``request_id`` the
    ``Twilio-Request-Id`` header.
    """
    redact_also, redact_text = redact, _redaction.redact
    code: int | None = None
    more_info: str | None = None
    message = ""
    try:
        payload: Any = json.loads(body) if body else None
    except ValueError:
        payload = None
    if isinstance(payload, dict):
        raw_code = payload.get("code")
        if isinstance(raw_code, int) and not isinstance(raw_code, bool):
            code = raw_code
        raw_message = payload.get("message")
        if isinstance(raw_message, str):
            message = raw_message
        raw_more = payload.get("more_info")
        if isinstance(raw_more, str):
            more_info = raw_more
    if not message:
        # A proxy's error page may echo the request, Authorization header included: redact
        # the whole text first, then cut it, so no part of a secret survives at the cut.
        text = redact_text(body.decode("utf-8", "replace"), extra=redact_also)
        message = text[:_MAX_BODY_MESSAGE].strip()
        message = message or _DEFAULT_REASONS.get(status, "unexpected status")
    if redact_also:
        message = redact_text(message, extra=redact_also)
        more_info = redact_text(more_info, extra=redact_also) if more_info else more_info
    if 300 <= status < 400:
        where = f" to {redact_url(location)}" if location else ""
        message = f"{message} (a redirect{where}; redirects are not followed)"
    return error_class_for_status(status)(
        status,
        code,
        message,
        more_info,
        method,
        url,
        retry_after=retry_after,
        request_id=request_id,
    )


#: Characters of a non-JSON error body kept in the message.
_MAX_BODY_MESSAGE = 200

_DEFAULT_REASONS: Mapping[int, str] = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
