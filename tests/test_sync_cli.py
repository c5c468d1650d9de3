"""``sync --db`` as users run it: killed and resumed, two at once, read back offline."""

from __future__ import annotations

import asyncio
import io
import itertools
import os
import signal
import sys
from datetime import timedelta
from pathlib import Path

import attrs

from twilio_conf_insights.cli._sync import SyncMeter
from twilio_conf_insights.sync import SyncProgress
from twilio_conf_insights.testing import FakeTwilio

from .sync_support import (
    assert_store_matches,
    now_utc,
    participant_listings,
    stored,
    sync_fake,
)


@attrs.frozen
class _Done:
    status: int
    stdout: str
    stderr: str


def _env(fake: FakeTwilio) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")}
    env.update(
        TWILIO_ACCOUNT_SID=fake.account_sid,
        TWILIO_AUTH_TOKEN=fake.auth_token,
        TWILIO_INSIGHTS_BASE_URL=fake.insights_base_url,
        TWILIO_API_BASE_URL=fake.api_base_url,
    )
    return env


async def _start(fake: FakeTwilio, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "twilio_conf_insights",
        *args,
        env=_env(fake),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _finish(process: asyncio.subprocess.Process) -> _Done:
    out, err = await asyncio.wait_for(process.communicate(), 300)
    assert process.returncode is not None
    return _Done(process.returncode, out.decode(), err.decode())


async def _cli(fake: FakeTwilio, *args: str) -> _Done:
    return await _finish(await _start(fake, *args))


def _range(fake: FakeTwilio) -> list[str]:
    start = (fake.now - timedelta(days=3, hours=1)).isoformat()
    return ["--created-after", start, "--created-before", fake.now.isoformat()]


async def test_killed_mid_sync_then_resumed_ends_exactly_equal(tmp_path: Path) -> None:
    """SIGKILL during a sync, then a re-run: the store equals the API, for <= 1.25x the requests."""
    async with sync_fake(now=now_utc(), latency=0.005) as fake:
        options = ["--max-concurrency", "4", "-q", "sync", *_range(fake)]
        clean = await _cli(fake, *options, "--db", str(tmp_path / "clean.db"))
        assert clean.status == 0, clean.stderr
        clean_requests = len(fake.requests)
        assert_store_matches(tmp_path / "clean.db", fake)

        fake.reset_stats()
        path = tmp_path / "killed.db"
        process = await _start(fake, *options, "--db", str(path))
        await asyncio.wait_for(fake.wait_for_requests(250, path_contains="/Participants"), 300)
        process.send_signal(signal.SIGKILL)
        killed = await _finish(process)
        assert killed.status == -signal.SIGKILL
        assert "sync:" not in killed.stdout  # nothing reported as done

        resumed = await _cli(fake, *options, "--db", str(path))
        assert resumed.status == 0, resumed.stderr
        assert resumed.stdout.startswith("sync: ")
        assert_store_matches(path, fake)
        assert len(fake.requests) <= 1.25 * clean_requests


async def test_two_syncs_at_once_both_finish_and_the_store_is_exact(tmp_path: Path) -> None:
    """Two syncs of overlapping ranges write one store at once: both exit 0, the store is exact."""
    async with sync_fake(200, now=now_utc(), latency=0.02) as fake:
        path = str(tmp_path / "s.db")
        options = ["--max-concurrency", "2", "-q", "sync", "--db", path]
        first = await _start(fake, *options, *_range(fake))
        await asyncio.wait_for(fake.wait_for_requests(20, path_contains="/Participants"), 300)
        recent = (fake.now - timedelta(days=2)).isoformat()
        second = await _start(fake, *options, "--created-after", recent)
        done = await asyncio.gather(_finish(first), _finish(second))
        for run in done:
            assert run.status == 0, run.stderr
            assert run.stdout.startswith("sync: ")
        assert_store_matches(Path(path), fake)


async def test_default_range_is_the_last_day_then_where_it_left_off(tmp_path: Path) -> None:
    """First run: the last 24 hours; the next run starts where the first ended."""
    async with sync_fake(150, now=now_utc()) as fake:
        path = tmp_path / "s.db"
        first = await _cli(fake, "sync", "--db", str(path))
        assert first.status == 0, first.stderr
        day_ago = (fake.now - timedelta(hours=24, minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        recent = [c["conference_sid"] for c in fake.data.conferences if c["create_time"] >= day_ago]
        assert set(stored(path)[0]) <= set(recent)
        assert len(stored(path)[0]) >= len(recent) - 2  # conferences created in the last minute
        fake.reset_stats()
        second = await _cli(fake, "sync", "--db", str(path))
        assert second.status == 0
        assert set(participant_listings(fake)) <= set(fake.data.processing.unsettled())
        assert "0 new" in second.stdout


async def test_report_and_export_from_the_store_equal_the_api(tmp_path: Path) -> None:
    """report --db and export --db give exactly what report and export give from the API."""
    async with sync_fake(120) as fake:
        fake.data.processing.settle_all()
        path = str(tmp_path / "s.db")
        assert (await _cli(fake, "sync", "--db", path, *_range(fake))).status == 0
        online = await _cli(fake, "report", "-f", "json", *_range(fake))
        offline = await _cli(fake, "report", "--db", path, "-f", "json", *_range(fake))
        assert online.status == offline.status == 0
        assert offline.stdout == online.stdout
        api_file, db_file = tmp_path / "api.jsonl", tmp_path / "db.jsonl"
        args = ["export", "--with-participants", *_range(fake)]
        assert (await _cli(fake, *args, "-o", str(api_file))).status == 0
        assert (await _cli(fake, *args, "--db", path, "-o", str(db_file))).status == 0
        assert _read(db_file) == _read(api_file)
        api_page, db_page = tmp_path / "api.html", tmp_path / "db.html"
        assert (await _cli(fake, "report", *_range(fake), "--html", str(api_page))).status == 0
        html_from_store = await _cli(
            fake, "report", "--db", path, *_range(fake), "--html", str(db_page)
        )
        assert html_from_store.status == 0
        assert f"to {db_page}" in html_from_store.stderr
        assert _page(db_page) == _page(api_page)
        refused = await _cli(fake, "report", "--db", path, "--tag", "high_jitter")
        assert refused.status == 2
        assert "--tag cannot be used with --db" in refused.stderr


def _read(path: Path) -> str:
    return path.read_text()


def _page(path: Path) -> str:
    """An HTML report without its header (where the data came from, when it was made)."""
    page = path.read_text(encoding="utf-8")
    return page[page.index("</header>") :]


async def test_a_non_store_file_is_refused_untouched(tmp_path: Path) -> None:
    """sync --db on a file that is not a store: one line, exit 1, the file as it was."""
    async with sync_fake(5) as fake:
        path = tmp_path / "notes.txt"
        _write(path, "my notes\n")
        done = await _cli(fake, "sync", "--db", str(path))
        assert done.status == 1
        assert done.stderr.count("\n") == 1
        assert "not a twilio-conf-insights store" in done.stderr
        assert _read(path) == "my notes\n"
        assert fake.requests == []


def _write(path: Path, text: str) -> None:
    path.write_text(text)


def test_the_progress_line_shows_windows_and_an_eta() -> None:
    """The meter shows windows done of total, counts, and an ETA from the pace so far."""
    ticks = itertools.chain([0.0], itertools.repeat(10.0))
    stream = io.StringIO()
    meter = SyncMeter(stream, enabled=True, clock=lambda: next(ticks))
    meter.update(SyncProgress(windows_done=2, windows_total=6, conferences=40, fetched=30))
    meter.close()
    assert stream.getvalue().startswith(
        "\rsync: 2/6 windows, 40 conferences, 30 fetched, 10s, ETA 0:20"
    )
    assert stream.getvalue().endswith("\n")
