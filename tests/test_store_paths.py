"""``--db`` names a regular file (or nothing yet) or a PostgreSQL URL; anything else is refused.

A FIFO or ``/dev/stdout`` on a pipe used to block the store's thread in a read for ever
(SIGTERM could not stop it), and ``--db /dev/stdout > out.db`` wrote the store into
``out.db``, the summary line over it. Each is now one error line, before anything is
opened. The tests make their FIFOs in a temporary directory and reach ``/dev/stdout`` only
through a CLI subprocess whose stdout is a pipe or a temporary file.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.helpers import PATIENCE, Run, assert_one_line_error, cli, command, fake_env
from twilio_conf_insights.cli import main
from twilio_conf_insights.sync import NotAStoreError
from twilio_conf_insights.sync._open import check_store_path
from twilio_conf_insights.testing import FakeTwilio


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    """A named pipe nobody writes to: reading it blocks for ever."""
    path = tmp_path / "store.fifo"
    os.mkfifo(path)
    return path


@pytest.mark.parametrize(
    "command_line",
    [["sync", "--db", "FIFO"], ["report", "--db", "FIFO"], ["export", "-o", "-", "--db", "FIFO"]],
)
async def test_a_fifo_is_refused_at_once(
    cli_fake: FakeTwilio, fifo: Path, command_line: list[str]
) -> None:
    """`sync --db FIFO` (and report/export): exit 1, one line, instead of hanging for ever."""
    args = [str(fifo) if arg == "FIFO" else arg for arg in command_line]
    run = await cli(*args, env=fake_env(cli_fake))
    assert run.returncode == 1, run.stderr
    assert_one_line_error(run)
    assert "pipe (FIFO)" in run.stderr
    assert cli_fake.requests == []


async def test_a_directory_is_refused(cli_fake: FakeTwilio, tmp_path: Path) -> None:
    """`sync --db DIR`: one line saying it is a directory; nothing written into it."""
    run = await cli("sync", "--db", str(tmp_path), env=fake_env(cli_fake))
    assert run.returncode == 1
    assert_one_line_error(run)
    assert "a directory" in run.stderr
    assert await asyncio.to_thread(os.listdir, tmp_path) == []


async def test_dev_stdout_on_a_pipe_is_refused(cli_fake: FakeTwilio) -> None:
    """`sync --db /dev/stdout | tail`: refused at once (stdout here is the test's pipe)."""
    run = await cli("sync", "--db", "/dev/stdout", env=fake_env(cli_fake))
    assert run.returncode == 1, run.stderr
    assert_one_line_error(run)
    assert "pipe (FIFO)" in run.stderr
    assert run.stdout == ""


async def test_dev_stdout_redirected_to_a_file_is_refused_and_the_file_untouched(
    cli_fake: FakeTwilio, tmp_path: Path
) -> None:
    """`sync --db /dev/stdout > out.db`: refused; out.db stays empty (no store, no summary)."""
    out = tmp_path / "out.db"
    with out.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            *command("sync", "--db", "/dev/stdout"),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=sink,
            stderr=asyncio.subprocess.PIPE,
            env=fake_env(cli_fake),
        )
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=PATIENCE)
    assert process.returncode is not None
    run = Run(process.returncode, "", stderr.decode())
    assert run.returncode == 1, run.stderr
    assert_one_line_error(run)
    assert "this command's stdout" in run.stderr
    assert out.read_bytes() == b""


def test_devices_and_sockets_are_refused_without_opening_them(tmp_path: Path) -> None:
    """A character device or a socket is refused by stat alone (nothing is opened)."""
    with pytest.raises(NotAStoreError, match="character device"):
        check_store_path("/dev/null")
    path = tmp_path / "s.sock"
    with socket.socket(socket.AF_UNIX) as listening:
        listening.bind(str(path))
        with pytest.raises(NotAStoreError, match="socket"):
            check_store_path(str(path))


def test_a_new_path_a_file_and_a_link_to_one_are_stores(tmp_path: Path) -> None:
    """A path that does not exist yet, a regular file, and a symlink to one are accepted."""
    check_store_path(str(tmp_path / "new.db"))
    existing = tmp_path / "existing.db"
    existing.write_bytes(b"")
    check_store_path(str(existing))
    link = tmp_path / "link.db"
    link.symlink_to(existing)
    check_store_path(str(link))


@pytest.fixture
def sync_in_empty_directory(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> Callable[[str], tuple[int, str]]:
    """``sync --db DB`` in this process, in an empty directory: its status and stderr.

    A store taking a URL for a file name would appear in the directory; the caller checks
    it stays empty.
    """
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "0" * 32)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "token-not-used")

    def run(db: str) -> tuple[int, str]:
        status = main(["sync", "--db", db])
        return status, capsys.readouterr().err

    return run


@pytest.mark.parametrize(
    ("db", "shown"),
    [
        ("POSTGRESQL://sync:pw-secret@127.0.0.1:1/insights", "postgresql://sync@127.0.0.1:1"),
        (
            "postgresql+asyncpg://sync:pw-secret@127.0.0.1:1/insights",
            "postgresql://sync@127.0.0.1:1",
        ),
        ("postgres://sync@127.0.0.1:1/insights?password=pw-secret", "password=<redacted>"),
    ],
)
def test_postgres_urls_in_other_spellings_are_postgres_not_file_names(
    sync_in_empty_directory: Callable[[str], tuple[int, str]], tmp_path: Path, db: str, shown: str
) -> None:
    """`--db POSTGRESQL://…` and friends connect to PostgreSQL; no file, no password shown."""
    status, err = sync_in_empty_directory(db)
    assert status == 1
    assert err.count("\n") == 1
    assert "cannot connect to PostgreSQL store" in err and shown in err
    assert "pw-secret" not in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "db",
    [
        "mysql://sync:pw-secret@127.0.0.1/insights",
        "postgresql+psycopg://sync:pw-secret@127.0.0.1/insights",
        "postgresql://sync:pw#secret@127.0.0.1/insights",
        "sqlite:///store.db",
    ],
)
def test_other_urls_are_refused_not_taken_for_files(
    sync_in_empty_directory: Callable[[str], tuple[int, str]], tmp_path: Path, db: str
) -> None:
    """Another database's URL, or a raw # in a password: a usage error; no file, no secret."""
    status, err = sync_in_empty_directory(db)
    assert status == 2
    assert err.count("\n") == 1
    assert "secret" not in err
    assert list(tmp_path.iterdir()) == []
