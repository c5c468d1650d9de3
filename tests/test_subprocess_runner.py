"""The tests' one subprocess runner never leaves a child running behind a test."""

from __future__ import annotations

import asyncio
import contextlib
import signal

import pytest

from .helpers import finish, settle, start_cli


async def test_a_child_that_does_not_exit_in_time_is_killed_and_fails_the_test() -> None:
    """Past its timeout, a CLI that never exits (a server) is killed and the wait fails."""
    process = await start_cli("fake-server", "--conferences", "1")
    with pytest.raises(AssertionError, match=rf"process {process.pid} did not exit within"):
        await finish(process, timeout=0.5)
    assert process.returncode == -signal.SIGKILL


async def test_a_test_that_stops_waiting_kills_its_child() -> None:
    """A wait cancelled before the child exits (the suite's time limit, a failed gather)
    kills the child instead of leaving it running after the test."""
    process = await start_cli("fake-server", "--conferences", "1")
    try:
        waiting = asyncio.create_task(finish(process))
        await settle()  # the wait is reading the child's output
        waiting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiting
        assert process.returncode == -signal.SIGKILL
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
