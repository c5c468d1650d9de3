"""What every resource shares: the transport, the base URLs, and request plumbing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

import attrs
from yarl import URL

from .. import _validation
from .._decoding import Decoder
from .._pagination import PageFormat, Paginator
from .._transport import Transport

__all__ = ["ResourceContext"]

T = TypeVar("T")


@attrs.frozen
class ResourceContext:
    """The client's plumbing, handed to each resource."""

    transport: Transport
    #: ``https://insights.twilio.com`` (or a regional/edge host, or an override).
    insights_url: URL
    #: ``https://api.twilio.com`` (or a regional/edge host, or an override).
    api_url: URL
    #: The account whose 2010 resources are read by default.
    account_sid: str
    #: The client's ``max_concurrency``: how many items a bulk call works on at once unless
    #: told otherwise (the limiter caps requests in flight regardless).
    max_concurrency: int
    #: Tolerant or strict decoding, and where records with problems are reported.
    decoder: Decoder = attrs.field(factory=Decoder)

    async def fetch(self, url: URL, model: type[T]) -> T:
        """GET one resource and decode it."""
        body = await self.transport.get_json(url)
        return self.decoder.one(body, model, url=str(url))

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
        self.transport.check_origin(first)
        return Paginator(
            self.transport.get_json,
            first,
            item_type=model,
            items_key=items_key,
            page_format=page_format,
            limit=limit,
            page_size=int(query["PageSize"]) if "PageSize" in query else None,
            decoder=self.decoder,
        )
