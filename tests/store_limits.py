"""Real limits for store tests: a file the process cannot write, a file that cannot grow.

Nothing is simulated inside the store: the limit is the operating system's, and the code
under test runs in a child process that has it.

* :func:`read_only_to` makes a directory read-only to the commands run with the prefix it
  yields. As root, permission bits stop nothing, so it uses a read-only bind mount in a
  private mount namespace (``unshare --mount``; nothing outside the command sees it), or
  else the immutable attribute (``chattr +i``). A machine where neither works fails the test
  with what was tried, rather than skipping it.
* :func:`file_size_limit` is a ``preexec_fn`` setting ``RLIMIT_FSIZE`` with ``SIGXFSZ``
  ignored: a write past the limit fails with ``EFBIG`` instead of killing the process.
"""

from __future__ import annotations

import contextlib
import functools
import os
import resource
import shutil
import signal
import stat
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

__all__ = ["file_size_limit", "read_only_to"]

#: Seconds a probe of the machine (unshare, mount, chattr) may take before it counts as failed.
_COMMAND_TIMEOUT = 60
# Bind the directory onto itself read-only, in the command's own mount namespace, then run it.
_BIND_READ_ONLY = '"$1" --bind -o ro "$0" "$0" && shift && exec "$@"'


def _mount_prefix(directory: Path) -> list[str] | None:
    found = [shutil.which(name) for name in ("unshare", "sh", "mount")]
    if None in found:
        return None
    unshare, sh, mount = (str(path) for path in found)
    return [unshare, "--mount", "--", sh, "-c", _BIND_READ_ONLY, str(directory), mount]


def _why_not(command: list[str], what: str) -> str | None:
    """Run a probe of the machine: ``None`` if it succeeded, else why not, in one line."""
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, check=False, timeout=_COMMAND_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        return f"{what} did not finish in {_COMMAND_TIMEOUT} s"
    return None if done.returncode == 0 else f"{what} failed: {done.stderr.strip()!r}"


@functools.cache
def _bind_mount_works() -> str | None:
    """``None`` if a read-only bind mount in a new mount namespace works here, else why not."""
    if _mount_prefix(Path("/")) is None:
        return "unshare, mount or sh is not installed"
    with tempfile.TemporaryDirectory() as directory:
        probe = _mount_prefix(Path(directory))
        assert probe is not None
        touch = [*probe, "/bin/sh", "-c", '! touch "$0/probe" 2>/dev/null', directory]
        return _why_not(touch, "unshare/mount")


def _chattr(flag: str, paths: list[Path]) -> str | None:
    chattr = shutil.which("chattr")
    if chattr is None:
        return "chattr is not installed"
    return _why_not([chattr, flag, *map(str, paths)], f"chattr {flag}")


@contextlib.contextmanager
def read_only_to(directory: Path) -> Iterator[list[str]]:
    """Make ``directory`` and its files read-only to commands run as ``[*prefix, *argv]``."""
    files = sorted(directory.iterdir())
    if os.geteuid() != 0:  # permission bits are enough for anyone but root
        modes = {path: path.stat().st_mode for path in [directory, *files]}
        for path in [*files, directory]:
            path.chmod(stat.S_IMODE(modes[path]) & ~0o222)
        try:
            yield []
        finally:
            for path, mode in modes.items():
                path.chmod(stat.S_IMODE(mode))
        return
    why_not_mount = _bind_mount_works()
    prefix = _mount_prefix(directory)
    if why_not_mount is None and prefix is not None:
        yield prefix
        return
    why_not_chattr = _chattr("+i", files)
    if why_not_chattr is not None:
        pytest.fail(
            "cannot make a file read-only to root here: "
            f"a read-only bind mount ({why_not_mount}) and chattr +i ({why_not_chattr}) both "
            "failed; run as another user, or where one of them works"
        )
    try:
        yield []
    finally:
        _chattr("-i", files)


def file_size_limit(limit: int) -> Callable[[], None]:
    """A ``preexec_fn``: no file may grow past ``limit`` bytes (``EFBIG``, not ``SIGXFSZ``)."""

    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # stays ignored across exec
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply
