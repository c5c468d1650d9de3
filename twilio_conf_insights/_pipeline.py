"""A call as a chain of steps: each step is a :class:`Transport`, and wraps the next.

As in httpx's ``_transports``, a transport is one method, ``handle(request) -> Response``,
and a step that adds something (tracing, retries, a limiter slot) is a transport wrapping
another. A client's chain is, from the outside in::

    [tracing]           otel.instrument(client) wraps the chain here (nothing by default)
    RetryTransport      attempts until one succeeds or the retry policy gives up (_retrying)
    AdmissionTransport  one limiter slot per attempt, released with its outcome (_admission)
    SendTransport       one attempt over the connection: send, read, parse (_transport)

The chain returns a :class:`Response` (status, read-only headers, ``Twilio-Request-Id``,
the parsed JSON) or raises the SDK's typed error. A client and every view made by
``with_options`` share one :class:`Pipeline`; what differs between them travels on the
:class:`Request`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol

from yarl import URL

from ._events import EventDispatcher
from ._options import RequestOptions

__all__ = ["REQUEST_ID_HEADER", "Pipeline", "Request", "Response", "Scope", "Transport"]

#: The header by which Twilio names a response (``RQ…``), for its support.
REQUEST_ID_HEADER = "Twilio-Request-Id"


class Scope:
    """Whether the calls of a client, or of a view of it, may still be made.

    A view's scope is closed when the view is, or when anything it was made from is; the
    root scope when the connection is.
    """

    __slots__ = ("_closed", "_is_closed", "parent")

    def __init__(self, parent: Scope | None = None, *, closed: Callable[[], bool]) -> None:
        self.parent = parent
        self._is_closed = closed
        self._closed = False

    @property
    def closed(self) -> bool:
        """Whether this scope, or one it belongs to, is closed."""
        scope: Scope | None = self
        while scope is not None:
            if scope._closed or scope._is_closed():
                return True
            scope = scope.parent
        return False

    def close(self) -> None:
        """Close this scope (and the views made from it); nothing else."""
        self._closed = True


class Request:
    """One call: what to get and how, and what the steps learn about it on the way.

    ``method``, ``url``, ``options``, ``headers``, ``call_id``, ``events`` and ``scope`` are
    fixed for the call; ``attempt`` (the attempt on the wire, from 1) and ``sent_at``
    (:func:`time.monotonic` when the first attempt was sent) are set by the steps.
    """

    __slots__ = (
        "attempt",
        "call_id",
        "events",
        "headers",
        "method",
        "options",
        "scope",
        "sent_at",
        "url",
    )

    def __init__(
        self,
        url: URL,
        *,
        options: RequestOptions,
        headers: Mapping[str, str],
        call_id: int,
        events: EventDispatcher,
        scope: Scope,
        method: str = "GET",
    ) -> None:
        self.method = method
        self.url = url
        self.options = options
        #: Every header of the request, the client's own included.
        self.headers = headers
        #: Ties every event of one call (each attempt's) together; unique within a process.
        self.call_id = call_id
        self.events = events
        self.scope = scope
        self.attempt = 1
        self.sent_at: float | None = None

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.url} call={self.call_id} attempt={self.attempt}>"


class Response:
    """A successful answer: status, headers, request id and parsed JSON. Not to be modified."""

    __slots__ = ("attempts", "headers", "json", "request_id", "status", "url")

    def __init__(
        self,
        *,
        status: int,
        headers: Mapping[str, str],
        json: Any,
        url: URL,
        attempts: int = 1,
    ) -> None:
        self.status = status
        #: The response headers (case-insensitive, read-only).
        self.headers = headers
        #: Twilio's id of this response (``Twilio-Request-Id``), or ``None`` if absent.
        self.request_id = headers.get(REQUEST_ID_HEADER)
        self.json = json
        self.url = url
        #: The attempts the call took, this one included.
        self.attempts = attempts

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.url} request_id={self.request_id}>"


class Transport(Protocol):
    """One step of a call (see the module documentation)."""

    async def handle(self, request: Request) -> Response:
        """Carry out ``request``: its response, or the SDK's typed error."""
        ...


class Pipeline:
    """The chain a client's calls go through, shared by the client and its views.

    :meth:`wrap` puts a step around the whole chain (how instrumentation plugs in); a call
    made after it goes through the new step, whichever view it is made on.
    """

    __slots__ = ("outer",)

    def __init__(self, transport: Transport) -> None:
        #: The outermost step: where every call enters.
        self.outer = transport

    def wrap(self, step: Callable[[Transport], Transport]) -> None:
        """Make ``step(current chain)`` the chain."""
        self.outer = step(self.outer)

    async def handle(self, request: Request) -> Response:
        """Send ``request`` through the chain."""
        return await self.outer.handle(request)
