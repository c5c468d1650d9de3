"""Live conference participant (core REST API 2010-04-01).

``/2010-04-01/Accounts/{AccountSid}/Conferences/{ConferenceSid}/Participants/{CallSid}.json``.
"""

from __future__ import annotations

from datetime import datetime

import attrs

from ._base import TwilioModel
from .enums import ParticipantStatus

__all__ = ["Participant"]

# The 2010 API writes timestamps in RFC 2822 ("Fri, 18 Feb 2011 21:07:19 +0000").
_RFC2822 = {"datetime": "rfc2822"}


@attrs.frozen
class Participant(TwilioModel):
    """A participant in a conference now, as the core REST API reports it."""

    account_sid: str | None = None
    call_sid: str | None = None
    label: str | None = None
    call_sid_to_coach: str | None = None
    coaching: bool | None = None
    conference_sid: str | None = None
    date_created: datetime | None = attrs.field(default=None, metadata=_RFC2822)
    date_updated: datetime | None = attrs.field(default=None, metadata=_RFC2822)
    end_conference_on_exit: bool | None = None
    muted: bool | None = None
    hold: bool | None = None
    start_conference_on_enter: bool | None = None
    status: ParticipantStatus | str | None = None
    #: Milliseconds waited before the call was placed (create responses only).
    queue_time: str | None = None
    #: The resource's path, relative to the API host.
    uri: str | None = None
