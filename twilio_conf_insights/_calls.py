"""How a client, or a view of it, makes a call: its options over the shared pipeline.

``InsightsClient`` holds one :class:`Calls`; ``with_options`` makes another over the same
pipeline, connection, limiter and hooks, with other options and a scope of its own (closing
a view closes its scope only).
"""

from __future__ import annotations

import itertools
import types
from collections.abc import Mapping

from yarl import URL

from ._connection import Connection
from ._errors import ClientClosedError
from ._events import EventDispatcher
from ._limiter import Limiter
from ._options import RequestOptions
from ._pipeline import Pipeline, Request, Response, Scope

__all__ = ["Calls"]

#: Call ids, unique within the process (two clients' events never share one).
_CALL_IDS = itertools.count(1)


class Calls:
    """Makes calls with one set of options; see the module documentation."""

    __slots__ = ("_headers", "connection", "events", "limiter", "options", "pipeline", "scope")

    def __init__(
        self,
        *,
        pipeline: Pipeline,
        connection: Connection,
        limiter: Limiter,
        events: EventDispatcher,
        options: RequestOptions,
        scope: Scope,
    ) -> None:
        self.pipeline = pipeline
        self.connection = connection
        self.limiter = limiter
        self.events = events
        self.options = options
        self.scope = scope
        headers: Mapping[str, str] = connection.headers
        if options.headers:
            headers = types.MappingProxyType({**connection.headers, **options.headers})
        self._headers = headers

    @property
    def max_concurrency(self) -> int:
        """The limiter's ``max_concurrency``: the one source of it."""
        return self.limiter.max_concurrency

    def with_options(self, options: RequestOptions) -> Calls:
        """Calls with other options, in a scope of their own inside this one."""
        return Calls(
            pipeline=self.pipeline,
            connection=self.connection,
            limiter=self.limiter,
            events=self.events,
            options=options,
            scope=Scope(self.scope, closed=_never),
        )

    def check_origin(self, url: URL) -> None:
        """Refuse a URL outside the client's origins (see :meth:`Connection.check_origin`)."""
        self.connection.check_origin(url)

    async def get(self, url: URL) -> Response:
        """GET ``url`` through the pipeline: its response, or the SDK's typed error."""
        if self.scope.closed:
            raise ClientClosedError("this client is closed; create a new InsightsClient")
        self.connection.check_origin(url)
        return await self.pipeline.outer.handle(
            Request(
                url,
                options=self.options,
                headers=self._headers,
                call_id=next(_CALL_IDS),
                events=self.events,
                scope=self.scope,
            )
        )


def _never() -> bool:
    return False
