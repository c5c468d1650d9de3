"""The write planner on its own: ranks, the settled rule, normalisation, and merging plans.

The plans are executed here by a few lines over dicts (what both stores do with SQL), so
the properties hold for the rules themselves: any order and batching of the same writes
ends in the same state, the most final then latest version of every summary.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twilio_conf_insights.sync import ConferenceRecord, WriteCounts
from twilio_conf_insights.sync._merge import (
    NEVER,
    StoredConference,
    StoredParticipant,
    WritePlan,
    expected_participants,
    instant_text,
    is_settled,
    parse_instant,
    plan_write,
    state_rank,
    stored_create_time,
    touched,
)
from twilio_conf_insights.sync._schema import CONFERENCE_COLUMNS, PARTICIPANT_COLUMNS

T0 = datetime(2025, 6, 1, 8, 0, tzinfo=UTC)
CF = "CF" + "a" * 32
CF2 = "CF" + "b" * 32


def _summary(state: str | None, *, sid: str = CF, unique: Any = 2, **extra: Any) -> dict[str, Any]:
    return {
        "conference_sid": sid,
        "account_sid": "AC" + "1" * 32,
        "create_time": "2025-06-01T07:00:00Z",
        "processing_state": state,
        "unique_participants": unique,
        **extra,
    }


def _participant(n: int, state: str | None, *, sid: str = CF, **extra: Any) -> dict[str, Any]:
    return {
        "participant_sid": f"CP{n:032d}",
        "conference_sid": sid,
        "processing_state": state,
        **extra,
    }


@attrs.define
class MemoryStore:
    """Executes plans on dicts, as the stores execute them on tables."""

    conferences: dict[str, StoredConference] = attrs.Factory(dict)
    participants: dict[str, StoredParticipant] = attrs.Factory(dict)

    def write(self, records: Sequence[ConferenceRecord], now: datetime = T0) -> WriteCounts:
        sids, psids = touched(records)
        plan = plan_write(
            records,
            {sid: c for sid, c in self.conferences.items() if sid in sids},
            {
                psid: p
                for psid, p in self.participants.items()
                if psid in psids or p.conference_sid in sids
            },
            now=now,
        )
        self.apply(plan)
        return plan.counts

    def apply(self, plan: WritePlan) -> None:
        for row in plan.conferences:
            self.conferences[row.conference_sid] = StoredConference(
                row.processing_state,
                row.observed_at,
                row.json,
                row.unique_participants,
                row.settled,
                row.synced_at,
            )
        for change in plan.settled:
            self.conferences[change.conference_sid] = attrs.evolve(
                self.conferences[change.conference_sid],
                settled=change.settled,
                synced_at=change.synced_at,
            )
        for p in plan.participants:
            self.participants[p.participant_sid] = StoredParticipant(
                p.conference_sid, p.processing_state, p.observed_at, p.json
            )

    def state(self) -> tuple[dict[str, tuple[Any, ...]], dict[str, tuple[Any, ...]]]:
        """Everything but ``synced_at`` (the time of the write that changed a row)."""
        conferences = {
            sid: (c.processing_state, c.observed_at, c.json, c.settled)
            for sid, c in self.conferences.items()
        }
        participants = {sid: attrs.astuple(p) for sid, p in self.participants.items()}
        return conferences, participants


# -- the rules ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lower", "higher"),
    [
        (None, "in_progress"),
        ("queued", "in_progress"),
        ("in_progress", "partial"),
        ("partial", "complete"),
        ("partial", "timeout"),
        ("", "in_progress"),
    ],
)
def test_states_rank_in_progress_then_partial_then_terminal(lower: Any, higher: str) -> None:
    """Unknown and missing states rank lowest; complete and timeout share the top."""
    assert state_rank(lower) < state_rank(higher)
    assert state_rank("complete") == state_rank("timeout")


@pytest.mark.parametrize(
    ("state", "expected", "participants", "settled"),
    [
        ("complete", 2, ["complete", "timeout"], True),
        ("complete", 3, ["complete", "complete"], False),  # one participant still to come
        ("complete", None, [], True),  # no count announced: no condition
        ("complete", 2, ["complete", "in_progress"], False),
        ("complete", 1, ["complete", "partial"], False),
        ("partial", 1, ["complete"], False),
        ("in_progress", 0, [], False),
        (None, 0, [], False),
        ("timeout", 2, ["complete", "complete", "complete"], True),
    ],
)
def test_settled_needs_terminal_summaries_and_every_participant(
    state: str | None, expected: int | None, participants: list[str], settled: bool
) -> None:
    """Settled: terminal summary, terminal participants, at least unique_participants of them."""
    assert is_settled(state, expected, participants) is settled


@pytest.mark.parametrize(
    ("value", "expected"),
    [(3, 3), (0, 0), (-1, 0), (None, None), (True, None), ("3", None), (2.5, None)],
)
def test_the_announced_participant_count_reads_only_whole_numbers(
    value: object, expected: int | None
) -> None:
    """unique_participants counts only as an integer (not a bool, text or fraction)."""
    assert expected_participants({"unique_participants": value}) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2025-06-01T08:00:00Z", datetime(2025, 6, 1, 8, tzinfo=UTC)),
        ("2025-06-01T10:00:00.9+02:00", datetime(2025, 6, 1, 8, tzinfo=UTC)),
        ("2025-06-01T08:00:00", datetime(2025, 6, 1, 8, tzinfo=UTC)),
        ("not-a-timestamp", None),
        ("now", None),
        ("", None),
        (None, None),
        (1717228800, None),
        ("0001-01-01T00:00:00+01:00", None),
    ],
)
def test_create_time_column_is_utc_whole_seconds_or_empty(
    value: object, expected: datetime | None
) -> None:
    """One normalisation for both stores: readable times to UTC, anything else to NULL."""
    assert stored_create_time(value) == expected


@given(st.datetimes(timezones=st.just(UTC)), st.datetimes(timezones=st.just(UTC)))
def test_instant_text_sorts_as_time(first: datetime, second: datetime) -> None:
    """The stored observed_at text orders as the times do, and reads back exactly."""
    assert (instant_text(first) < instant_text(second)) == (first < second)
    assert parse_instant(instant_text(first)) == first
    assert parse_instant(None) == NEVER


def test_row_columns_are_the_row_fields_in_order() -> None:
    """The upserts' column lists and the planner's row values line up one to one."""
    from twilio_conf_insights.sync._merge import ConferenceRow, ParticipantRow
    from twilio_conf_insights.sync._typed import PARTICIPANT_TYPED_COLUMNS

    assert tuple(f.name for f in attrs.fields(ConferenceRow)) == CONFERENCE_COLUMNS
    *fields, typed = (f.name for f in attrs.fields(ParticipantRow))
    # The last field holds the typed columns' values, in their order.
    assert typed == "typed"
    assert (*fields, *PARTICIPANT_TYPED_COLUMNS) == PARTICIPANT_COLUMNS


def test_a_record_without_summaries_or_of_two_conferences_is_refused() -> None:
    """A record holds something, of one conference; its time is timezone-aware."""
    with pytest.raises(ValueError, match="holds a conference summary"):
        ConferenceRecord()
    with pytest.raises(ValueError, match="of one conference"):
        ConferenceRecord(None, [_participant(1, "complete"), _participant(2, "complete", sid=CF2)])
    with pytest.raises(ValueError, match="timezone-aware"):
        ConferenceRecord.of_summary(_summary("complete"), observed_at=datetime(2025, 6, 1))
    assert ConferenceRecord.of_participant(_participant(1, None, sid=CF2)).conference_sid == CF2


# -- plans ----------------------------------------------------------------------------------


def test_participants_alone_then_the_summary_make_one_settled_conference() -> None:
    """Participants stored before their summary count once the summary arrives."""
    store = MemoryStore()
    first = store.write([ConferenceRecord.of_participant(_participant(1, "complete"))])
    assert first == WriteCounts(participants=1)  # no conference yet
    assert store.conferences == {}
    second = store.write([ConferenceRecord.of_summary(_summary("complete"))])
    assert second == WriteCounts(new=1, unsettled=1)  # one of two participants
    third = store.write([ConferenceRecord.of_participant(_participant(2, "complete"))])
    assert third == WriteCounts(updated=1, settled=1, participants=1)
    assert store.conferences[CF].settled


def test_a_later_partial_never_replaces_a_complete_summary() -> None:
    """Rank first: a newer in_progress or partial loses to a stored complete."""
    store = MemoryStore()
    done = _summary("complete", unique=0)
    store.write([ConferenceRecord.of_summary(done, observed_at=T0)])
    for state in ("partial", "in_progress", None, "queued"):
        late = ConferenceRecord.of_summary(
            _summary(state, unique=0), observed_at=T0 + timedelta(hours=1)
        )
        assert store.write([late]) == WriteCounts()
    assert store.conferences[CF].processing_state == "complete"
    assert store.conferences[CF].settled


def test_an_older_version_of_the_same_rank_is_dropped_and_a_newer_wins() -> None:
    """Time second: of two in_progress versions the later observed one stays."""
    store = MemoryStore()
    newer = _summary("in_progress", friendly_name="newer")
    older = _summary("in_progress", friendly_name="older")
    store.write([ConferenceRecord.of_summary(newer, observed_at=T0 + timedelta(minutes=5))])
    assert store.write([ConferenceRecord.of_summary(older, observed_at=T0)]) == WriteCounts(
        unsettled=1
    )
    assert '"newer"' in store.conferences[CF].json
    newest = _summary("in_progress", friendly_name="newest")
    counts = store.write([ConferenceRecord.of_summary(newest, observed_at=T0 + timedelta(hours=1))])
    assert counts == WriteCounts(updated=1, unsettled=1)
    assert '"newest"' in store.conferences[CF].json


def test_equal_rank_and_time_keep_the_version_stored_first() -> None:
    """A tie changes nothing: what was stored first stays."""
    store = MemoryStore()
    store.write(
        [ConferenceRecord.of_summary(_summary("in_progress", friendly_name="a"), observed_at=T0)]
    )
    tie = ConferenceRecord.of_summary(_summary("in_progress", friendly_name="b"), observed_at=T0)
    assert store.write([tie]) == WriteCounts(unsettled=1)
    assert '"a"' in store.conferences[CF].json


def test_a_newer_fetch_of_the_same_summary_moves_its_time_not_its_synced_at() -> None:
    """Unchanged content is no change, but the version's time moves on."""
    store = MemoryStore()
    record = ConferenceRecord(_summary("in_progress"), [_participant(1, "in_progress")])
    store.write([attrs.evolve(record, observed_at=T0)], now=T0)
    later = T0 + timedelta(hours=1)
    assert store.write([attrs.evolve(record, observed_at=later)], now=later) == WriteCounts(
        unsettled=1
    )
    assert store.conferences[CF].observed_at == later
    assert store.conferences[CF].synced_at == T0
    assert store.participants[f"CP{1:032d}"].observed_at == later


def test_a_record_missing_participants_keeps_them() -> None:
    """Merge, not replace: a participant summary not in a later record stays stored."""
    store = MemoryStore()
    store.write(
        [
            ConferenceRecord(
                _summary("complete"), [_participant(1, "complete"), _participant(2, "complete")]
            )
        ]
    )
    counts = store.write([ConferenceRecord(_summary("complete"), [_participant(2, "complete")])])
    assert counts == WriteCounts()
    assert len(store.participants) == 2
    assert store.conferences[CF].settled


def test_a_late_participant_unsettles_and_a_final_one_settles_again() -> None:
    """Settled follows what is stored: a new in_progress participant reopens the conference."""
    store = MemoryStore()
    store.write([ConferenceRecord(_summary("complete", unique=1), [_participant(1, "complete")])])
    assert store.conferences[CF].settled
    reopened = store.write([ConferenceRecord.of_participant(_participant(2, "in_progress"))])
    assert reopened == WriteCounts(updated=1, unsettled=1, participants=1)
    assert not store.conferences[CF].settled
    closed = store.write([ConferenceRecord.of_participant(_participant(2, "complete"))])
    assert closed == WriteCounts(updated=1, settled=1, participants=1)


def test_one_write_with_several_versions_keeps_the_best() -> None:
    """Duplicates and out-of-order versions inside one write: the best one is written once."""
    store = MemoryStore()
    progress = [_participant(1, "in_progress")]
    versions = [
        ConferenceRecord(_summary("in_progress"), progress, observed_at=T0 + timedelta(minutes=m))
        for m in (3, 1, 2)
    ]
    versions.append(
        ConferenceRecord(_summary("partial"), [_participant(1, "complete")], observed_at=T0)
    )
    counts = store.write(versions)
    assert counts == WriteCounts(new=1, unsettled=1, participants=1)
    assert store.conferences[CF].processing_state == "partial"
    assert store.participants[f"CP{1:032d}"].processing_state == "complete"


# -- properties -------------------------------------------------------------------------------

_STATES = st.sampled_from([None, "in_progress", "partial", "complete", "timeout", "weird"])


@st.composite
def _writes(draw: st.DrawFn) -> list[ConferenceRecord]:
    """Records of two conferences, each at its own time: summaries, participants or both."""
    records = []
    for index in range(draw(st.integers(1, 12))):
        sid = draw(st.sampled_from([CF, CF2]))
        summary = None
        if draw(st.booleans()):
            summary = _summary(
                draw(_STATES), sid=sid, unique=draw(st.integers(0, 3)), n=draw(st.integers(0, 2))
            )
        numbers = draw(st.sets(st.integers(0, 3), max_size=3))
        offset = 10 if sid == CF2 else 0
        participants = [
            _participant(n + offset, draw(_STATES), sid=sid, label=draw(st.integers(0, 2)))
            for n in sorted(numbers)
        ]
        if summary is None and not participants:
            participants = [_participant(offset, draw(_STATES), sid=sid)]
        at = T0 + timedelta(seconds=draw(st.integers(0, 10_000)), microseconds=index)
        records.append(ConferenceRecord(summary, participants, observed_at=at))
    return records


def _best(records: Sequence[ConferenceRecord]) -> MemoryStore:
    """Every summary's highest (rank, observed_at) version, and the settled rule over them."""
    summaries: dict[str, tuple[Any, ...]] = {}
    parts: dict[str, tuple[Any, ...]] = {}
    for record in records:
        assert record.observed_at is not None
        if record.summary is not None:
            key = (state_rank(record.summary["processing_state"]), record.observed_at)
            previous = summaries.get(record.conference_sid, (key, record.summary))
            summaries[record.conference_sid] = max(
                previous, (key, record.summary), key=lambda pair: pair[0]
            )
        for p in record.participants:
            key = (state_rank(p["processing_state"]), record.observed_at)
            previous = parts.get(p["participant_sid"], (key, p))
            parts[p["participant_sid"]] = max(previous, (key, p), key=lambda pair: pair[0])
    store = MemoryStore()
    store.write([ConferenceRecord(None, [p], observed_at=k[1]) for k, p in parts.values()])
    store.write([ConferenceRecord.of_summary(s, observed_at=k[1]) for k, s in summaries.values()])
    return store


@settings(max_examples=300, deadline=None)
@given(_writes(), st.randoms(use_true_random=False), st.integers(1, 4))
def test_any_order_and_batching_ends_in_the_best_versions(
    records: list[ConferenceRecord], random: Any, batch: int
) -> None:
    """Writes in any order, in batches of any size, leave each summary's best version."""
    shuffled = list(records)
    random.shuffle(shuffled)
    store = MemoryStore()
    for start in range(0, len(shuffled), batch):
        store.write(shuffled[start : start + batch])
    assert store.state() == _best(records).state()
    for sid, conference in store.conferences.items():
        states = [
            p.processing_state for p in store.participants.values() if p.conference_sid == sid
        ]
        assert conference.settled == is_settled(
            conference.processing_state, conference.unique_participants, states
        )


@settings(max_examples=200, deadline=None)
@given(_writes())
def test_writing_everything_again_changes_nothing(records: list[ConferenceRecord]) -> None:
    """Idempotent: the same writes again, in one batch or one by one, count no change."""
    store = MemoryStore()
    store.write(records)
    before = store.state()
    again = store.write(records)
    assert (again.new, again.updated, again.settled, again.participants) == (0, 0, 0, 0)
    for record in records:
        store.write([record])
    assert store.state() == before


def test_counts_add_up() -> None:
    """WriteCounts sum field by field (a sync adds up its writes)."""
    total = sum(
        (WriteCounts(1, 2, 3, 4, 5), WriteCounts(new=1), WriteCounts(participants=2)), WriteCounts()
    )
    assert total == WriteCounts(2, 2, 3, 4, 7)
    assert list(
        itertools.chain(touched([ConferenceRecord.of_participant(_participant(3, None))]))
    ) == [
        [CF],
        [f"CP{3:032d}"],
    ]
