"""A cancelled worker stops even when a library below it swallows a cancellation."""

from __future__ import annotations

import asyncio

import pytest

from twilio_conf_insights.distributed._worker import _until_stopped


async def test_a_receiver_that_swallows_a_cancellation_is_cancelled_until_it_stops() -> None:
    """The listening coroutine ignores the first cancellation (as taskiq's runner may): the
    worker cancels it again, waits for it to end, and still ends cancelled itself."""
    started = asyncio.Event()
    swallowed = asyncio.Event()
    ended = asyncio.Event()

    async def stubborn_listener() -> None:
        started.set()
        try:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                swallowed.set()  # swallowed: goes on listening
            await asyncio.Event().wait()
        finally:
            ended.set()

    worker = asyncio.create_task(_until_stopped(stubborn_listener()))
    await started.wait()
    worker.cancel()
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(30):
            await worker
    assert swallowed.is_set() and ended.is_set()


async def test_a_second_cancellation_while_stopping_still_waits_for_the_receiver() -> None:
    """Cancelled twice (a second SIGTERM) while its receiver ignores the first cancellation,
    the worker still cancels the receiver until it has ended, then ends cancelled."""
    swallowed = asyncio.Event()
    ended = asyncio.Event()

    async def stubborn_listener() -> None:
        try:
            for _ in range(2):  # ignores the first two cancellations
                try:
                    await asyncio.Event().wait()
                except asyncio.CancelledError:
                    swallowed.set()
            await asyncio.Event().wait()
        finally:
            ended.set()

    worker = asyncio.create_task(_until_stopped(stubborn_listener()))
    await asyncio.sleep(0)
    worker.cancel()
    await swallowed.wait()
    worker.cancel()  # the second SIGTERM, while the worker is stopping its receiver
    with pytest.raises(asyncio.CancelledError):
        async with asyncio.timeout(30):
            await worker
    assert ended.is_set()


async def test_a_receiver_that_ends_or_fails_by_itself_is_awaited_as_is() -> None:
    """Not cancelled, the listener's own end (or error) is the worker's."""

    async def ends() -> None:
        await asyncio.sleep(0)

    async def fails() -> None:
        raise ConnectionError("Redis went away")

    await _until_stopped(ends())
    with pytest.raises(ConnectionError, match="went away"):
        await _until_stopped(fails())
