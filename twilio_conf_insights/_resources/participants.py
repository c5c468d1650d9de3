"""Live conference participants (core API 2010-04-01).

``/2010-04-01/Accounts/{AC…}/Conferences/{CF…}/Participants[/{CA… or label}].json``.
"""

from __future__ import annotations

from yarl import URL

from .. import _validation
from .._models import Participant
from .._pagination import LEGACY_PAGES, Paginator
from .._urls import path_segment
from ._context import ResourceContext

__all__ = ["Participants"]


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
        query: dict[str, str | int] = {}
        if muted is not None:
            query["Muted"] = _validation.boolean(muted, "muted")
        if hold is not None:
            query["Hold"] = _validation.boolean(hold, "hold")
        if coaching is not None:
            query["Coaching"] = _validation.boolean(coaching, "coaching")
        return self._ctx.paginate(
            base / "Participants.json",
            query,
            model=Participant,
            items_key="participants",
            page_format=LEGACY_PAGES,
            page_size=page_size,
            limit=limit,
        )
