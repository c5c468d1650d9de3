"""Conference summaries: ``/v1/Conferences``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterable, Iterable, Mapping
from datetime import datetime
from typing import Any, TypedDict, Unpack

from .. import _validation
from .._bulk import map_bounded
from .._errors import InvalidArgumentError
from .._models import (
    ConferenceEndReason,
    ConferenceStatus,
    ConferenceSummary,
    ConferenceTag,
    DetectedIssue,
    Region,
)
from .._pagination import INSIGHTS_PAGES, Paginator
from .._results import FetchResult
from .._waiting import wait_until_terminal
from ._context import ResourceContext
from ._query import Filter, FilterTable, member_of, members_of, sid_of, text

__all__ = ["CONFERENCE_FILTERS", "ConferenceFilters", "Conferences", "conference_query"]


class Conferences:
    """Conference summaries (Voice Insights): ``client.conferences``."""

    def __init__(self, context: ResourceContext) -> None:
        self._ctx = context
        self._base = context.insights_url / "v1" / "Conferences"

    async def fetch(self, conference_sid: str) -> ConferenceSummary:
        """The summary of one conference (``CF…``)."""
        sid = _validation.sid(conference_sid, "CF", "conference_sid")
        return await self._ctx.fetch(self._base / sid, ConferenceSummary)

    async def wait_until_complete(
        self,
        conference_sid: str,
        *,
        # The documented name: a deadline for the whole wait, not for one call.
        timeout: float = 1800.0,  # noqa: ASYNC109
        poll_interval: float = 15.0,
        max_poll_interval: float | None = None,
    ) -> ConferenceSummary:
        """Poll a conference summary until its ``processing_state`` is terminal; return it.

        Terminal is ``complete`` or ``timeout``. Polls come ``poll_interval`` seconds apart
        at first, then further apart (x1.5 each time, up to ``max_poll_interval``, default
        60 s), never sooner than a ``Retry-After`` the server sent. A 404 (Insights does not
        know the conference yet), 429, 5xx or transport failure is polled through. At
        ``timeout`` seconds raises :class:`~twilio_conf_insights.WaitTimeoutError`, which is
        also a :class:`TimeoutError`.
        """
        sid = _validation.sid(conference_sid, "CF", "conference_sid")
        return await wait_until_terminal(
            lambda: self.fetch(sid),
            what=f"conference summary {sid}",
            timeout=timeout,
            poll_interval=poll_interval,
            max_interval=max_poll_interval,
        )

    async def fetch_many(
        self,
        sids: Iterable[str] | AsyncIterable[str],
        *,
        concurrency: int | None = None,
        ordered: bool = False,
    ) -> AsyncGenerator[FetchResult[ConferenceSummary], None]:
        """Fetch many summaries concurrently; yield a :class:`FetchResult` for each SID.

        ``sids`` may be any iterable or async iterable, even an endless one: it is read only
        as capacity frees up. Results come as they complete, or in input order with
        ``ordered=True``. A failure (invalid SID, 404, retries exhausted) is that item's
        ``error``; the stream goes on. ``concurrency`` defaults to the client's
        ``max_concurrency`` (which caps requests in flight regardless). Leaving the loop
        early, or cancelling, stops every request in flight.
        """
        width = concurrency if concurrency is not None else self._ctx.max_concurrency
        async with contextlib.aclosing(
            map_bounded(sids, self.fetch, concurrency=width, ordered=ordered)
        ) as outcomes:
            async for sid, value, error in outcomes:
                yield FetchResult(sid=sid, value=value, error=error)

    def list(
        self,
        *,
        page_size: int | None = None,
        limit: int | None = None,
        **filters: Unpack[ConferenceFilters],
    ) -> Paginator[ConferenceSummary]:
        """Conference summaries matching every given filter (see :class:`ConferenceFilters`).

        Twilio returns the last 24 hours unless ``created_after``/``created_before`` say
        otherwise. Datetimes must be timezone-aware. ``tags`` and ``detected_issues`` take
        one value or a list. Nothing is sent until the paginator is iterated.
        """
        return self._ctx.paginate(
            self._base,
            conference_query(filters),
            model=ConferenceSummary,
            items_key="conferences",
            page_format=INSIGHTS_PAGES,
            page_size=page_size,
            limit=limit,
        )

    def list_raw(self, query: Mapping[str, str], *, page_size: int) -> Paginator[dict[str, Any]]:
        """The API's JSON objects of a listing whose query is already in Twilio's spelling.

        For code that keeps the JSON as received (what ``to_dict()`` would give back) and
        needs no typed model, such as a sync: decoding and re-encoding every record would
        cost more CPU than the requests. ``query`` is not checked: build it with
        ``conference_query`` (or :meth:`WorkUnit.query`).
        """
        return self._ctx.paginate(
            self._base,
            query,
            model=dict,
            items_key="conferences",
            page_format=INSIGHTS_PAGES,
            page_size=page_size,
            limit=None,
        )


class ConferenceFilters(TypedDict, total=False):
    """The filters of ``conferences.list()`` and ``conference_reports()``, all optional."""

    conference_sid: str | None
    friendly_name: str | None
    status: ConferenceStatus | str | None
    created_after: datetime | None
    created_before: datetime | None
    mixer_region: Region | str | None
    tags: Iterable[ConferenceTag | str] | ConferenceTag | str | None
    subaccount: str | None
    detected_issues: Iterable[DetectedIssue | str] | DetectedIssue | str | None
    end_reason: ConferenceEndReason | str | None


#: The conference filters, in Twilio's spelling: drives ``list()`` and the CLI's options.
CONFERENCE_FILTERS = FilterTable(
    "conference",
    [
        Filter("conference_sid", "ConferenceSid", sid_of("CF"), "one conference", "CF…"),
        Filter("friendly_name", "FriendlyName", text, "exact friendly name", "NAME"),
        Filter("status", "Status", member_of(ConferenceStatus), "status", choices=ConferenceStatus),
        Filter(
            "created_after",
            "CreatedAfter",
            _validation.aware_datetime,
            "created at or after TIME",
            "TIME",
            kind="time",
        ),
        Filter(
            "created_before",
            "CreatedBefore",
            _validation.aware_datetime,
            "created before TIME",
            "TIME",
            kind="time",
        ),
        Filter(
            "mixer_region",
            "MixerRegion",
            member_of(Region),
            "mixer region",
            "REGION",
            choices=Region,
        ),
        Filter(
            "tags",
            "Tags",
            members_of(ConferenceTag),
            "has any of these tags",
            "TAG",
            choices=ConferenceTag,
            item="tag",
        ),
        Filter("subaccount", "Subaccount", sid_of("AC"), "conferences of this subaccount", "AC…"),
        Filter(
            "detected_issues",
            "DetectedIssues",
            members_of(DetectedIssue),
            "has issues of any of these kinds",
            "ISSUE",
            choices=DetectedIssue,
            item="detected_issue",
        ),
        Filter(
            "end_reason",
            "EndReason",
            member_of(ConferenceEndReason),
            "end reason",
            "REASON",
            choices=ConferenceEndReason,
        ),
    ],
)


def conference_query(filters: Mapping[str, object]) -> dict[str, str | int]:
    """Validate conference filters and spell them as Twilio's query parameters."""
    query = CONFERENCE_FILTERS.query(filters)
    after, before = filters.get("created_after"), filters.get("created_before")
    if isinstance(after, datetime) and isinstance(before, datetime) and after > before:
        # Twilio would answer with nothing: an empty result would hide the mistake.
        raise InvalidArgumentError(
            f"created_after ({after.isoformat()}) is later than created_before "
            f"({before.isoformat()}): no conference can match"
        )
    return query
