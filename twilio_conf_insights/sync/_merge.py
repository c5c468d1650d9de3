"""The store's write contract and its planner: how a write merges into what a store holds.

Pure: no I/O. A store reads the rows a write touches (:func:`touched`), hands them with the
write to :func:`plan_write`, and executes the :class:`WritePlan` it gets back, all inside one
transaction that holds the touched conferences (SQLite: the database's write lock;
PostgreSQL: one advisory lock per conference). Both stores run this same code, so they hold
the same rows for the same writes.

The rules, all here:

* **Merge, not replace.** A write brings summaries (a conference summary, participant
  summaries, or both); each is kept or dropped on its own, and nothing the write does not
  carry changes. A participant summary missing from a record stays stored.
* **Never regress.** Of two versions of one summary the one with the higher
  ``processing_state`` rank wins (:func:`state_rank`: ``in_progress`` < ``partial`` <
  ``complete`` = ``timeout``; a missing or unknown state ranks below them all, so it never
  overwrites a known one); of equal rank, the one observed later (``observed_at``, the
  fetch or event time the write carries); of equal rank and time, the one stored first.
  A late ``partial`` never replaces a ``complete``, an older fetch never a newer one.
* **Settled only when complete** (:func:`is_settled`): the conference summary is stored
  and terminal, every participant summary stored for it is terminal, and there are at
  least as many of them as the summary's ``unique_participants``. A participant summary
  may arrive before its conference's summary: it is stored on its own and the conference
  exists (in reports, in ``settled``) only once its summary does.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import attrs

from .._errors import InvalidArgumentError
from .._json import json_loads
from .._waiting import is_terminal
from ._schema import json_text
from ._typed import participant_typed
from ._units import api_moment

__all__ = [
    "ConferenceRecord",
    "ConferenceRow",
    "ParticipantRow",
    "SettledChange",
    "StoredConference",
    "StoredParticipant",
    "WriteCounts",
    "WritePlan",
    "conference_columns",
    "expected_participants",
    "instant_text",
    "is_settled",
    "parse_instant",
    "plan_write",
    "state_rank",
    "stored_create_time",
    "text_column",
    "touched",
]

#: ``processing_state`` ranks: a version of a summary never gives way to a lower rank.
RANKS: Mapping[str, int] = {"in_progress": 1, "partial": 2, "complete": 3, "timeout": 3}
#: The rank of a missing or unknown ``processing_state``: below every known one.
UNKNOWN_RANK = 0
#: The largest value of an ``integer`` column (PostgreSQL's; SQLite's is larger).
_INTEGER_MAX = 2**31 - 1
#: The ``observed_at`` of a version stored without one (by an earlier layout): the oldest.
NEVER = datetime.min.replace(tzinfo=UTC)


def state_rank(state: object) -> int:
    """The rank of a ``processing_state`` (enum member, raw string or ``None``)."""
    if state is None:
        return UNKNOWN_RANK
    return RANKS.get(str(getattr(state, "value", state)), UNKNOWN_RANK)


def processing_state(summary: Mapping[str, Any]) -> str | None:
    """A summary's ``processing_state`` as stored in the column (``None`` if missing)."""
    value = summary.get("processing_state")
    return text_column(getattr(value, "value", value))


def conference_columns(
    summary: Mapping[str, Any],
) -> tuple[datetime | None, str | None, int | None]:
    """What a conference summary's JSON puts in its row's columns.

    ``(create_time, processing_state, unique_participants)``: see :func:`stored_create_time`
    and :func:`expected_participants`.
    """
    return (
        stored_create_time(summary.get("create_time")),
        processing_state(summary),
        expected_participants(summary),
    )


def expected_participants(summary: Mapping[str, Any]) -> int | None:
    """How many participant summaries a conference summary announces (``unique_participants``).

    ``None`` when the summary does not say (missing, null, not a whole number, or beyond
    what an ``integer`` column holds): then the count is no condition for settling.
    """
    value = summary.get("unique_participants")
    if isinstance(value, bool) or not isinstance(value, int) or value > _INTEGER_MAX:
        return None
    return max(value, 0)


def text_column(value: object) -> str | None:
    """A text column's value: the API's string, or ``None`` for anything else (drifted data).

    So that an odd value reads the same in both stores, and never aborts a PostgreSQL
    transaction; ``json`` keeps it as sent.
    """
    return value if isinstance(value, str) else None


def is_settled(
    summary_state: object, expected: int | None, participant_states: Collection[object]
) -> bool:
    """Whether a conference is complete: nothing about it will change any more.

    Its summary is terminal, every participant summary stored for it is terminal, and
    there are at least ``expected`` (the summary's ``unique_participants``) of them.
    """
    return (
        is_terminal(summary_state)
        and all(is_terminal(state) for state in participant_states)
        and len(participant_states) >= (expected or 0)
    )


def stored_create_time(value: object) -> datetime | None:
    """The ``create_time`` column of an API ``create_time``: UTC, whole seconds, or ``None``.

    ``None`` for a value that does not read as an ISO 8601 time (tolerant decoding keeps
    such a value in ``json``; the column, which orders and filters, stays empty). No offset
    means UTC. Both stores store exactly this.
    """
    moment = api_moment(value)
    if moment is None:
        return None
    try:
        return moment.astimezone(UTC).replace(microsecond=0)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 has no UTC time
        return None


def instant_text(moment: datetime) -> str:
    """``2025-06-01T08:00:00.123456Z``: fixed width, so the text sorts as the time does."""
    utc = moment.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="microseconds") + "Z"


def parse_instant(text: str | None) -> datetime:
    """The inverse of :func:`instant_text` (any ISO 8601 time); ``None`` is :data:`NEVER`."""
    if text is None:
        return NEVER
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _sid(value: object) -> str:
    return str(value)


@attrs.frozen
class ConferenceRecord:
    """What one write brings of one conference: its summary, participant summaries, or both.

    A sync writes whole records (the summary with every participant summary it fetched);
    a webhook listener writes one event at a time (``ConferenceRecord.of_summary(...)`` or
    ``ConferenceRecord.of_participant(...)``). Summaries are the API's JSON objects as
    received (what ``to_dict()`` of the parsed models gives back). ``observed_at`` is when
    they were fetched, or when the event happened (timezone-aware); ``None`` means the time
    of the write. A store keeps, of every summary, the most final and then the latest
    version it was given (see the module documentation).
    """

    summary: Mapping[str, Any] | None = None
    participants: Sequence[Mapping[str, Any]] = ()
    observed_at: datetime | None = attrs.field(default=None, kw_only=True)

    def __attrs_post_init__(self) -> None:
        if self.summary is None and not self.participants:
            raise InvalidArgumentError(
                "a record holds a conference summary, participant summaries or both"
            )
        if self.observed_at is not None and self.observed_at.utcoffset() is None:
            raise InvalidArgumentError(
                f"observed_at must be timezone-aware, got {self.observed_at!r}"
            )
        if self.summary is None:
            conferences = {_sid(p.get("conference_sid")) for p in self.participants}
            if len(conferences) > 1:
                raise InvalidArgumentError(
                    "participant summaries without their conference summary must all be of "
                    f"one conference, not of {sorted(conferences)}"
                )

    @classmethod
    def of_summary(
        cls, summary: Mapping[str, Any], *, observed_at: datetime | None = None
    ) -> ConferenceRecord:
        """A conference summary alone (e.g. one webhook event)."""
        return cls(summary, observed_at=observed_at)

    @classmethod
    def of_participant(
        cls, participant: Mapping[str, Any], *, observed_at: datetime | None = None
    ) -> ConferenceRecord:
        """One participant summary alone; its ``conference_sid`` names the conference."""
        return cls(None, [participant], observed_at=observed_at)

    @classmethod
    def from_models(
        cls,
        summary: Any | None,
        participants: Sequence[Any] = (),
        *,
        observed_at: datetime | None = None,
    ) -> ConferenceRecord:
        """A record of parsed models (:class:`ConferenceSummary`, :class:`ParticipantSummary`)."""
        return cls(
            None if summary is None else summary.to_dict(),
            [p.to_dict() for p in participants],
            observed_at=observed_at,
        )

    @property
    def conference_sid(self) -> str:
        """The conference's SID (from the summary, else from the participant summaries)."""
        source = self.summary if self.summary is not None else self.participants[0]
        return _sid(source.get("conference_sid"))

    @property
    def settled(self) -> bool:
        """Whether this record alone is a settled conference (see :func:`is_settled`)."""
        if self.summary is None:
            return False
        return is_settled(
            self.summary.get("processing_state"),
            expected_participants(self.summary),
            [p.get("processing_state") for p in self.participants],
        )


@attrs.frozen
class WriteCounts:
    """What one write changed in the store."""

    #: Conferences whose summary the store did not have.
    new: int = 0
    #: Conferences the store had, whose summary or participants changed.
    updated: int = 0
    #: Conferences the store had unsettled and now has settled.
    settled: int = 0
    #: Conferences written (with a summary stored) that are still unsettled.
    unsettled: int = 0
    #: Participant summaries written (inserted or changed).
    participants: int = 0

    def __add__(self, other: WriteCounts) -> WriteCounts:
        return WriteCounts(
            *(a + b for a, b in zip(attrs.astuple(self), attrs.astuple(other), strict=True))
        )


@attrs.frozen
class StoredConference:
    """What a store holds of a conference summary, as the planner needs it."""

    processing_state: str | None
    #: When the stored version was observed (:data:`NEVER` if not known).
    observed_at: datetime
    #: The ``json`` column as the store gives it back (text).
    json: str
    unique_participants: int | None
    settled: bool
    synced_at: datetime


@attrs.frozen
class StoredParticipant:
    """What a store holds of a participant summary, as the planner needs it."""

    conference_sid: str
    processing_state: str | None
    observed_at: datetime
    json: str


@attrs.frozen
class ConferenceRow:
    """A ``conferences`` row to insert, or to replace whole."""

    conference_sid: str
    account_sid: str | None
    create_time: datetime | None
    processing_state: str | None
    unique_participants: int | None
    settled: bool
    observed_at: datetime
    synced_at: datetime
    json: str


@attrs.frozen
class SettledChange:
    """A stored conference summary that stays, whose ``settled`` flag changes."""

    conference_sid: str
    settled: bool
    synced_at: datetime


@attrs.frozen
class ParticipantRow:
    """A ``participant_summaries`` row to insert, or to replace whole."""

    participant_sid: str
    conference_sid: str
    processing_state: str | None
    observed_at: datetime
    json: str
    #: The values of the typed columns (``_typed.PARTICIPANT_TYPED_COLUMNS``), in order.
    typed: tuple[Any, ...]


@attrs.frozen
class WritePlan:
    """What a store does for one write, in one transaction; and what that changed."""

    conferences: list[ConferenceRow]
    settled: list[SettledChange]
    participants: list[ParticipantRow]
    counts: WriteCounts


def touched(records: Iterable[ConferenceRecord]) -> tuple[list[str], list[str]]:
    """The conference and participant SIDs a write touches, each sorted (a lock order).

    A store reads (and locks) these conferences, their stored participant summaries and
    these participant summaries wherever they are stored, then calls :func:`plan_write`.
    """
    conferences: set[str] = set()
    participants: set[str] = set()
    for record in records:
        conferences.add(record.conference_sid)
        participants.update(_sid(p.get("participant_sid")) for p in record.participants)
    return sorted(conferences), sorted(participants)


@attrs.frozen
class _Offer:
    """The best version of one summary a write brings."""

    data: Mapping[str, Any]
    rank: int
    observed_at: datetime
    conference_sid: str

    def beats(self, state: object, observed_at: datetime) -> bool:
        """Whether this version goes before a version in ``state`` observed at ``observed_at``."""
        return (self.rank, self.observed_at) > (state_rank(state), observed_at)


def _best(best: dict[str, _Offer], key: str, offer: _Offer) -> None:
    current = best.get(key)
    if current is None or (offer.rank, offer.observed_at) > (current.rank, current.observed_at):
        best[key] = offer


def _same(stored_json: str, data: Mapping[str, Any], text: str) -> bool:
    # The text first (what SQLite gives back); PostgreSQL's jsonb text differs in layout.
    return stored_json == text or json_loads(stored_json) == data


def _offers(
    records: Sequence[ConferenceRecord], now: datetime
) -> tuple[dict[str, _Offer], dict[str, _Offer]]:
    """The best version a write brings of each conference summary and participant summary."""
    summaries: dict[str, _Offer] = {}
    participants: dict[str, _Offer] = {}
    for record in records:
        at = record.observed_at or now
        sid = record.conference_sid
        if record.summary is not None:
            rank = state_rank(record.summary.get("processing_state"))
            _best(summaries, sid, _Offer(record.summary, rank, at, sid))
        for data in record.participants:
            rank = state_rank(data.get("processing_state"))
            _best(participants, _sid(data.get("participant_sid")), _Offer(data, rank, at, sid))
    return summaries, participants


@attrs.define
class _Merge:
    """The state of one plan while it is made."""

    #: Participant states per conference after the write: stored, then the winners on top.
    states: dict[str, dict[str, str | None]]
    conferences: list[ConferenceRow] = attrs.Factory(list)
    settled: list[SettledChange] = attrs.Factory(list)
    participants: list[ParticipantRow] = attrs.Factory(list)
    #: Conferences whose summary or participant summaries change.
    changed: set[str] = attrs.Factory(set)
    changed_participants: int = 0

    def participant(self, psid: str, offer: _Offer, stored: StoredParticipant | None) -> None:
        """Write ``offer`` if it beats what is stored."""
        if stored is not None and not offer.beats(stored.processing_state, stored.observed_at):
            return  # older or less final than what is stored: dropped
        text = json_text(offer.data)
        if stored is None or not _same(stored.json, offer.data, text):
            self.changed_participants += 1
            self.changed.add(offer.conference_sid)
        if stored is not None and stored.conference_sid != offer.conference_sid:
            self.states.get(stored.conference_sid, {}).pop(psid, None)
        state = processing_state(offer.data)
        self.states.setdefault(offer.conference_sid, {})[psid] = state
        self.participants.append(
            ParticipantRow(
                psid,
                offer.conference_sid,
                state,
                offer.observed_at,
                text,
                participant_typed(offer.data),
            )
        )

    def conference(
        self, sid: str, offer: _Offer | None, stored: StoredConference | None, now: datetime
    ) -> bool | None:
        """Write or re-flag conference ``sid``; whether it is settled (``None``: no summary)."""
        parts = list(self.states.get(sid, {}).values())
        if offer is not None and (
            stored is None or offer.beats(stored.processing_state, stored.observed_at)
        ):
            text = json_text(offer.data)
            if stored is None or not _same(stored.json, offer.data, text):
                self.changed.add(sid)
            create_time, state, expected = conference_columns(offer.data)
            settled = is_settled(state, expected, parts)
            synced_at = now
            if stored is not None and sid not in self.changed and settled == stored.settled:
                synced_at = stored.synced_at  # a newer fetch of the same: nothing changed
            self.conferences.append(
                ConferenceRow(
                    conference_sid=sid,
                    account_sid=text_column(offer.data.get("account_sid")),
                    create_time=create_time,
                    processing_state=state,
                    unique_participants=expected,
                    settled=settled,
                    observed_at=offer.observed_at,
                    synced_at=synced_at,
                    json=text,
                )
            )
            return settled
        if stored is None:
            return None  # participant summaries before their conference's summary
        settled = is_settled(stored.processing_state, stored.unique_participants, parts)
        if settled != stored.settled:
            self.settled.append(SettledChange(sid, settled, now))
        return settled


def plan_write(
    records: Sequence[ConferenceRecord],
    conferences: Mapping[str, StoredConference],
    participants: Mapping[str, StoredParticipant],
    *,
    now: datetime,
) -> WritePlan:
    """Merge ``records`` into what is stored; the rows to write and what changed.

    ``conferences`` are the stored summaries of the conferences :func:`touched` names,
    ``participants`` the participant summaries stored for those conferences and those the
    write carries (by participant SID). ``now`` stands for a record without ``observed_at``
    and stamps rows whose content changes (``synced_at``).
    """
    summary_offers, participant_offers = _offers(records, now)
    states: dict[str, dict[str, str | None]] = {}
    for psid, stored in participants.items():
        states.setdefault(stored.conference_sid, {})[psid] = stored.processing_state
    merge = _Merge(states)
    for psid, offer in participant_offers.items():
        merge.participant(psid, offer, participants.get(psid))
    new = updated = became_settled = unsettled = 0
    for sid in sorted({record.conference_sid for record in records}):
        before = conferences.get(sid)
        settled = merge.conference(sid, summary_offers.get(sid), before, now)
        if settled is None:
            continue
        if before is None:
            new += 1
        else:
            updated += sid in merge.changed
            became_settled += settled and not before.settled
        unsettled += not settled
    counts = WriteCounts(new, updated, became_settled, unsettled, merge.changed_participants)
    return WritePlan(merge.conferences, merge.settled, merge.participants, counts)
