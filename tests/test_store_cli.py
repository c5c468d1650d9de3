"""``sync --db`` against stores that cannot be written: one line, status 1, the store intact.

The limits are real (see ``tests/store_limits.py``): a read-only file system, a file size
limit reached in the middle of the sync.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path

from twilio_conf_insights.testing import FakeTwilio

from .helpers import PATIENCE, Run, assert_one_line_error, command, fake_env
from .store_limits import file_size_limit, read_only_to
from .sync_support import assert_store_matches, now_utc, stored, sync_fake


async def _sync(
    fake: FakeTwilio,
    path: Path,
    *,
    prefix: Sequence[str] = (),
    preexec_fn: Callable[[], None] | None = None,
) -> Run:
    """``sync --db PATH`` over all of the fake's data, in a child process."""
    span = ["--created-after", (fake.now - timedelta(days=3, hours=1)).isoformat()]
    process = await asyncio.create_subprocess_exec(
        *prefix,
        *command("-q", "sync", *span, "--db", str(path)),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=fake_env(fake),
        preexec_fn=preexec_fn,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=PATIENCE)
    assert process.returncode is not None
    return Run(process.returncode, out.decode(), err.decode())


def _integrity(path: Path) -> str:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return str(db.execute("PRAGMA integrity_check").fetchone()[0])


def _files(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


async def test_sync_into_a_read_only_store_is_one_line(tmp_path: Path) -> None:
    """A store on a read-only file system: status 1, one line naming it, nothing changed."""
    directory = tmp_path / "ro"
    directory.mkdir()
    path = directory / "s.db"
    async with sync_fake(40, now=now_utc()) as fake:
        first = await _sync(fake, path)
        assert first.returncode == 0, first.stderr
        before = _files(directory)
        fake.reset_stats()
        with read_only_to(directory) as prefix:
            run = await _sync(fake, path, prefix=prefix)
    assert run.returncode == 1
    assert_one_line_error(run)
    assert f"error: store {path} is read-only" in run.stderr
    assert run.stdout == ""
    assert fake.requests == []  # refused before anything was fetched
    assert _files(directory) == before


async def test_sync_into_a_full_store_is_one_line_and_keeps_what_it_committed(
    tmp_path: Path,
) -> None:
    """The file size limit reached mid-sync: status 1, one line, committed records exact."""
    path = tmp_path / "s.db"
    async with sync_fake(600, now=now_utc()) as fake:
        for conference in fake.data.conferences:  # about 9 MB of participant summaries
            for participant in fake.data.participant_summaries[conference["conference_sid"]]:
                participant["label"] = "x" * 2000
        run = await _sync(fake, path, preexec_fn=file_size_limit(4 * 1024 * 1024))
        assert run.returncode == 1, run.stderr
        assert_one_line_error(run)
        assert f"error: store {path}: disk full (the file size limit is reached)" in run.stderr
        assert _integrity(path) == "ok"
        conferences, _ = stored(path)
        assert 0 < len(conferences) < 600
        assert_store_matches(path, fake, sorted(conferences))
