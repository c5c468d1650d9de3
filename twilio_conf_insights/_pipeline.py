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

import weakref
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Protocol

from yarl import URL

from ._events import EventDispatcher, RetryScheduled
from ._options import RequestOptions

__all__ = ["REQUEST_ID_HEADER", "Pipeline", "Request", "Response", "Scope", "Transport"]

#: The header by which Twilio names a response (``RQ…``), for its support.
REQUEST_ID_HEADER = "Twilio-Request-Id"


class Scope:
    """Whether the calls of a client, or of a view of it, may still be made.

    Closing a scope closes the scopes made from it (the views of a view), never the one it
    was made from. ``closed`` is a plain attribute: every call reads it twice.
    """

    __slots__ = ("__weakref__", "_children", "closed")

    def __init__(self, parent: Scope | None = None) -> None:
        self.closed: bool = parent.closed if parent is not None else False
        self._children: weakref.WeakSet[Scope] = weakref.WeakSet()
        if parent is not None:
            parent._children.add(self)

    def close(self) -> None:
        """Close this scope and the scopes made from it; nothing else."""
        self.closed = True
        for child in tuple(self._children):
            child.close()


class Request:
    """One call: what to get and how, and what the steps learn about it on the way.

    ``method``, ``url``, ``options``, ``headers``, ``call_id``, ``events`` and ``scope`` are
    fixed for the call; ``attempt`` (the attempt on the wire, from 1; after the call, the
    attempts it took) and ``sent_at`` (:func:`time.monotonic` when the first attempt was
    sent) are set by the steps, ``retry_hook`` by a step that wants to hear of retries.
    """

    __slots__ = (
        "attempt",
        "call_id",
        "events",
        "headers",
        "options",
        "retry_hook",
        "scope",
        "sent_at",
        "url",
    )

    #: Every endpoint of the SDK is read with GET.
    method: ClassVar[str] = "GET"

    def __init__(
        self,
        url: URL,
        options: RequestOptions,
        headers: Mapping[str, str],
        call_id: int,
        events: EventDispatcher,
        scope: Scope,
        /,
    ) -> None:
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
        #: Also told of each retry of this call (a tracing step's span), besides the hooks.
        self.retry_hook: Callable[[RetryScheduled], None] | None = None

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.url} call={self.call_id} attempt={self.attempt}>"


class Response:
    """A successful answer: status, headers, request id and parsed JSON. Not to be modified."""

    __slots__ = ("attempts", "headers", "json", "status", "url")

    def __init__(
        self, status: int, headers: Mapping[str, str], json: Any, url: URL, attempts: int = 1, /
    ) -> None:
        self.status = status
        #: The response headers (case-insensitive, read-only).
        self.headers = headers
        self.json = json
        self.url = url
        #: The attempts the call took, this one included.
        self.attempts = attempts

    @property
    def request_id(self) -> str | None:
        """Twilio's id of this response (``Twilio-Request-Id``), or ``None`` if absent."""
        return self.headers.get(REQUEST_ID_HEADER)

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
