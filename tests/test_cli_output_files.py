"""``export -o PATH`` never destroys what is at PATH: pipes, devices, symlinks, file modes."""

from __future__ import annotations

import asyncio
import json
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from twilio_conf_insights import InvalidArgumentError
from twilio_conf_insights.cli._files import infer_format
from twilio_conf_insights.testing import FakeTwilio

from .helpers import Run, assert_one_line_error, cli, fake_env

CONFERENCES = 9


@pytest.fixture
async def small_fake() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio(conferences=CONFERENCES, participants_per_conference=2, seed=5) as fake:
        yield fake


async def export(fake: FakeTwilio, *args: str) -> Run:
    return await cli("export", *args, env=fake_env(fake))


def lines(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


async def test_dash_writes_to_stdout(small_fake: FakeTwilio, tmp_path: Path) -> None:
    """`-o -` writes the records to stdout and creates no file named '-'."""
    run = await cli("export", "-o", "-", env=fake_env(small_fake), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert len(run.stdout.splitlines()) == CONFERENCES
    assert os.listdir(tmp_path) == []
    assert run.stderr == f"wrote {CONFERENCES} conferences to stdout\n"


async def test_fifo_is_written_into_not_replaced(small_fake: FakeTwilio, tmp_path: Path) -> None:
    """A FIFO at the path receives the export and is still a FIFO afterwards."""
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)

    def read_all() -> str:
        with fifo.open(encoding="utf-8") as stream:
            return stream.read()

    received, run = await asyncio.gather(
        asyncio.to_thread(read_all), export(small_fake, "-o", str(fifo))
    )
    assert run.returncode == 0, run.stderr
    assert len(received.splitlines()) == CONFERENCES
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert sorted(os.listdir(tmp_path)) == ["pipe"]


@pytest.mark.skipif(os.geteuid() != 0, reason="creating a character device needs root")
async def test_character_devices_are_written_into_not_replaced(
    small_fake: FakeTwilio, tmp_path: Path
) -> None:
    """A null-like device takes the export; a full one fails naming the path; both survive."""
    null = tmp_path / "null"
    full = tmp_path / "full"
    # Nodes of the kernel's null (1, 3) and full (1, 7) devices, made in the temporary
    # directory: the real /dev nodes are never touched.
    os.mknod(null, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    os.mknod(full, 0o666 | stat.S_IFCHR, os.makedev(1, 7))
    ok, failed = await asyncio.gather(
        export(small_fake, "-o", str(null)), export(small_fake, "-o", str(full))
    )
    assert ok.returncode == 0, ok.stderr
    assert failed.returncode == 1
    assert_one_line_error(failed)
    assert str(full) in failed.stderr
    assert "No space left on device" in failed.stderr
    for node in (null, full):
        assert stat.S_ISCHR(os.lstat(node).st_mode)
    assert sorted(os.listdir(tmp_path)) == ["full", "null"]


async def test_symlink_target_is_replaced_and_the_link_kept(
    small_fake: FakeTwilio, tmp_path: Path
) -> None:
    """Through a symlink (a chain of two), the target gets the export and the links stay."""
    (tmp_path / "data").mkdir()
    target = tmp_path / "data" / "calls.jsonl"
    target.write_text("old\n", encoding="utf-8")
    middle = tmp_path / "middle.jsonl"
    middle.symlink_to(target)
    link = tmp_path / "calls.jsonl"
    link.symlink_to(middle)
    run = await export(small_fake, "-o", str(link))
    assert run.returncode == 0, run.stderr
    assert link.is_symlink() and os.readlink(link) == str(middle)
    assert middle.is_symlink() and os.readlink(middle) == str(target)
    assert not target.is_symlink()
    assert len(lines(target)) == CONFERENCES
    assert sorted(os.listdir(tmp_path / "data")) == ["calls.jsonl"]


async def test_dangling_symlink_creates_its_target(small_fake: FakeTwilio, tmp_path: Path) -> None:
    """A symlink to a file not yet there: the file is created, the link kept."""
    target = tmp_path / "new.jsonl"
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    run = await export(small_fake, "-o", str(link))
    assert run.returncode == 0, run.stderr
    assert link.is_symlink()
    assert len(lines(target)) == CONFERENCES


async def test_replaced_file_keeps_its_mode(small_fake: FakeTwilio, tmp_path: Path) -> None:
    """A private (0600) file stays 0600 after the export replaces it; a new one follows umask."""
    private = tmp_path / "private.csv"
    private.write_text("old\n", encoding="utf-8")
    private.chmod(0o600)
    group = tmp_path / "group.jsonl"
    group.write_text("old\n", encoding="utf-8")
    group.chmod(0o640)
    new = tmp_path / "new.jsonl"
    runs = await asyncio.gather(
        export(small_fake, "-o", str(private)),
        export(small_fake, "-o", str(group)),
        export(small_fake, "-o", str(new)),
    )
    for run in runs:
        assert run.returncode == 0, run.stderr
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert stat.S_IMODE(group.stat().st_mode) == 0o640
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(new.stat().st_mode) == 0o666 & ~umask
    assert private.read_text(encoding="utf-8").startswith("conference_sid,")


async def test_errors_name_the_users_path(small_fake: FakeTwilio, tmp_path: Path) -> None:
    """A missing directory is reported with the path given, never a temporary name."""
    wanted = tmp_path / "no-such-dir" / "out.jsonl"
    run = await export(small_fake, "-o", str(wanted))
    assert run.returncode == 1
    assert_one_line_error(run)
    assert str(wanted) in run.stderr
    assert ".tmp" not in run.stderr


async def test_json_extension_writes_a_json_array(small_fake: FakeTwilio, tmp_path: Path) -> None:
    """`-o x.json` writes one JSON array, not JSON Lines."""
    out = tmp_path / "x.json"
    run = await export(small_fake, "--with-participants", "-o", str(out))
    assert run.returncode == 0, run.stderr
    records = json.loads(out.read_text(encoding="utf-8"))
    assert isinstance(records, list) and len(records) == CONFERENCES
    assert all(len(record["participants"]) == 2 for record in records)
    assert run.stderr == (
        f"wrote {CONFERENCES} conferences ({2 * CONFERENCES} participants) to {out}\n"
    )


async def test_format_mismatches_are_usage_errors(small_fake: FakeTwilio, tmp_path: Path) -> None:
    """A directory path, an unknown extension or a contrary --format: exit 2, nothing written."""
    runs = await asyncio.gather(
        export(small_fake, "-o", f"{tmp_path}/out.csv/"),
        export(small_fake, "-o", str(tmp_path / "x.txt")),
        export(small_fake, "-o", str(tmp_path / "x.csv"), "--format", "jsonl"),
    )
    for run in runs:
        assert run.returncode == 2, run.stderr
        assert "-o/--output" in run.stderr
    assert os.listdir(tmp_path) == []


def test_format_inference() -> None:
    """The extension picks the format; --format agrees with it or names one for a bare path."""
    assert infer_format("x.CSV", None) == "csv"
    assert infer_format("x.json", None) == "json"
    assert infer_format("x.jsonl", None) == "jsonl"
    assert infer_format("-", None) == "jsonl"
    assert infer_format("-", "csv") == "csv"
    assert infer_format("pipe", "json") == "json"
    assert infer_format("x.txt", "csv") == "csv"
    with pytest.raises(InvalidArgumentError, match="says csv, but --format says jsonl"):
        infer_format("x.csv", "jsonl")
