"""Shared by the sync tests: a fake with a known share of unsettled conferences, and checks."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from twilio_conf_insights import ConferenceFilters
from twilio_conf_insights.testing import FakeTwilio


def sync_fake(
    conferences: int = 600,
    *,
    unsettled_share: float = 0.1,
    now: datetime | None = None,
    **options: Any,
) -> FakeTwilio:
    """A fake of ``conferences`` x 5 participants over 3 days, exactly this share unsettled.

    The unsettled ones are every n-th conference, so they are spread over all windows.
    """
    fake = FakeTwilio(
        conferences=conferences, participants_per_conference=5, seed=21, now=now, **options
    )
    data = fake.data
    every = round(1 / unsettled_share) if unsettled_share else 0
    for index, conference in enumerate(data.conferences):
        state = "in_progress" if every and index % every == 0 else "complete"
        data.set_processing_state(conference["conference_sid"], state)
    return fake


def full_range(fake: FakeTwilio) -> ConferenceFilters:
    """``created_after``/``created_before`` covering all the fake's data."""
    return {
        "created_after": fake.now - timedelta(days=3, hours=1),
        "created_before": fake.now + timedelta(seconds=1),
    }


def stored(path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(conferences, participant_summaries)`` of a store, by SID, JSON parsed."""
    # closing(): a connection's own context manager ends a transaction, not the connection.
    with contextlib.closing(sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)) as db:
        conferences = {
            sid: json.loads(text)
            for sid, text in db.execute("SELECT conference_sid, json FROM conferences")
        }
        participants = {
            sid: json.loads(text)
            for sid, text in db.execute("SELECT participant_sid, json FROM participant_summaries")
        }
    return conferences, participants


def assert_store_matches(path: Path, fake: FakeTwilio, sids: list[str] | None = None) -> None:
    """The store holds exactly the fake's records (of ``sids``, default all), field for field."""
    conferences, participants = stored(path)
    wanted = sids if sids is not None else [c["conference_sid"] for c in fake.data.conferences]
    assert sorted(conferences) == sorted(wanted)
    expected_participants: dict[str, Any] = {}
    for sid in wanted:
        assert conferences[sid] == fake.data.conference(sid)
        for participant in fake.data.participant_summaries[sid]:
            expected_participants[participant["participant_sid"]] = participant
    assert participants == expected_participants


def participant_listings(fake: FakeTwilio) -> list[str]:
    """Conference SIDs whose participant summaries were listed, in request order."""
    return [
        r.path.split("/")[3]
        for r in fake.requests
        if r.path.startswith("/v1/Conferences/") and r.path.endswith("/Participants")
    ]


def now_utc() -> datetime:
    """The real time: a fake pinned to it lets the CLI's default range find its data."""
    return datetime.now(UTC).replace(microsecond=0)
