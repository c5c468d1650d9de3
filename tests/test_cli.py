"""The command line: end to end in subprocesses, plus its pure parts in process.

End-to-end tests run ``python -m twilio_conf_insights`` against a FakeTwilio served by the
test's own event loop (so subprocesses are driven with asyncio, never blocking it), against
a ``fake-server`` subprocess, or with ``--demo``. Subprocesses get the environment without
any ``TWILIO_*`` variable, plus what the test sets.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import shlex
import signal
import statistics
import sys
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import pytest

from tests.helpers import PATIENCE, wait_until
from twilio_conf_insights import (
    ConferenceReport,
    ConferenceSummary,
    InsightsClient,
    ParticipantSummary,
    RetryPolicy,
    RetryScheduled,
)
from twilio_conf_insights.cli import main
from twilio_conf_insights.cli._export import (
    CONFERENCE_FIELDS,
    PARTICIPANT_FIELDS,
    csv_header,
    flatten,
)
from twilio_conf_insights.cli._files import atomic_output
from twilio_conf_insights.cli._output import cell, format_table
from twilio_conf_insights.cli._parser import parse_args, parse_datetime
from twilio_conf_insights.cli._progress import Progress
from twilio_conf_insights.cli._report import Thresholds, build_report, percentile
from twilio_conf_insights.testing import FakeTwilio, Fault, FaultKind

# A token no real account has, so finding it in output can only mean it leaked.
SECRET = "tok3n-Do-Not-Print-9f8e7d6c5b4a"


# -- helpers --------------------------------------------------------------------------------


@attrs.frozen
class Run:
    returncode: int
    stdout: str
    stderr: str

    def jsonl(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines()]


def clean_env(**extra: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if not name.startswith("TWILIO_")}
    env.update(extra)
    return env


def fake_env(fake: FakeTwilio, **overrides: str) -> dict[str, str]:
    env = clean_env(
        TWILIO_ACCOUNT_SID=fake.account_sid,
        TWILIO_AUTH_TOKEN=fake.auth_token,
        TWILIO_INSIGHTS_BASE_URL=fake.insights_base_url,
        TWILIO_API_BASE_URL=fake.api_base_url,
    )
    env.update(overrides)
    return env


def without_urls(record: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in record.items() if key not in ("url", "links")}


def entries(directory: Path) -> list[Path]:
    return sorted(directory.iterdir())


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "twilio_conf_insights", *args]


async def cli(*args: str, env: Mapping[str, str] | None = None) -> Run:
    process = await asyncio.create_subprocess_exec(
        *command(*args),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=dict(env) if env is not None else clean_env(),
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=PATIENCE)
    assert process.returncode is not None
    return Run(process.returncode, stdout.decode("utf-8"), stderr.decode("utf-8"))


def assert_one_line_error(run: Run) -> None:
    assert "Traceback" not in run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("twilio-conf-insights: ")


def all_participants(fake: FakeTwilio) -> Iterator[dict[str, Any]]:
    for conference in fake.data.conferences:
        yield from fake.data.participant_summaries[conference["conference_sid"]]


@pytest.fixture
async def cli_fake() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio(conferences=24, participants_per_conference=(1, 5), seed=2024) as fake:
        yield fake


# -- every command against a FakeTwilio, credentials from the environment --------------------


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


async def test_export_jsonl_round_trip(cli_fake: FakeTwilio, tmp_path: Path) -> None:
    """`export --with-participants` to JSONL holds every conference with all its participants."""
    out = tmp_path / "calls.jsonl"
    run = await cli("export", "--with-participants", "-o", str(out), env=fake_env(cli_fake))
    assert run.returncode == 0, run.stderr
    # No progress when stderr is not a terminal: only the closing summary line.
    participants = sum(len(ps) for ps in cli_fake.data.participant_summaries.values())
    conferences = len(cli_fake.data.conferences)
    assert run.stderr == f"wrote {conferences} conferences ({participants} participants) to {out}\n"

    lines = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert sorted(line["conference_sid"] for line in lines) == sorted(
        c["conference_sid"] for c in cli_fake.data.conferences
    )
    for line in lines:
        participants = line.pop("participants")
        original = cli_fake.data.conference(line["conference_sid"])
        assert line == original
        assert ConferenceSummary.from_dict(line) == ConferenceSummary.from_dict(original)
        originals = cli_fake.data.participant_summaries[line["conference_sid"]]
        assert participants == originals
        assert [ParticipantSummary.from_dict(p) for p in participants] == [
            ParticipantSummary.from_dict(p) for p in originals
        ]
    assert os.listdir(tmp_path) == ["calls.jsonl"]


async def test_export_csv_flattens_metrics(cli_fake: FakeTwilio, tmp_path: Path) -> None:
    """CSV exports flatten nested metrics into one column per leaf."""
    env = fake_env(cli_fake)
    per_participant, per_conference = await asyncio.gather(
        cli("export", "--with-participants", "-o", str(tmp_path / "p.csv"), env=env),
        cli("export", "-o", str(tmp_path / "c.csv"), env=env),
    )
    assert per_participant.returncode == 0, per_participant.stderr
    assert per_conference.returncode == 0, per_conference.stderr

    with (tmp_path / "p.csv").open(encoding="utf-8", newline="") as stream:
        rows = list(csv.DictReader(stream))
    for column in (
        "conference_sid",
        "conference_friendly_name",
        "participant_sid",
        "label",
        "inbound_mos",
        "inbound_jitter_avg",
        "inbound_packet_loss_percentage",
        "outbound_mos",
        "outbound_jitter_avg",
        "outbound_packet_loss_percentage",
    ):
        assert column in rows[0]
    expected = {p["participant_sid"]: p for p in all_participants(cli_fake)}
    assert sorted(row["participant_sid"] for row in rows) == sorted(expected)
    for row in rows:
        original = expected[row["participant_sid"]]
        metrics = original["metrics"]
        if metrics is None:
            assert row["inbound_mos"] == row["outbound_jitter_avg"] == ""
        else:
            assert float(row["inbound_mos"]) == metrics["inbound"]["mos"]
            assert float(row["outbound_jitter_avg"]) == metrics["outbound"]["jitter"]["avg"]
            assert (
                float(row["inbound_packet_loss_percentage"])
                == metrics["inbound"]["packet_loss_percentage"]
            )
        assert row["conference_sid"] == original["conference_sid"]
        conference = cli_fake.data.conference(row["conference_sid"])
        assert conference is not None
        assert row["conference_friendly_name"] == conference["friendly_name"]
        assert json.loads(row["conference_tags"] or "null") == conference["tags"]

    with (tmp_path / "c.csv").open(encoding="utf-8", newline="") as stream:
        conferences = list(csv.DictReader(stream))
    assert [row["conference_sid"] for row in conferences] == [
        c["conference_sid"] for c in cli_fake.data.conferences
    ]
    assert conferences[0]["detected_issues_call_quality"] == str(
        cli_fake.data.conferences[0]["detected_issues"]["call_quality"]
    )


async def test_report_json_matches_the_data(cli_fake: FakeTwilio) -> None:
    """`report --format json` computes its figures from exactly the served data."""
    run = await cli("report", "--format", "json", env=fake_env(cli_fake))
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)

    conferences = cli_fake.data.conferences
    participants = list(all_participants(cli_fake))
    assert report["conferences"] == len(conferences)
    assert report["participants"] == len(participants)
    assert report["by_status"] == dict(Counter(c["status"] for c in conferences))
    assert report["by_mixer_region"] == dict(
        Counter(c["mixer_region"] or "(none)" for c in conferences)
    )
    assert report["by_tag"] == dict(Counter(t for c in conferences for t in c["tags"] or ()))
    assert report["incomplete_conferences"] == []

    poor = report["poor_participants"]
    assert report["poor_participants_total"] == len(poor) > 0
    mos = [entry["mos"] for entry in poor if entry["mos"] is not None]
    assert mos == sorted(mos)
    by_sid = {p["participant_sid"]: p for p in participants}
    for entry in poor:
        streams = by_sid[entry["participant_sid"]]["metrics"].values()
        assert entry["mos"] == min(s["mos"] for s in streams)
        assert entry["packet_loss_percentage"] == max(s["packet_loss_percentage"] for s in streams)
        assert entry["jitter_avg"] == max(s["jitter"]["avg"] for s in streams)
        assert entry["mos"] < 3.5 or entry["packet_loss_percentage"] > 1 or entry["jitter_avg"] > 30
    measured = sum(1 for p in participants if p["metrics"])
    assert sum(row["participants"] for row in report["mos_by_region"]) == measured
    for row in report["mos_by_region"]:
        assert 1.0 <= row["p10"] <= row["p50"] <= row["p90"] <= 4.5


async def test_report_table(cli_fake: FakeTwilio) -> None:
    """`report --format table` prints every section heading and the conference count."""
    run = await cli("report", "--format", "table", "--top", "3", env=fake_env(cli_fake))
    assert run.returncode == 0, run.stderr
    assert f"{len(cli_fake.data.conferences)} conferences" in run.stdout
    for heading in ("Conferences by status", "Participants with poor quality", "MOS by"):
        assert heading in run.stdout


# -- --demo and fake-server ------------------------------------------------------------------


async def test_demo_runs_every_command_without_credentials(tmp_path: Path) -> None:
    """--demo runs every command against a built-in fake, with no credentials."""
    listed = await cli("--demo", "conferences", "list", "--limit", "40")
    assert listed.returncode == 0, listed.stderr
    conferences = listed.jsonl()
    assert len(conferences) == 40
    sid = next(c["conference_sid"] for c in conferences if (c["unique_participants"] or 0) >= 2)

    participants = await cli("participants", "list", sid, "--demo")  # global option after
    assert participants.returncode == 0, participants.stderr
    summary = participants.jsonl()[0]
    live = await cli("--demo", "live-participants", "list", sid)
    assert live.returncode == 0, live.stderr
    call_sid = live.jsonl()[0]["call_sid"]

    runs = await asyncio.gather(
        cli("--demo", "conferences", "get", sid),
        cli("--demo", "participants", "get", sid, summary["participant_sid"]),
        cli("--demo", "live-participants", "get", sid, call_sid),
        cli("--demo", "report"),
        cli("--demo", "export", "-o", str(tmp_path / "demo.csv")),
        cli("--demo", "report", "--format", "table"),
    )
    for run in runs:
        assert run.returncode == 0, run.stderr
    got, participant, live_one, report, _, table = runs
    # Each --demo run serves on its own port, which the url fields name, and its data is
    # dated up to the moment it starts: the same records, with other timestamps.
    listed_one = next(c for c in conferences if c["conference_sid"] == sid)
    for key in ("conference_sid", "friendly_name", "status", "unique_participants", "tags"):
        assert got.jsonl()[0][key] == listed_one[key]
    for key in ("participant_sid", "call_sid", "label", "metrics"):
        assert participant.jsonl()[0][key] == summary[key]
    assert live_one.jsonl()[0]["call_sid"] == call_sid
    assert json.loads(report.stdout)["conferences"] == 200
    assert "MOS by participant region" in table.stdout
    with (tmp_path / "demo.csv").open(encoding="utf-8", newline="") as stream:
        assert len(list(csv.DictReader(stream))) == 200


async def test_fake_server_subprocess(tmp_path: Path) -> None:
    """`fake-server` prints how to connect, serves, and exits cleanly on Ctrl-C."""
    server = await asyncio.create_subprocess_exec(
        *command("fake-server", "--conferences", "12", "--seed", "5", "--latency", "1"),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=clean_env(),
    )
    try:
        assert server.stdout is not None
        exported: dict[str, str] = {}
        for _ in range(4):
            line = (await asyncio.wait_for(server.stdout.readline(), 20)).decode()
            assert line.startswith("export ")
            name, _, value = line.removeprefix("export ").strip().partition("=")
            exported[name] = shlex.split(value)[0]
        assert set(exported) == {
            "TWILIO_ACCOUNT_SID",
            "TWILIO_AUTH_TOKEN",
            "TWILIO_INSIGHTS_BASE_URL",
            "TWILIO_API_BASE_URL",
        }
        assert exported["TWILIO_INSIGHTS_BASE_URL"].startswith("http://127.0.0.1:")

        env = clean_env(**exported)
        listed, report = await asyncio.gather(
            cli("conferences", "list", env=env), cli("report", env=env)
        )
        assert listed.returncode == 0, listed.stderr
        assert len(listed.jsonl()) == 12
        assert json.loads(report.stdout)["conferences"] == 12
    finally:
        if server.returncode is None:
            server.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(server.communicate(), 20)
    assert server.returncode == 0, stderr.decode()
    assert "Traceback" not in stderr.decode()


# -- interruption leaves no file ---------------------------------------------------------------


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
async def test_interrupted_export_leaves_nothing(
    tmp_path: Path, signum: signal.Signals, status: int
) -> None:
    """An export interrupted by SIGINT or SIGTERM exits 130/143 and leaves no partial file."""
    async with FakeTwilio(conferences=60, participants_per_conference=2, seed=3) as fake:
        fake.latency = 0.1  # some 6 s of requests: it cannot end before it is interrupted
        out = tmp_path / "export.jsonl"
        process = await asyncio.create_subprocess_exec(
            *command("--max-concurrency", "1", "export", "--with-participants", "-o", str(out)),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=fake_env(fake),
        )

        # Wait until the export is mid-way: its temporary file exists and has content.
        def started_writing() -> bool:
            return process.returncode is not None or any(
                p.stat().st_size > 0 for p in entries(tmp_path)
            )

        await wait_until(started_writing, "the export wrote its first records")
        partial = [p for p in entries(tmp_path) if p.stat().st_size > 0]
        assert process.returncode is None, "the export finished before it was interrupted"
        assert partial and partial[0].name.startswith(".export.jsonl.")
        process.send_signal(signum)
        _, stderr = await asyncio.wait_for(process.communicate(), 20)

    assert process.returncode == status, stderr.decode()
    assert "Traceback" not in stderr.decode()
    assert entries(tmp_path) == []


async def test_failed_export_keeps_the_previous_file(cli_fake: FakeTwilio, tmp_path: Path) -> None:
    """A failed export leaves the previous output file untouched."""
    out = tmp_path / "calls.jsonl"
    out.write_text("previous\n", encoding="utf-8")
    env = fake_env(cli_fake, TWILIO_AUTH_TOKEN="wrong")
    run = await cli("export", "-o", str(out), env=env)
    assert run.returncode == 1
    assert out.read_text(encoding="utf-8") == "previous\n"
    assert os.listdir(tmp_path) == ["calls.jsonl"]


# -- exit statuses and messages ------------------------------------------------------------


async def test_usage_errors_exit_2(cli_fake: FakeTwilio, tmp_path: Path) -> None:
    """Bad options and argument values exit 2 with a one-line message and no request."""
    env = fake_env(cli_fake)
    cf = cli_fake.data.conferences[0]["conference_sid"]
    runs = await asyncio.gather(
        cli("--no-such-option", "report", env=env),
        cli("conferences", "list", "--created-after", "last tuesday", env=env),
        cli("conferences", "list", "--status", "finished", env=env),
        cli("conferences", "list", "--page-size", "5000", env=env),
        cli("conferences", "get", "CF123", env=env),
        cli("participants", "get", cf, "CA" + "0" * 32, env=env),
        cli("participants", "list", "not-a-sid", env=env),
        cli("live-participants", "list", cf, "--muted", "maybe", env=env),
        cli("live-participants", "get", "CFxyz", "agent 7", env=env),
        cli("export", "-o", str(tmp_path), env=env),
        cli("report", "--tag", "no_such_tag", env=env),
        cli("--demo", "--insights-base-url", "http://127.0.0.1:1", "report", env=env),
    )
    for run in runs:
        assert run.returncode == 2, (run.stdout, run.stderr)
        assert "Traceback" not in run.stderr
        assert run.stdout == ""
    # Errors found by the SDK (after parsing) are one line.
    for run in runs[2:7]:
        assert_one_line_error(run)
    assert os.listdir(tmp_path) == []


async def test_missing_credentials_exit_2() -> None:
    """Missing credentials exit 2 naming the environment variable that is missing."""
    no_sid, no_token = await asyncio.gather(
        cli("conferences", "list", env=clean_env(TWILIO_AUTH_TOKEN=SECRET)),
        cli("report", env=clean_env(TWILIO_ACCOUNT_SID="AC" + "1" * 32)),
    )
    for run in (no_sid, no_token):
        assert run.returncode == 2
        assert_one_line_error(run)
        assert "TWILIO_ACCOUNT_SID" in run.stderr
        assert "TWILIO_AUTH_TOKEN" in run.stderr
        assert SECRET not in run.stdout + run.stderr


async def test_unknown_conference_exits_1(cli_fake: FakeTwilio) -> None:
    """A 404 exits 1 with a one-line error and nothing on stdout."""
    run = await cli("conferences", "get", "CF" + "0" * 32, env=fake_env(cli_fake))
    assert run.returncode == 1
    assert_one_line_error(run)
    assert "404" in run.stderr
    assert run.stdout == ""


async def test_wrong_credentials_exit_1_and_never_print_the_secret(
    cli_fake: FakeTwilio, tmp_path: Path
) -> None:
    """Wrong credentials exit 1 in every command, and the secret is never printed."""
    env = fake_env(cli_fake, TWILIO_AUTH_TOKEN=SECRET)
    cf = cli_fake.data.conferences[0]["conference_sid"]
    runs = await asyncio.gather(
        cli("conferences", "get", cf, env=env),
        cli("conferences", "list", "--format", "table", env=env),
        cli("participants", "list", cf, env=env),
        cli("live-participants", "list", cf, env=env),
        cli("report", env=env),
        cli("export", "--with-participants", "-o", str(tmp_path / "x.csv"), env=env),
    )
    for run in runs:
        assert run.returncode == 1
        assert_one_line_error(run)
        assert "401" in run.stderr
        assert SECRET not in run.stdout
        assert SECRET not in run.stderr
    assert os.listdir(tmp_path) == []


async def test_retries_are_invisible_but_counted(cli_fake: FakeTwilio) -> None:
    # Transient 503s are retried by the SDK: the command still succeeds.
    """Retried requests do not show in the output; the progress meter counts them."""
    cli_fake.faults.queue(Fault(FaultKind.SERVICE_UNAVAILABLE, retry_after="0"), count=2)
    run = await cli("conferences", "list", "--limit", "1", env=fake_env(cli_fake))
    assert run.returncode == 0, run.stderr
    assert run.jsonl() == cli_fake.data.conferences[:1]

    # The meter counts the client's RetryScheduled events.
    tty = TerminalStream()
    progress = Progress(tty, label="export", enabled=True, interval=0.0)
    cli_fake.faults.queue(Fault(FaultKind.SERVICE_UNAVAILABLE, retry_after="0"), count=2)
    retry = RetryPolicy(initial_backoff=0.001, max_backoff=0.01)
    async with InsightsClient(
        cli_fake.account_sid,
        cli_fake.auth_token,
        insights_base_url=cli_fake.insights_base_url,
        retry=retry,
        hooks=[progress.on_event],
    ) as client:
        await client.conferences.fetch(cli_fake.data.conferences[0]["conference_sid"])
    assert progress.retries == 2


# -- in process: parser, output, export, report, progress --------------------------------


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    """--version and --help print and exit 0; an unknown option exits 2."""
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("twilio-conf-insights ")
    assert main(["--help"]) == 0
    assert "--demo" in capsys.readouterr().out
    assert main(["report", "--bogus"]) == 2
    assert "unrecognized arguments" in capsys.readouterr().err


def test_global_options_go_before_or_after_the_command() -> None:
    """Global options are accepted before or after the command, the last one winning."""
    before = parse_args(["--demo", "--max-concurrency", "4", "report"])
    after = parse_args(["report", "--demo", "--quiet", "--timeout", "2.5"])
    both = parse_args(["--max-concurrency", "4", "report", "--max-concurrency", "8"])
    assert (before.demo, before.max_concurrency, before.quiet) == (True, 4, False)
    assert (after.demo, after.quiet, after.timeout) == (True, True, 2.5)
    assert both.max_concurrency == 8
    assert parse_args(["report", "--tag", "low_mos,high_jitter", "--tag", "high_latency"]).tag == [
        "low_mos",
        "high_jitter",
        "high_latency",
    ]


def test_timestamps_without_offset_are_utc() -> None:
    """Dates and times given without an offset are read as UTC."""
    assert parse_datetime("2025-06-01").isoformat() == "2025-06-01T00:00:00+00:00"
    assert parse_datetime("2025-06-01T08:30").isoformat() == "2025-06-01T08:30:00+00:00"
    assert parse_datetime("2025-06-01T08:30Z").isoformat() == "2025-06-01T08:30:00+00:00"
    assert parse_datetime("2025-06-01T08:30+02:00").isoformat() == "2025-06-01T08:30:00+02:00"


def test_table_cells_are_safe_and_aligned() -> None:
    """Table cells escape control characters and align by display width."""
    assert cell("evil\x1b[2Jname") == "evil\\x1b[2Jname"
    assert cell(None) == ""
    assert cell(True) == "true"
    assert cell(["a", "b"]) == "a, b"
    assert cell({"k": 1}) == '{"k":1}'
    lines = format_table(("name", "n"), [("会议", 5), ("x" * 50, 120)], max_width=10)
    # 会议 is four columns wide; the number column is right-aligned.
    assert lines[2] == "会议" + " " * 10 + "5"
    assert lines[3] == "xxxxxxxxx…  120"


def test_csv_flattening_keeps_unknown_keys() -> None:
    """CSV flattening keeps keys it does not know and non-object values as they are."""
    record = {
        "participant_sid": "CP1",
        "metrics": {
            "inbound": {"mos": 4.1, "jitter": {"avg": 2.5, "max": 9}, "tags": ["silent"]},
            "outbound": None,
        },
        "properties": "not an object",
        "coached_participants": ["CA1"],
        "is_coach": False,
        "brand_new": {"x": 1},
    }
    cells, extra = flatten(record, PARTICIPANT_FIELDS)
    row = dict(zip([field.name for field in PARTICIPANT_FIELDS], cells, strict=True))
    assert row["inbound_mos"] == "4.1"
    assert row["inbound_jitter_avg"] == "2.5"
    assert row["inbound_jitter_max"] == "9"
    assert row["outbound_mos"] == ""
    assert row["coached_participants"] == '["CA1"]'
    assert row["is_coach"] == "false"
    assert row["properties_enter_muted"] == ""
    assert json.loads(extra) == {
        "metrics.inbound.tags": ["silent"],
        "properties": "not an object",
        "brand_new": {"x": 1},
    }
    assert flatten({"conference_sid": "CF1"}, CONFERENCE_FIELDS)[1] == ""
    header = csv_header(with_participants=True)
    assert len(header) == len(set(header))
    assert header[0] == "conference_sid"


def test_csv_columns_cover_every_model_field() -> None:
    """The CSV columns cover every field of the models."""
    for model, fields in (
        (ConferenceSummary, CONFERENCE_FIELDS),
        (ParticipantSummary, PARTICIPANT_FIELDS),
    ):
        top = {field.path[0] for field in fields}
        names = {
            a.metadata.get("json", a.name)
            for a in attrs.fields(model)
            if a.name not in ("extra", "problems", "_raw")
        }
        assert names == top


def test_atomic_output(tmp_path: Path) -> None:
    """Output files appear complete or not at all, even when writing fails."""
    target = tmp_path / "out.txt"
    with atomic_output(target) as stream:
        stream.write("complete\n")
        assert not target.exists()
    assert target.read_text(encoding="utf-8") == "complete\n"

    def interrupted_write() -> None:
        with atomic_output(target) as stream:
            stream.write("partial")
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted_write()
    assert target.read_text(encoding="utf-8") == "complete\n"
    assert os.listdir(tmp_path) == ["out.txt"]


def _summary(sid: str, **fields: Any) -> ConferenceSummary:
    return ConferenceSummary.from_dict({"conference_sid": sid, "friendly_name": sid, **fields})


def _participant(
    sid: str, inbound: dict[str, Any] | None, outbound: dict[str, Any] | None = None, **fields: Any
) -> ParticipantSummary:
    metrics = None if inbound is None else {"inbound": inbound, "outbound": outbound}
    return ParticipantSummary.from_dict({"participant_sid": sid, "metrics": metrics, **fields})


def _stream(mos: float, loss: float = 0.0, jitter: float = 1.0) -> dict[str, Any]:
    return {"mos": mos, "packet_loss_percentage": loss, "jitter": {"avg": jitter, "max": jitter}}


def test_report_computation() -> None:
    """The report's counts, worst-direction quality figures and rankings are computed right."""
    reports = [
        ConferenceReport(
            summary=_summary("CF1", status="completed", mixer_region="us1", tags=["low_mos"]),
            participants=[
                # Worst of the two directions: MOS 3.0 outbound, loss 0.5, jitter 40 inbound.
                _participant("CP1", _stream(4.2, 0.5, 40.0), _stream(3.0, 0.1, 2.0), label="a"),
                _participant("CP2", _stream(4.4), _stream(4.3), participant_region="ie1"),
                _participant("CP3", None),  # never joined: no metrics
            ],
        ),
        ConferenceReport(
            summary=_summary(
                "CF2", status="completed", end_reason="last_participant_left", tags=["low_mos"]
            ),
            participants=[
                _participant("CP4", _stream(4.1, 2.5), conference_region="de1"),
                _participant("CP5", _stream(2.0)),  # no region at all
            ],
        ),
        ConferenceReport(
            summary=_summary("CF3", status="in_progress"),
            participants=[],
            error=RuntimeError("listing failed"),
        ),
    ]
    report = build_report(reports)

    assert report.conferences == 3
    assert report.participants == 5
    assert report.participants_with_metrics == 4
    assert report.by_status == {"completed": 2, "in_progress": 1}
    assert report.by_end_reason == {"(none)": 2, "last_participant_left": 1}
    assert report.by_mixer_region == {"(none)": 2, "us1": 1}
    assert report.by_tag == {"low_mos": 2}
    assert report.incomplete_conferences == ("CF3",)
    poor = report.poor_participants
    assert [p.participant_sid for p in poor] == ["CP5", "CP1", "CP4"]
    assert poor[1].mos == 3.0
    assert poor[1].packet_loss_percentage == 0.5
    assert poor[1].jitter_avg == 40.0
    assert poor[1].problems == ("low_mos", "high_jitter")
    assert (poor[1].conference_sid, poor[1].friendly_name, poor[1].label) == ("CF1", "CF1", "a")
    assert poor[2].problems == ("high_packet_loss",)
    regions = {row.region: row for row in report.mos_by_region}
    assert set(regions) == {"us1", "ie1", "de1", "unknown"}
    assert regions["us1"].participants == 1
    assert regions["us1"].p50 == 3.0
    assert regions["unknown"].p10 == 2.0

    strict = build_report(reports, Thresholds(mos_below=1.0, packet_loss_above=5, jitter_above=50))
    assert strict.poor_participants == ()
    as_json = json.loads(json.dumps(report.to_dict()))
    assert as_json["poor_participants"][0]["problems"] == ["low_mos"]
    assert as_json["thresholds"] == {
        "mos_below": 3.5,
        "packet_loss_above": 1.0,
        "jitter_above": 30.0,
    }


def test_percentiles_interpolate_like_statistics_inclusive() -> None:
    """Percentiles match statistics.quantiles(method="inclusive")."""
    values = sorted([3.1, 4.4, 2.2, 4.0, 3.9, 4.3, 1.5])
    deciles = statistics.quantiles(values, n=10, method="inclusive")
    assert percentile(values, 0.1) == pytest.approx(deciles[0])
    assert percentile(values, 0.5) == pytest.approx(statistics.median(values))
    assert percentile(values, 0.9) == pytest.approx(deciles[8])
    assert percentile([4.2], 0.9) == 4.2
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)


class TerminalStream(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_line() -> None:
    """The progress line shows done/total, rate and retries, and clears itself at the end."""
    now = [100.0]
    tty = TerminalStream()
    progress = Progress(tty, label="export", enabled=True, interval=0.5, clock=lambda: now[0])
    with progress:
        now[0] = 102.0
        progress.advance(10, 40)
        progress.on_event(
            RetryScheduled(method="GET", url="u", attempt=1, wait=0.1, cause="503", cause_type="x")
        )
        now[0] = 102.1  # within the interval: no redraw
        progress.advance(1, 1)
    output = tty.getvalue()
    assert output.endswith("\n")
    assert output.count("\n") == 1
    frames = output.rstrip("\n").split("\r")[1:]
    assert frames[0].startswith("export: 0 conferences")
    assert frames[1] == "export: 10 conferences, 40 participants, 5.0/s, 0 retries, 2.0s"
    assert frames[-1].startswith("export: 11 conferences, 41 participants, 5.2/s, 1 retry, 2.1s")

    assert not Progress.on(io.StringIO(), label="x", quiet=False).enabled
    assert not Progress.on(TerminalStream(), label="x", quiet=True).enabled
    silent = io.StringIO()
    with Progress(silent, label="x", enabled=False) as off:
        off.advance()
    assert silent.getvalue() == ""
