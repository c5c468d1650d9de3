"""Live conference participants (core API 2010-04-01).

``/2010-04-01/Accounts/{AC…}/Conferences/{CF…}/Participants[/{CA… or label}].json``.
"""

from __future__ import annotations

from yarl import URL

from .. import _validation
from .._models import Participant
from .._pagination import API_2010_PAGES, Paginator
from .._urls import path_segment
from ._context import ResourceContext
from ._query import Filter, FilterTable, boolean

__all__ = ["PARTICIPANT_FILTERS", "Participants"]

#: The filters of ``participants.list()``, in Twilio's spelling.
PARTICIPANT_FILTERS = FilterTable(
    "participant",
    [
        Filter("muted", "Muted", boolean, "only muted or not", "true|false", kind="bool"),
        Filter("hold", "Hold", boolean, "only on hold or not", "true|false", kind="bool"),
        Filter("coaching", "Coaching", boolean, "only coaching or not", "true|false", kind="bool"),
    ],
)


class Participants:
    """Participants in a conference now: ``client.participants``.

    ``account_sid`` defaults to the client's account; pass a subaccount's SID to read its
    conferences.
    """

    def __init__(self, context: ResourceContext) -> None:
        self._ctx = context

    def _conference_url(self, conference_sid: str, account_sid: str | None) -> URL:
        account = _validation.sid(account_sid or self._ctx.account_sid, "AC", "account_sid")
        conference = _validation.sid(conference_sid, "CF", "conference_sid")
        return self._ctx.api_url / "2010-04-01" / "Accounts" / account / "Conferences" / conference

    async def fetch(
        self, conference_sid: str, participant: str, *, account_sid: str | None = None
    ) -> Participant:
        """One participant, by call SID (``CA…``) or by the label it was given.

        A label is percent-encoded as a single path segment: ``/``, ``?``, ``#``, ``%``,
        ``..``, spaces and unicode reach Twilio as part of the label, never as path or query.
        """
        base = self._conference_url(conference_sid, account_sid)
        segment = path_segment(participant, name="participant (call SID or label)")
        return await self._ctx.fetch(
            base.joinpath("Participants", f"{segment}.json", encoded=True), Participant
        )

    def list(
        self,
        conference_sid: str,
        *,
        muted: bool | None = None,
        hold: bool | None = None,
        coaching: bool | None = None,
        account_sid: str | None = None,
        page_size: int | None = None,
        limit: int | None = None,
    ) -> Paginator[Participant]:
        """The participants of a conference, optionally only muted / on hold / coaching ones."""
        base = self._conference_url(conference_sid, account_sid)
        given = {"muted": muted, "hold": hold, "coaching": coaching}
        return self._ctx.paginate(
            base / "Participants.json",
            PARTICIPANT_FILTERS.query(given),
            model=Participant,
            items_key="participants",
            page_format=API_2010_PAGES,
            page_size=page_size,
            limit=limit,
        )
