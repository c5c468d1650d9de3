"""One paginator for both API families.

:class:`Paginator` is what every ``list()`` returns: iterate it for items, ``.pages()`` for
:class:`Page` objects, ``await .collect()`` for a list. It fetches the next page while the
current one is consumed, and never more than one page ahead, so a listing of any length
holds at most two pages in memory.

Page parsing is pure (:class:`PageFormat`): Insights pages carry their items under
``meta.key`` and an absolute ``meta.next_page_url``; 2010 pages carry ``participants`` and a
``next_page_uri`` relative to the API host.

**A broken server cannot make a listing endless.** A link back to a page already fetched
(the same URL, or the same ``PageToken``) raises :class:`PaginationLoopError` before it is
followed, so no item is yielded twice; and :data:`MAX_EMPTY_PAGES` empty pages in a row
that keep linking onward raise it too (``limit`` cannot bound a listing whose pages
hold nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import types
from collections.abc import (
    AsyncGenerator,
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterator,
    Mapping,
    Sequence,
)
from typing import Any, Generic, TypeVar

import attrs
from yarl import URL

from ._decoding import Decoder
from ._errors import DecodeError, ForeignOriginError, PaginationLoopError
from ._pipeline import Response
from ._urls import resolve_next_page

__all__ = ["INSIGHTS_PAGES", "API_2010_PAGES", "MAX_EMPTY_PAGES", "Page", "PageFormat", "Paginator"]

#: Empty pages in a row, each with a next link, after which a listing is given up as
#: broken. Twilio never sends one empty page followed by more; 20 leaves room for a server
#: that skips a few filtered-out pages without letting one spin forever.
MAX_EMPTY_PAGES = 20

T = TypeVar("T")

_TOLERANT = Decoder()
_NO_HEADERS: Mapping[str, str] = types.MappingProxyType({})


@attrs.frozen
class Page(Generic[T]):
    """One page of a listing."""

    #: The decoded items, in the server's order.
    items: Sequence[T]
    #: Zero-based page number, as the server reported it (``None`` if it did not).
    page: int | None
    #: The page size the server applied.
    page_size: int | None
    #: The URL this page was fetched from.
    url: URL
    #: The next page's URL (same origin as ``url``), or ``None`` on the last page.
    next_url: URL | None
    #: Why the next link will not be followed (another origin); raised after this page's
    #: items, so that a bad link never costs the records that came with it.
    next_error: ForeignOriginError | None = attrs.field(default=None, eq=False, repr=False)
    #: Twilio's id of the response this page came in (``Twilio-Request-Id``), if it had one.
    request_id: str | None = attrs.field(default=None, eq=False)
    #: The response headers (case-insensitive, read-only).
    headers: Mapping[str, str] = attrs.field(default=_NO_HEADERS, eq=False, repr=False)

    def __len__(self) -> int:
        return len(self.items)


@attrs.frozen
class PageFormat:
    """Where a family of list responses keeps its items and its next link."""

    #: ``"insights"`` or ``"2010"``, for error messages.
    name: str
    #: Key of the object holding the paging fields (``"meta"``), or ``None`` for the top level.
    meta_key: str | None
    #: Key of the next link inside the paging fields.
    next_key: str

    def parse(
        self,
        body: Any,
        item_type: type[T],
        items_key: str,
        url: URL,
        decoder: Decoder = _TOLERANT,
        *,
        headers: Mapping[str, str] = _NO_HEADERS,
        request_id: str | None = None,
    ) -> Page[T]:
        """Decode a list response into a :class:`Page`; bad shapes raise :class:`DecodeError`.

        ``headers`` and ``request_id`` are those of the response the body came in.
        """
        resource = f"page of {item_type.__name__}"
        if type(body) is not dict:
            raise DecodeError("expected a JSON object", resource=resource, field="$", url=str(url))
        meta: Any = body
        meta_path = "$"
        if self.meta_key is not None:
            meta = body.get(self.meta_key)
            meta_path = f"$.{self.meta_key}"
            if type(meta) is not dict:
                raise DecodeError(
                    "expected a JSON object", resource=resource, field=meta_path, url=str(url)
                )
            declared = meta.get("key")
            if type(declared) is str and declared in body:
                items_key = declared
        raw_items = body.get(items_key)
        if type(raw_items) is not list:
            raise DecodeError(
                "expected an array", resource=resource, field=f"$.{items_key}", url=str(url)
            )
        items = decoder.many(raw_items, item_type, url=str(url), path=f"$.{items_key}")
        link = meta.get(self.next_key)
        if link is not None and type(link) is not str:
            raise DecodeError(
                "expected a string or null",
                resource=resource,
                field=f"{meta_path}.{self.next_key}",
                url=str(url),
            )
        next_url: URL | None = None
        next_error: ForeignOriginError | None = None
        try:
            next_url = resolve_next_page(link, request_url=url) if link else None
        except ForeignOriginError as exc:
            next_error = exc
        return Page(
            items=items,
            page=_optional_int(meta.get("page")),
            page_size=_optional_int(meta.get("page_size")),
            url=url,
            next_url=next_url,
            next_error=next_error,
            request_id=request_id,
            headers=headers,
        )


_DONE = object()


async def _discard(future: asyncio.Future[Any]) -> None:
    """Cancel a prefetch nobody wants and wait until it is gone.

    Unlike awaiting it, this never swallows a cancellation of the caller, and it marks a
    failure of the prefetch as seen (it was for a page the consumer did not ask for).
    """
    future.cancel()
    await asyncio.wait([future])
    if not future.cancelled():
        future.exception()


def _optional_int(value: Any) -> int | None:
    return value if type(value) is int else None


#: Voice Insights v1: ``{"<key>": [...], "meta": {"key", "next_page_url", ...}}``.
INSIGHTS_PAGES = PageFormat(name="insights", meta_key="meta", next_key="next_page_url")
#: Core API 2010-04-01: ``{"participants": [...], "next_page_uri": "/2010-04-01/...", ...}``.
API_2010_PAGES = PageFormat(name="2010", meta_key=None, next_key="next_page_uri")

#: Fetches one page: the response, its parsed JSON included.
FetchPage = Callable[[URL], Awaitable[Response]]


@attrs.frozen
class _PageWalk(Generic[T]):
    """Everything needed to walk a listing's pages, and nothing that points back.

    The page generator lives on the paginator; if it referred to the paginator, the two
    would form a cycle, and a loop left with ``break`` would keep its prefetch running until
    the cyclic garbage collector happened by. This way, dropping the paginator closes it.
    """

    fetch_response: FetchPage
    first_url: URL
    item_type: type[T]
    items_key: str
    page_format: PageFormat
    limit: int | None
    decoder: Decoder

    async def fetch(self, url: URL) -> Page[T]:
        response = await self.fetch_response(url)
        return self.page_format.parse(
            response.json,
            self.item_type,
            self.items_key,
            url,
            self.decoder,
            headers=response.headers,
            request_id=response.request_id,
        )

    def loop_error(self, page: Page[T], seen: _SeenPages) -> PaginationLoopError | None:
        """Why following ``page.next_url`` would go round in circles, if it would."""
        link = page.next_url
        if link is None:
            return None
        field = f"{'$.' + self.page_format.meta_key if self.page_format.meta_key else '$'}"
        field += f".{self.page_format.next_key}"
        resource = f"page of {self.item_type.__name__}"
        if link in seen.urls:
            why = "links back to a page already fetched"
        elif (token := link.query.get("PageToken")) is not None and token in seen.tokens:
            why = "repeats the PageToken of a page already fetched"
        elif seen.empty_run >= MAX_EMPTY_PAGES:
            why = f"follows {seen.empty_run} empty pages in a row"
        else:
            return None
        return PaginationLoopError(
            f"the next-page link {why}: {link}",
            link=str(link),
            resource=resource,
            field=field,
            url=str(page.url),
        )

    async def pages(self) -> AsyncGenerator[Page[T], None]:
        remaining = self.limit
        if remaining is not None and remaining <= 0:
            return
        # The first page is awaited directly: there is nothing to overlap it with yet, and
        # most listings (a conference's participants) are a single page.
        page = await self.fetch(self.first_url)
        seen = _SeenPages()
        pending: asyncio.Future[Page[T]] | None = None
        try:
            while True:
                seen.add(page)
                if remaining is not None:
                    if len(page.items) >= remaining:
                        page = attrs.evolve(
                            page, items=page.items[:remaining], next_url=None, next_error=None
                        )
                    remaining -= len(page.items)
                loop = self.loop_error(page, seen)
                if page.next_url is not None and loop is None:
                    pending = asyncio.ensure_future(self.fetch(page.next_url))
                # This page's items are new (its URL and token were not seen before): they
                # are yielded, and the loop is reported when the next page is asked for.
                yield page
                if loop is not None:
                    raise loop
                if page.next_error is not None:
                    raise page.next_error
                if pending is None:
                    return
                page = await pending
                pending = None
        finally:
            if pending is not None:
                await _discard(pending)


class _SeenPages:
    """The URLs and page tokens of a listing so far, and its current run of empty pages."""

    __slots__ = ("empty_run", "tokens", "urls")

    def __init__(self) -> None:
        self.urls: set[URL] = set()
        self.tokens: set[str] = set()
        self.empty_run = 0

    def add(self, page: Page[Any]) -> None:
        self.urls.add(page.url)
        token = page.url.query.get("PageToken")
        if token is not None:
            self.tokens.add(token)
        self.empty_run = 0 if page.items else self.empty_run + 1


class Paginator(Generic[T], AsyncIterator[T]):
    """An async iterator over every item of a listing, across pages.

    ``limit`` stops after that many items (and never requests a page beyond them).
    Iterating twice re-runs the listing from the first page. ``await paginator`` is
    ``await paginator.collect()``: every item, as a list (never the first page only:
    :meth:`pages` gives pages).
    """

    def __init__(
        self,
        fetch_response: FetchPage,
        first_url: URL,
        *,
        item_type: type[T],
        items_key: str,
        page_format: PageFormat,
        limit: int | None = None,
        page_size: int | None = None,
        decoder: Decoder = _TOLERANT,
    ) -> None:
        self._walk = _PageWalk(
            fetch_response, first_url, item_type, items_key, page_format, limit, decoder
        )
        self._page_size = page_size
        self._pages: AsyncGenerator[Page[T], None] | None = None
        self._current: Iterator[T] | None = None

    @property
    def first_url(self) -> URL:
        """The URL of the first page (filters and ``PageSize`` included)."""
        return self._walk.first_url

    @property
    def page_size(self) -> int | None:
        """The ``PageSize`` asked of the server, or ``None`` for Twilio's default."""
        return self._page_size

    @property
    def limit(self) -> int | None:
        """The most items this paginator yields, or ``None`` for all."""
        return self._walk.limit

    def pages(self) -> AsyncGenerator[Page[T], None]:
        """Yield pages in order, prefetching at most the next one while one is consumed.

        With ``limit``, the last page is cut to the items still wanted.
        """
        return self._walk.pages()

    def __aiter__(self) -> Paginator[T]:
        return self

    async def __anext__(self) -> T:
        # One generator (pages()) and a plain iterator over the current page: a nested
        # generator would be finalised twice at once when a loop is left with ``break``.
        while True:
            if self._current is not None:
                item = next(self._current, _DONE)
                if item is not _DONE:
                    return item  # type: ignore[return-value]
                self._current = None
            if self._pages is None:
                self._pages = self.pages()
            try:
                page = await anext(self._pages)
            except StopAsyncIteration:
                self._pages = None
                raise
            self._current = iter(page.items)

    async def aclose(self) -> None:
        """Stop iterating now: cancel a prefetch in flight (``contextlib.aclosing`` calls it)."""
        pages, self._pages, self._current = self._pages, None, None
        if pages is not None:
            await pages.aclose()

    async def collect(self) -> list[T]:
        """Every item (up to ``limit``) in a list: for listings known to be small."""
        result: list[T] = []
        async with contextlib.aclosing(self.pages()) as pages:
            async for page in pages:
                result.extend(page.items)
        return result

    def __await__(self) -> Generator[Any, None, list[T]]:
        """``await paginator`` is ``await paginator.collect()``."""
        return self.collect().__await__()
