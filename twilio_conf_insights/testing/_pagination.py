"""Twilio-style paging, as pure functions: parameters, tokens, slicing and links.

A page token names a *position in the full, ordered collection* (like Twilio's
``PA<sid-of-last-item>``), not an offset among the matches. Following next links therefore
resumes the scan where the previous page stopped, so walking a filtered list of N records
costs O(N) in total rather than O(N^2 / page_size).

``PA<hex>``: the page starts at that position (the first match at or after it).
``PB<hex>``: the page holds the last ``PageSize`` matches before that position.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from itertools import compress, islice
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import attrs

from ._errors import ErrorResponse

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "PageLinks",
    "PageRequest",
    "PageSlice",
    "decode_token",
    "encode_token",
    "page_links",
    "query_string",
    "take_page",
]

T = TypeVar("T")

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000

_TOKEN = re.compile(r"P([AB])([0-9a-f]{1,32})")
_INT = re.compile(r"[0-9]{1,9}")


def encode_token(direction: str, position: int) -> str:
    """An opaque-looking token: ``PA``/``PB`` and 32 hex digits, Twilio's token length."""
    return f"P{direction}{position:032x}"


def decode_token(token: str) -> tuple[str, int]:
    """``(direction, position)`` of a token from :func:`encode_token`; 400 if it is not one."""
    found = _TOKEN.fullmatch(token)
    if found is None:
        raise ErrorResponse.bad_request(f"Invalid PageToken {token!r}")
    return found.group(1), int(found.group(2), 16)


@attrs.frozen
class PageRequest:
    """The paging parameters of one list request, validated."""

    page_size: int = DEFAULT_PAGE_SIZE
    page: int = 0
    token: str | None = None

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> PageRequest:
        """Read ``PageSize``, ``Page`` and ``PageToken``; raise a 400 :class:`ErrorResponse`."""
        page_size = DEFAULT_PAGE_SIZE
        raw_size = query.get("PageSize")
        if raw_size is not None:
            if not _INT.fullmatch(raw_size) or not 1 <= int(raw_size) <= MAX_PAGE_SIZE:
                raise ErrorResponse.bad_request(
                    f"PageSize must be an integer from 1 to {MAX_PAGE_SIZE}, got {raw_size!r}"
                )
            page_size = int(raw_size)
        page = 0
        raw_page = query.get("Page")
        if raw_page is not None:
            if not _INT.fullmatch(raw_page):
                raise ErrorResponse.bad_request(f"Page must be an integer >= 0, got {raw_page!r}")
            page = int(raw_page)
        token = query.get("PageToken") or None
        if token is not None:
            decode_token(token)
        return cls(page_size, page, token)


@attrs.frozen
class PageSlice(Generic[T]):
    """One page cut from a collection.

    ``start`` is the collection position where the page begins (its first item, or where
    the scan began when it is empty); ``next_start`` is the position of the first match
    after the page, or ``None`` on the last page.
    """

    items: list[T]
    start: int
    next_start: int | None


def take_page(
    items: Sequence[T], match: Callable[[T], bool] | None, request: PageRequest
) -> PageSlice[T]:
    """Cut the page ``request`` asks for out of the matches of ``items``."""
    size = request.page_size
    if request.token is not None:
        direction, position = decode_token(request.token)
        if direction == "A":
            return _forward(items, match, position, size)
        return _backward(items, match, position, size)
    if match is None:
        return _forward(items, None, request.page * size, size)
    return _forward(items, match, _skip_matches(items, match, request.page * size), size)


def _ahead(items: Sequence[T], match: Callable[[T], bool] | None, start: int) -> Iterator[int]:
    """Positions of the matches at or after ``start``, in order, found lazily.

    ``compress`` over ``map`` keeps the scan in C but for ``match`` itself: a listing may try
    every conference of a large data set.
    """
    positions = range(start, len(items))
    if match is None:
        return iter(positions)
    return compress(positions, map(match, islice(items, start, None)))


def _behind(items: Sequence[T], match: Callable[[T], bool] | None, end: int) -> Iterator[int]:
    """Positions of the matches before ``end``, nearest first."""
    positions = range(end - 1, -1, -1)
    if match is None:
        return iter(positions)
    return compress(positions, map(match, islice(reversed(items), len(items) - end, None)))


def _skip_matches(items: Sequence[T], match: Callable[[T], bool], count: int) -> int:
    """The position just after the first ``count`` matches (or the end)."""
    if count == 0:
        return 0
    skipped = list(islice(_ahead(items, match, 0), count))
    return skipped[-1] + 1 if len(skipped) == count else len(items)


def _forward(
    items: Sequence[T], match: Callable[[T], bool] | None, start: int, size: int
) -> PageSlice[T]:
    start = min(start, len(items))
    matches = _ahead(items, match, start)
    positions = list(islice(matches, size))
    begin = positions[0] if positions else start
    return PageSlice([items[p] for p in positions], begin, next(matches, None))


def _backward(
    items: Sequence[T], match: Callable[[T], bool] | None, end: int, size: int
) -> PageSlice[T]:
    end = min(end, len(items))
    positions = list(islice(_behind(items, match, end), size))
    if len(positions) < size:
        # Fewer than a full page before the token: that is the first page, which starts
        # at 0 and may extend past the token's position.
        return _forward(items, match, 0, size)
    positions.reverse()
    following = next(_ahead(items, match, positions[-1] + 1), None)
    return PageSlice([items[p] for p in positions], positions[0], following)


def query_string(params: Iterable[tuple[str, str]]) -> str:
    """``k=v&…`` with every reserved character percent-encoded (``:`` → ``%3A``)."""
    return "&".join(f"{quote(key, safe='')}={quote(value, safe='')}" for key, value in params)


@attrs.frozen
class PageLinks:
    """Path-plus-query links of a page (callers prefix the origin where Twilio does)."""

    first: str
    current: str
    previous: str | None
    next: str | None


def page_links(
    path: str,
    filters: Iterable[tuple[str, str]],
    request: PageRequest,
    page: PageSlice[Any],
) -> PageLinks:
    """Links as Twilio builds them: filters (sorted), ``PageSize``, ``Page``, ``PageToken``."""
    base = sorted(filters)
    size = ("PageSize", str(request.page_size))

    def link(page_number: int, token: str | None) -> str:
        params = [*base, size, ("Page", str(page_number))]
        if token is not None:
            params.append(("PageToken", token))
        return f"{path}?{query_string(params)}"

    next_link = (
        link(request.page + 1, encode_token("A", page.next_start))
        if page.next_start is not None
        else None
    )
    previous_link = (
        link(request.page - 1, encode_token("B", page.start)) if request.page > 0 else None
    )
    return PageLinks(link(0, None), link(request.page, request.token), previous_link, next_link)
