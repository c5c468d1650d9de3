"""Conference participant summaries: ``/v1/Conferences/{CF…}/Participants``."""

from __future__ import annotations

from typing import Any

from .. import _validation
from .._models import ParticipantSummary
from .._pagination import INSIGHTS_PAGES, Paginator
from .._waiting import wait_until_terminal
from ._context import ResourceContext
from ._query import Filter, FilterTable, sid_of, text

__all__ = ["PARTICIPANT_SUMMARY_FILTERS", "ParticipantSummaries"]

#: The filters of ``participant_summaries.list()``, in Twilio's spelling.
PARTICIPANT_SUMMARY_FILTERS = FilterTable(
    "participant summary",
    [
        Filter("participant_sid", "ParticipantSid", sid_of("CP"), "one participant", "CP…"),
        Filter("label", "Label", text, "participants with this label", "LABEL"),
        Filter("events", "Events", text, "participants with any of these events (e.g. mute)"),
    ],
)


class ParticipantSummaries:
    """Per-participant quality summaries (Voice Insights): ``client.participant_summaries``."""

    def __init__(self, context: ResourceContext) -> None:
        self._ctx = context
        self._conferences = context.insights_url / "v1" / "Conferences"

    async def fetch(
        self,
        conference_sid: str,
        participant_sid: str,
        *,
        events: str | None = None,
        metrics: str | None = None,
    ) -> ParticipantSummary:
        """The summary of one participant (``CP…``) of a conference (``CF…``).

        ``events`` and ``metrics`` are passed to Twilio as the ``Events`` and ``Metrics``
        query parameters.
        """
        conference = _validation.sid(conference_sid, "CF", "conference_sid")
        participant = _validation.sid(participant_sid, "CP", "participant_sid")
        query: dict[str, str] = {}
        if events is not None:
            query["Events"] = _validation.text(events, "events")
        if metrics is not None:
            query["Metrics"] = _validation.text(metrics, "metrics")
        url = self._conferences.joinpath(conference, "Participants", participant)
        return await self._ctx.fetch(url.with_query(query) if query else url, ParticipantSummary)

    async def wait_until_complete(
        self,
        conference_sid: str,
        participant_sid: str,
        *,
        # The documented name: a deadline for the whole wait, not for one call.
        timeout: float = 1800.0,  # noqa: ASYNC109
        poll_interval: float = 15.0,
        max_poll_interval: float | None = None,
    ) -> ParticipantSummary:
        """Poll a participant summary until its ``processing_state`` is terminal; return it.

        The same schedule and errors as :meth:`Conferences.wait_until_complete
        <twilio_conf_insights._resources.Conferences.wait_until_complete>`.
        """
        conference = _validation.sid(conference_sid, "CF", "conference_sid")
        participant = _validation.sid(participant_sid, "CP", "participant_sid")
        return await wait_until_terminal(
            lambda: self.fetch(conference, participant),
            what=f"participant summary {participant} of {conference}",
            timeout=timeout,
            poll_interval=poll_interval,
            max_interval=max_poll_interval,
        )

    def list_raw(self, conference_sid: str) -> Paginator[dict[str, Any]]:
        """The API's JSON objects of a conference's participant summaries, pages of 1000.

        For code that keeps the JSON as received, such as a sync (see
        :meth:`Conferences.list_raw`).
        """
        conference = _validation.sid(conference_sid, "CF", "conference_sid")
        return self._ctx.paginate(
            self._conferences.joinpath(conference, "Participants"),
            {},
            model=dict,
            items_key="participants",
            page_format=INSIGHTS_PAGES,
            page_size=_validation.MAX_PAGE_SIZE,
            limit=None,
        )

    def list(
        self,
        conference_sid: str,
        *,
        participant_sid: str | None = None,
        label: str | None = None,
        events: str | None = None,
        page_size: int | None = None,
        limit: int | None = None,
    ) -> Paginator[ParticipantSummary]:
        """The participant summaries of a conference, optionally filtered."""
        conference = _validation.sid(conference_sid, "CF", "conference_sid")
        given = {"participant_sid": participant_sid, "label": label, "events": events}
        return self._ctx.paginate(
            self._conferences.joinpath(conference, "Participants"),
            PARTICIPANT_SUMMARY_FILTERS.query(given),
            model=ParticipantSummary,
            items_key="participants",
            page_format=INSIGHTS_PAGES,
            page_size=page_size,
            limit=limit,
        )
