"""Conference summaries: ``/v1/Conferences``."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, AsyncIterable, Iterable
from datetime import datetime

from .. import validation
from ..bulk import FetchResult, map_bounded
from ..models import (
    ConferenceEndReason,
    ConferenceStatus,
    ConferenceSummary,
    ConferenceTag,
    DetectedIssue,
    Region,
)
from ..pagination import INSIGHTS_PAGES, Paginator
from ._context import ResourceContext

__all__ = ["Conferences"]


class Conferences:
    """Conference summaries (Voice Insights): ``client.conferences``."""

    def __init__(self, context: ResourceContext) -> None:
        self._ctx = context
        self._base = context.insights_url / "v1" / "Conferences"

    async def fetch(self, conference_sid: str) -> ConferenceSummary:
        """The summary of one conference (``CF…``)."""
        sid = validation.sid(conference_sid, "CF", "conference_sid")
        return await self._ctx.fetch(self._base / sid, ConferenceSummary)

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
        width = (
            concurrency
            if concurrency is not None
            else self._ctx.transport.limiter.stats().max_concurrency
        )
        async with contextlib.aclosing(
            map_bounded(sids, self.fetch, concurrency=width, ordered=ordered)
        ) as outcomes:
            async for sid, value, error in outcomes:
                yield FetchResult(sid=sid, value=value, error=error)

    def list(
        self,
        *,
        conference_sid: str | None = None,
        friendly_name: str | None = None,
        status: ConferenceStatus | str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
        mixer_region: Region | str | None = None,
        tags: Iterable[ConferenceTag | str] | ConferenceTag | str | None = None,
        subaccount: str | None = None,
        detected_issues: Iterable[DetectedIssue | str] | DetectedIssue | str | None = None,
        end_reason: ConferenceEndReason | str | None = None,
        page_size: int | None = None,
        limit: int | None = None,
    ) -> Paginator[ConferenceSummary]:
        """Conference summaries matching every given filter, newest first.

        Twilio returns the last 24 hours unless ``created_after``/``created_before`` say
        otherwise. Datetimes must be timezone-aware. ``tags`` and ``detected_issues`` take
        one value or a list. Nothing is sent until the paginator is iterated.
        """
        return self._ctx.paginate(
            self._base,
            conference_filters(
                conference_sid=conference_sid,
                friendly_name=friendly_name,
                status=status,
                created_after=created_after,
                created_before=created_before,
                mixer_region=mixer_region,
                tags=tags,
                subaccount=subaccount,
                detected_issues=detected_issues,
                end_reason=end_reason,
            ),
            model=ConferenceSummary,
            items_key="conferences",
            page_format=INSIGHTS_PAGES,
            page_size=page_size,
            limit=limit,
        )


def conference_filters(
    *,
    conference_sid: str | None = None,
    friendly_name: str | None = None,
    status: ConferenceStatus | str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    mixer_region: Region | str | None = None,
    tags: Iterable[ConferenceTag | str] | ConferenceTag | str | None = None,
    subaccount: str | None = None,
    detected_issues: Iterable[DetectedIssue | str] | DetectedIssue | str | None = None,
    end_reason: ConferenceEndReason | str | None = None,
) -> dict[str, str | int]:
    """Validate the conference filters and spell them as Twilio's query parameters."""
    query: dict[str, str | int] = {}
    if conference_sid is not None:
        query["ConferenceSid"] = validation.sid(conference_sid, "CF", "conference_sid")
    if friendly_name is not None:
        query["FriendlyName"] = validation.text(friendly_name, "friendly_name")
    if status is not None:
        query["Status"] = validation.enum_value(status, ConferenceStatus, "status")
    if created_after is not None:
        query["CreatedAfter"] = validation.aware_datetime(created_after, "created_after")
    if created_before is not None:
        query["CreatedBefore"] = validation.aware_datetime(created_before, "created_before")
    if mixer_region is not None:
        query["MixerRegion"] = validation.enum_value(mixer_region, Region, "mixer_region")
    if tags is not None:
        query["Tags"] = validation.enum_list(tags, ConferenceTag, "tags")
    if subaccount is not None:
        query["Subaccount"] = validation.sid(subaccount, "AC", "subaccount")
    if detected_issues is not None:
        query["DetectedIssues"] = validation.enum_list(
            detected_issues, DetectedIssue, "detected_issues"
        )
    if end_reason is not None:
        query["EndReason"] = validation.enum_value(end_reason, ConferenceEndReason, "end_reason")
    return query
