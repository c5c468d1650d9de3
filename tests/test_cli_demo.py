"""The CLI without a Twilio account: --demo for every command, and the fake-server command."""

from __future__ import annotations

import asyncio
import csv
import json
import shlex
import signal
from pathlib import Path

from tests.helpers import clean_env, cli, finish, start_cli


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
    server = await start_cli("fake-server", "--conferences", "12", "--seed", "5", "--latency", "1")
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
        stopped = await finish(server)
    assert stopped.returncode == 0, stopped.stderr
    assert "Traceback" not in stopped.stderr
