"""``report --html PATH`` writes its page as every output file is written.

A replaced file keeps its mode, a symlink stays a link with its target replaced, a FIFO is
written into and stays a FIFO (see ``cli/_files.py``).
"""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

import pytest

from twilio_conf_insights.sync import ConferenceRecord, SQLiteStore
from twilio_conf_insights.testing import FakeData

from .helpers import PATIENCE, Run, clean_env, cli

PAGE_START = "<!DOCTYPE html>"


@pytest.fixture
async def store(tmp_path: Path) -> str:
    """A small store to report on, offline."""
    data = FakeData(conferences=8, participants_per_conference=2, seed=3)
    path = tmp_path / "store.db"
    async with SQLiteStore(path) as opened:
        await opened.write(
            [
                ConferenceRecord(c, data.participant_summaries[c["conference_sid"]])
                for c in data.conferences
            ]
        )
    return str(path)


async def _report(store: str, target: Path) -> Run:
    return await cli("report", "--db", store, "--html", str(target), env=clean_env())


def _outputs(directory: Path) -> list[str]:
    """The files in ``directory`` besides the store (and its -wal and -shm)."""
    return sorted(name for name in os.listdir(directory) if not name.startswith("store.db"))


def _text(path: Path) -> str:
    return path.read_text(encoding="utf-8")


async def test_a_private_page_stays_private(store: str, tmp_path: Path) -> None:
    """A 0600 page replaced by a new report is still 0600 (it names participants)."""
    page = tmp_path / "report.html"
    page.write_text("old")
    page.chmod(0o600)
    run = await _report(store, page)
    assert run.returncode == 0, run.stderr
    assert _text(page).lstrip().startswith(PAGE_START)
    assert stat.S_IMODE(page.stat().st_mode) == 0o600
    assert _outputs(tmp_path) == ["report.html"]


async def test_a_symlink_stays_a_link_and_its_target_is_replaced(
    store: str, tmp_path: Path
) -> None:
    """--html through a symlink: the link is kept, the file it points to gets the page."""
    target = tmp_path / "pages" / "latest.html"
    target.parent.mkdir()
    target.write_text("old")
    link = tmp_path / "report.html"
    link.symlink_to(target)
    run = await _report(store, link)
    assert run.returncode == 0, run.stderr
    assert link.is_symlink()
    assert link.resolve() == target
    assert _text(target).lstrip().startswith(PAGE_START)


async def test_a_fifo_is_written_into_not_replaced(store: str, tmp_path: Path) -> None:
    """--html to a named pipe: the reader gets the whole page, the pipe is still a pipe."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=2**30)
    # Opened for reading first, without blocking: the report then opens it for writing.
    fd = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0)
    )
    try:
        # A report that replaced the pipe never writes into it: no end of file, the deadline.
        run, page = await asyncio.gather(
            _report(store, fifo), asyncio.wait_for(reader.read(), PATIENCE)
        )
    finally:
        transport.close()
    assert run.returncode == 0, run.stderr
    assert page.decode().lstrip().startswith(PAGE_START)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert _outputs(tmp_path) == ["pipe"]
