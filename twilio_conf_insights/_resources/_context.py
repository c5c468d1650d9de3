"""What every resource shares: how calls are made, the base URLs, and request plumbing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

import attrs
from yarl import URL

from .. import _validation
from .._calls import Calls
from .._decoding import Decoder
from .._pagination import PageFormat, Paginator

__all__ = ["ResourceContext"]

T = TypeVar("T")


@attrs.frozen
class ResourceContext:
    """The client's plumbing, handed to each resource."""

    #: How the client (or the view) makes its calls.
    calls: Calls
    #: ``https://insights.twilio.com`` (or a regional/edge host, or an override).
    insights_url: URL
    #: ``https://api.twilio.com`` (or a regional/edge host, or an override).
    api_url: URL
    #: The account whose 2010 resources are read by default.
    account_sid: str
    #: Tolerant or strict decoding, and where records with problems are reported.
    decoder: Decoder = attrs.field(factory=Decoder)

    @property
    def max_concurrency(self) -> int:
        """How many items a bulk call works on at once unless told otherwise.

        The limiter's ``max_concurrency``, which caps requests in flight regardless.
        """
        return self.calls.max_concurrency

    def with_calls(self, calls: Calls) -> ResourceContext:
        """The same context, making its calls with ``calls``."""
        return attrs.evolve(self, calls=calls)

    async def fetch(self, url: URL, model: type[T]) -> T:
        """GET one resource and decode it."""
        response = await self.calls.get(url)
        return self.decoder.one(response.json, model, url=str(url))

    def paginate(
        self,
        url: URL,
        params: Mapping[str, str | int],
        *,
        model: type[T],
        items_key: str,
        page_format: PageFormat,
        page_size: int | None,
        limit: int | None,
    ) -> Paginator[T]:
        """A paginator over a listing; ``params`` are already validated, in Twilio's spelling."""
        query = dict(params)
        if limit is not None:
            limit = _validation.limit(limit)
        if page_size is not None:
            query["PageSize"] = _validation.page_size(page_size)
        elif limit:
            # Ask for no more than wanted: one round trip when the limit fits in a page.
            query["PageSize"] = min(limit, _validation.MAX_PAGE_SIZE)
        first = url.with_query(query) if query else url
        self.calls.check_origin(first)
        return Paginator(
            self.calls.get,
            first,
            item_type=model,
            items_key=items_key,
            page_format=page_format,
            limit=limit,
            page_size=int(query["PageSize"]) if "PageSize" in query else None,
            decoder=self.decoder,
        )
