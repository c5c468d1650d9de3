"""One way to start the fake, and demo data dated up to now."""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime, timedelta

from twilio_conf_insights.testing import FakeTwilio

from .helpers import clean_env, cli, run


async def _help(*args: str) -> str:
    done = await run([sys.executable, *args, "--help"])
    assert done.returncode == 0
    return done.stdout


async def test_both_entries_are_one_command() -> None:
    """`python -m twilio_conf_insights.testing` is `fake-server`: same options, defaults, units."""
    module, command = await asyncio.gather(
        _help("-m", "twilio_conf_insights.testing"),
        _help("-m", "twilio_conf_insights", "fake-server"),
    )
    assert module == command
    assert "(default: 7)" in module
    assert "(default: 200)" in module
    assert "milliseconds" in module


async def test_a_given_now_dates_the_data_and_keeps_the_sids() -> None:
    """FakeTwilio(now=…) dates every conference before that moment; the SIDs stay the seed's."""
    now = datetime.now(UTC).replace(microsecond=0)
    fixed = FakeTwilio(conferences=40, seed=7)
    recent = FakeTwilio(conferences=40, seed=7, now=now)
    assert recent.base_time == now
    assert {c["conference_sid"] for c in recent.data.conferences} == {
        c["conference_sid"] for c in fixed.data.conferences
    }
    since = (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    created = [c["create_time"] for c in recent.data.conferences]
    assert all(c <= now.strftime("%Y-%m-%dT%H:%M:%SZ") for c in created)
    assert any(c >= since for c in created)


async def test_demo_has_data_for_the_last_day() -> None:
    """--demo answers 'the last day' with conferences (its data is dated up to now)."""
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    run = await cli("--demo", "conferences", "list", "--created-after", since, env=clean_env())
    assert run.returncode == 0, run.stderr
    assert len(run.jsonl()) > 10
