"""The CLI's get and list commands, run against a FakeTwilio, print exactly the served records."""

from __future__ import annotations

import asyncio
import json

from tests.helpers import clean_env, cli, fake_env
from twilio_conf_insights.testing import FakeTwilio


async def test_conferences_get_and_list(cli_fake: FakeTwilio) -> None:
    """`conferences get` and `list` (filtered, limited) print the served records as JSON lines."""
    env = fake_env(cli_fake)
    first = cli_fake.data.conferences[0]
    completed = [c for c in cli_fake.data.conferences if c["status"] == "completed"]

    got, listed, filtered, limited = await asyncio.gather(
        cli("conferences", "get", first["conference_sid"], env=env),
        cli("conferences", "list", env=env),
        cli("conferences", "list", "--status", "completed", "--page-size", "5", env=env),
        cli("conferences", "list", "--limit", "3", "--format", "json", env=env),
    )

    # Not a terminal: JSON Lines by default, the API's JSON exactly.
    assert got.returncode == 0, got.stderr
    assert got.jsonl() == [first]
    assert listed.jsonl() == cli_fake.data.conferences
    assert filtered.jsonl() == completed
    assert json.loads(limited.stdout) == cli_fake.data.conferences[:3]


async def test_conference_filters_reach_twilio(cli_fake: FakeTwilio) -> None:
    """CLI filter options (--tag, --created-after without offset) select what the server selects."""
    env = fake_env(cli_fake)
    tagged = [c for c in cli_fake.data.conferences if c["tags"] and "low_mos" in c["tags"]]
    middle = cli_fake.data.conferences[len(cli_fake.data.conferences) // 2]["create_time"]
    naive = middle.removesuffix("Z")  # no offset: taken as UTC

    by_tag, after = await asyncio.gather(
        cli("conferences", "list", "--tag", "low_mos", env=env),
        cli("conferences", "list", "--created-after", naive, env=env),
    )

    assert by_tag.jsonl() == tagged
    assert after.jsonl() == [c for c in cli_fake.data.conferences if c["create_time"] >= middle]
    # The naive timestamp reached Twilio as UTC.
    sent = [r.query["CreatedAfter"] for r in cli_fake.requests if "CreatedAfter" in r.query]
    assert sent
    assert all(value == [middle] for value in sent)


async def test_participants_get_and_list(cli_fake: FakeTwilio) -> None:
    """`participant-summaries get`/`list` (alias `participants`) print participant summaries."""
    env = fake_env(cli_fake)
    conference = next(
        c
        for c in cli_fake.data.conferences
        if len(cli_fake.data.participant_summaries[c["conference_sid"]]) >= 2
    )
    sid = conference["conference_sid"]
    summaries = cli_fake.data.participant_summaries[sid]
    labelled = next(p for p in summaries if p["label"])

    got, listed, by_alias, by_label, table = await asyncio.gather(
        cli("participant-summaries", "get", sid, summaries[1]["participant_sid"], env=env),
        cli("participant-summaries", "list", sid, env=env),
        cli("participants", "list", sid, env=env),
        cli("participant-summaries", "list", sid, "--label", labelled["label"], env=env),
        cli("participants", "list", sid, "--format", "table", env=env),
    )

    assert got.jsonl() == [summaries[1]]
    assert listed.jsonl() == summaries
    assert by_alias.stdout == listed.stdout
    assert by_label.jsonl() == [p for p in summaries if p["label"] == labelled["label"]]
    header, rule, *rows = table.stdout.splitlines()
    assert header.split()[:2] == ["participant_sid", "label"]
    assert set(rule) <= {"-", " "}
    assert [row.split()[0] for row in rows] == [p["participant_sid"] for p in summaries]


async def test_live_participants_get_and_list(cli_fake: FakeTwilio) -> None:
    """`live-participants get` (by SID or label) and `list` print the 2010 participants."""
    env = fake_env(cli_fake)
    sid, live = next(
        (c["conference_sid"], cli_fake.data.participants[c["conference_sid"]])
        for c in cli_fake.data.conferences
        if any(p["label"] for p in cli_fake.data.participants[c["conference_sid"]])
    )
    labelled = next(p for p in live if p["label"])

    by_call, by_label, listed, muted = await asyncio.gather(
        cli("live-participants", "get", sid, live[0]["call_sid"], env=env),
        cli("live-participants", "get", sid, labelled["label"], env=env),
        cli("live-participants", "list", sid, env=env),
        cli("live-participants", "list", sid, "--muted", "true", env=env),
    )

    assert by_call.jsonl() == [live[0]]
    assert by_label.jsonl() == [labelled]
    assert listed.jsonl() == live
    assert muted.jsonl() == [p for p in live if p["muted"]]


async def test_base_urls_as_options(cli_fake: FakeTwilio) -> None:
    """--insights-base-url and --api-base-url point the CLI at a server without environment URLs."""
    env = clean_env(TWILIO_ACCOUNT_SID=cli_fake.account_sid, TWILIO_AUTH_TOKEN=cli_fake.auth_token)
    run = await cli(
        "--insights-base-url",
        cli_fake.insights_base_url,
        "--api-base-url",
        cli_fake.api_base_url,
        "conferences",
        "list",
        "--limit",
        "2",
        env=env,
    )
    assert run.returncode == 0, run.stderr
    assert run.jsonl() == cli_fake.data.conferences[:2]
