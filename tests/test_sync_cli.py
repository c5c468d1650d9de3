"""``sync --db`` as users run it: killed and resumed, two at once, read back offline."""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import pty
import re
import signal
import sqlite3
from contextlib import closing
from datetime import datetime, timedelta
from pathlib import Path

from twilio_conf_insights.testing import FakeTwilio, Fault, FaultKind

from .helpers import SUBACCOUNT, Run, cli, fake_env, finish, start_cli, wait_until
from .sync_support import (
    assert_store_matches,
    now_utc,
    participant_listings,
    stored,
    sync_fake,
)

#: A sync subprocess over hundreds of conferences on a loaded machine: generous.
SLOW = 300.0
#: Holds a request until the test calls ``fake.release_stalls()``.
#: The line every sync ends with on stdout.
SUMMARY = re.compile(
    r"^sync: (?P<new>\d+) new, (?P<updated>\d+) updated, (?P<settled>\d+) settled,"
    r" (?P<unsettled>\d+) still unsettled"
)


async def _cli(fake: FakeTwilio, *args: str) -> Run:
    return await cli(*args, env=fake_env(fake), timeout=SLOW)


def _summary(run: Run) -> dict[str, int]:
    """The counts of a sync's last line on stdout."""
    found = SUMMARY.match(run.stdout.splitlines()[-1])
    assert found is not None, run.stdout
    return {name: int(value) for name, value in found.groupdict().items()}


def _range(fake: FakeTwilio) -> list[str]:
    start = (fake.now - timedelta(days=3, hours=1)).isoformat()
    return ["--created-after", start, "--created-before", fake.now.isoformat()]


async def test_killed_mid_sync_then_resumed_ends_exactly_equal(tmp_path: Path) -> None:
    """SIGKILL during a sync, then a re-run: the store equals the API, for <= 1.25x the requests."""
    async with sync_fake(now=now_utc(), latency=0.005) as fake:
        options = ["--max-concurrency", "4", "-q", "sync", *_range(fake)]
        clean = await _cli(fake, *options, "--db", str(tmp_path / "clean.db"))
        assert clean.returncode == 0, clean.stderr
        clean_requests = len(fake.requests)
        assert_store_matches(tmp_path / "clean.db", fake)

        fake.reset_stats()
        path = tmp_path / "killed.db"
        process = await start_cli(*options, "--db", str(path), env=fake_env(fake))
        await asyncio.wait_for(fake.wait_for_requests(250, path_contains="/Participants"), SLOW)
        process.send_signal(signal.SIGKILL)
        killed = await finish(process)
        assert killed.returncode == -signal.SIGKILL
        assert "sync:" not in killed.stdout  # nothing reported as done

        resumed = await _cli(fake, *options, "--db", str(path))
        assert resumed.returncode == 0, resumed.stderr
        assert resumed.stdout.startswith("sync: ")
        assert_store_matches(path, fake)
        assert len(fake.requests) <= 1.25 * clean_requests


async def test_two_syncs_at_once_both_finish_and_the_store_is_exact(tmp_path: Path) -> None:
    """Two syncs of overlapping ranges write one store at once: both exit 0, the store is exact."""
    async with sync_fake(200, now=now_utc()) as fake:
        path = str(tmp_path / "s.db")
        options = ["--max-concurrency", "2", "-q", "sync", "--db", path]
        first = await start_cli(*options, *_range(fake), env=fake_env(fake))
        await asyncio.wait_for(fake.wait_for_requests(20, path_contains="/Participants"), SLOW)
        # The first sync's next two requests (all it may have in flight) are held until the
        # second has made progress of its own: the two runs overlap, whatever the timing.
        fake.faults.queue(Fault(FaultKind.STALL, stall_seconds=math.inf), count=2)
        await wait_until(lambda: fake.stalled == 2, "the first sync is held")
        recent = (fake.now - timedelta(days=2)).isoformat()
        second = await start_cli(*options, "--created-after", recent, env=fake_env(fake))
        await asyncio.wait_for(fake.wait_for_requests(10, path_contains="/Participants"), SLOW)
        assert first.returncode is None  # still running, held mid-sync
        fake.release_stalls()
        done = await asyncio.gather(finish(first, timeout=SLOW), finish(second, timeout=SLOW))
        for run in done:
            assert run.returncode == 0, run.stderr
            assert run.stdout.startswith("sync: ")
        assert_store_matches(Path(path), fake)


async def test_default_range_is_the_last_day_then_where_it_left_off(tmp_path: Path) -> None:
    """First run: the last 24 hours; the next run starts where the first ended."""
    async with sync_fake(150, now=now_utc()) as fake:
        path = tmp_path / "s.db"
        first = await _cli(fake, "sync", "--db", str(path))
        assert first.returncode == 0, first.stderr
        day_ago = (fake.now - timedelta(hours=24, minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        recent = [c["conference_sid"] for c in fake.data.conferences if c["create_time"] >= day_ago]
        synced = set(stored(path)[0])
        assert synced <= set(recent)
        assert len(synced) >= len(recent) - 2  # conferences created in the last minute
        assert _summary(first)["new"] == len(synced)
        unsettled = synced & set(fake.data.processing.unsettled())
        assert unsettled  # the second run has work to do: fetching these again
        fake.reset_stats()
        second = await _cli(fake, "sync", "--db", str(path))
        assert second.returncode == 0, second.stderr
        assert sorted(participant_listings(fake)) == sorted(unsettled)
        assert _summary(second)["new"] == 0


async def test_report_and_export_from_the_store_equal_the_api(tmp_path: Path) -> None:
    """report --db and export --db give exactly what report and export give from the API."""
    async with sync_fake(120) as fake:
        fake.data.processing.settle_all()
        path = str(tmp_path / "s.db")
        assert (await _cli(fake, "sync", "--db", path, *_range(fake))).returncode == 0
        online = await _cli(fake, "report", "-f", "json", *_range(fake))
        offline = await _cli(fake, "report", "--db", path, "-f", "json", *_range(fake))
        assert online.returncode == offline.returncode == 0
        assert offline.stdout == online.stdout
        api_file, db_file = tmp_path / "api.jsonl", tmp_path / "db.jsonl"
        args = ["export", "--with-participants", *_range(fake)]
        assert (await _cli(fake, *args, "-o", str(api_file))).returncode == 0
        assert (await _cli(fake, *args, "--db", path, "-o", str(db_file))).returncode == 0
        assert _read(db_file) == _read(api_file)
        api_page, db_page = tmp_path / "api.html", tmp_path / "db.html"
        assert (await _cli(fake, "report", *_range(fake), "--html", str(api_page))).returncode == 0
        html_from_store = await _cli(
            fake, "report", "--db", path, *_range(fake), "--html", str(db_page)
        )
        assert html_from_store.returncode == 0
        assert f"to {db_page}" in html_from_store.stderr
        assert _page(db_page) == _page(api_page)
        refused = await _cli(fake, "report", "--db", path, "--tag", "high_jitter")
        assert refused.returncode == 2
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
        assert done.returncode == 1
        assert done.stderr.count("\n") == 1
        assert "not a twilio-conf-insights store" in done.stderr
        assert _read(path) == "my notes\n"
        assert fake.requests == []


def _write(path: Path, text: str) -> None:
    path.write_text(text)


async def test_the_progress_line_shows_windows_and_an_eta(tmp_path: Path) -> None:
    """On a terminal, stderr shows windows done of total, counts and an ETA, ending complete."""
    async with sync_fake(60, unsettled_share=0) as fake:
        terminal, child_end = pty.openpty()
        try:
            process = await start_cli(
                "sync",
                "--db",
                str(tmp_path / "s.db"),
                *_range(fake),
                env=fake_env(fake),
                stderr=child_end,
            )
            os.close(child_end)
            child_end = -1
            done = await finish(process, timeout=SLOW)
            shown = _read_all(terminal)
        finally:
            os.close(terminal)
            if child_end >= 0:
                os.close(child_end)
    assert done.returncode == 0, shown
    lines = [line.strip() for line in shown.replace("\r\n", "\n").split("\r") if line.strip()]
    meter = re.compile(
        r"^sync: (\d+)/(\d+) windows, (\d+) conferences, (\d+) fetched, \d+s, ETA (\?|\d+:\d\d)$"
    )
    drawn = [meter.match(line) for line in lines]
    assert drawn and all(drawn), lines
    last = drawn[-1]
    assert last is not None
    windows_done, windows_total, conferences, fetched = (int(last.group(i)) for i in range(1, 5))
    assert windows_done == windows_total == len(_windows(tmp_path / "s.db"))
    assert conferences == fetched == _summary(done)["new"] == 60
    assert last.group(5) == "0:00"  # nothing left
    assert shown.endswith("\r\n")  # the line is ended, so the shell prompt starts clean


def _read_all(terminal: int) -> str:
    """What the child wrote to the pseudo-terminal (it has exited and closed its end)."""
    chunks = []
    while True:
        try:
            chunk = os.read(terminal, 65536)
        except OSError:  # EIO: no writer left
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode("utf-8")


def _windows(path: Path) -> list[tuple[datetime, datetime]]:
    """The (start, end) of every window a store keeps progress in."""
    with closing(sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True)) as db:
        rows = db.execute("SELECT window_start, window_end FROM sync_windows").fetchall()
    return sorted(
        (datetime.fromisoformat(start), datetime.fromisoformat(end)) for start, end in rows
    )


async def test_window_sets_the_width_of_the_stored_windows(tmp_path: Path) -> None:
    """sync --window 30m keeps its progress in 30-minute windows covering exactly the range."""
    async with sync_fake(80) as fake:
        path = tmp_path / "s.db"
        done = await _cli(fake, "sync", "--db", str(path), *_range(fake), "--window", "30m")
        assert done.returncode == 0, done.stderr
        assert_store_matches(path, fake)
    windows = _windows(path)
    start, end = (datetime.fromisoformat(moment) for moment in _range(fake)[1::2])
    # Contiguous from the range's start to its end, cut at multiples of 30 minutes since
    # the epoch: every window is 30 minutes but the two the range's ends clip.
    assert (windows[0][0], windows[-1][1]) == (start, end)
    assert all(a_end == b_start for (_, a_end), (b_start, _) in itertools.pairwise(windows))
    assert all(edge.timestamp() % 1800 == 0 for _, edge in windows[:-1])
    assert {b - a for a, b in windows[1:-1]} == {timedelta(minutes=30)}


async def test_subaccount_and_status_narrow_what_is_synced(tmp_path: Path) -> None:
    """--subaccount syncs that account's conferences only; --status only those in that status."""
    async with sync_fake(120, subaccount_sid=SUBACCOUNT) as fake:
        by_sub, by_status = tmp_path / "sub.db", tmp_path / "status.db"
        sub = await _cli(
            fake, "sync", "--db", str(by_sub), *_range(fake), "--subaccount", SUBACCOUNT
        )
        status = await _cli(
            fake, "sync", "--db", str(by_status), *_range(fake), "--status", "completed"
        )
        assert sub.returncode == status.returncode == 0, sub.stderr + status.stderr
        of_sub = [
            c["conference_sid"] for c in fake.data.conferences if c["account_sid"] == SUBACCOUNT
        ]
        completed = [
            c["conference_sid"] for c in fake.data.conferences if c["status"] == "completed"
        ]
        assert 0 < len(of_sub) < len(fake.data.conferences)
        assert 0 < len(completed) < len(fake.data.conferences)
        assert_store_matches(by_sub, fake, of_sub)
        assert_store_matches(by_status, fake, completed)


async def test_a_range_partly_fetched_exits_1_and_the_rerun_finishes_it(tmp_path: Path) -> None:
    """A conference whose participants cannot be fetched: exit 1 after the summary line."""
    async with sync_fake(40, unsettled_share=0) as fake:
        victim = fake.data.conferences[7]["conference_sid"]
        fake.faults.queue(
            FaultKind.SERVER_ERROR, count=1000, path_contains=f"{victim}/Participants"
        )
        path = tmp_path / "s.db"
        failed = await _cli(fake, "sync", "--db", str(path), *_range(fake))
        assert failed.returncode == 1, failed.stderr
        assert _summary(failed)["new"] == 39
        assert victim in failed.stderr
        fake.faults.clear()
        again = await _cli(fake, "sync", "--db", str(path), *_range(fake))
        assert again.returncode == 0, again.stderr
        assert_store_matches(path, fake)
