"""Bulk fetching: a bounded, lazy, cancellable fan-out over any (async) iterable.

:func:`map_bounded` is the one engine behind ``conferences.fetch_many`` and
``client.conference_reports``; it knows nothing of Twilio (what those calls yield lives in
:mod:`._results`). It reads its input only as capacity frees up (so an endless
generator works), keeps at most ``concurrency`` tasks alive, turns each item's failure into
a result instead of ending the stream, and cancels and awaits every task it started when
the consumer stops early or is cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
)
from typing import Any, TypeVar

from ._validation import positive_int

__all__ = ["map_bounded"]

In = TypeVar("In")
Out = TypeVar("Out")


async def _aiter(source: Iterable[In] | AsyncIterable[In]) -> AsyncGenerator[In, None]:
    if isinstance(source, AsyncIterable):
        iterator: AsyncIterator[In] = aiter(source)
        try:
            async for item in iterator:
                yield item
        finally:
            close = getattr(iterator, "aclose", None)
            if close is not None:
                await close()
    else:
        for item in source:
            yield item


async def map_bounded(
    source: Iterable[In] | AsyncIterable[In],
    work: Callable[[In], Awaitable[Out]],
    *,
    concurrency: int,
    ordered: bool = False,
) -> AsyncGenerator[tuple[In, Out | None, Exception | None], None]:
    """Run ``work`` on each input with at most ``concurrency`` at once; yield outcomes.

    Yields ``(input, result, None)`` or ``(input, None, error)`` as each completes, or in
    input order with ``ordered=True`` (then at most ``2 * concurrency`` inputs are read
    ahead of the next one due, which bounds the reorder buffer).
    """
    positive_int(concurrency, "concurrency")
    inputs = _aiter(source)
    running: dict[asyncio.Future[Any], tuple[int, In]] = {}
    # Finished tasks announce themselves here: O(1) per completion, where asyncio.wait
    # would re-register callbacks on every running task each time one finishes.
    finished: asyncio.Queue[asyncio.Future[Any]] = asyncio.Queue()
    done_early: dict[int, tuple[In, Out | None, Exception | None]] = {}
    read = 0
    next_due = 0
    exhausted = False
    window = 2 * concurrency
    try:
        while True:
            while (
                not exhausted
                and len(running) < concurrency
                and (not ordered or read - next_due < window)
            ):
                try:
                    item = await anext(inputs)
                except StopAsyncIteration:
                    exhausted = True
                    break
                task = asyncio.ensure_future(work(item))
                task.add_done_callback(finished.put_nowait)
                running[task] = (read, item)
                read += 1
            if not running:
                return
            done = await finished.get()
            index, item = running.pop(done)
            error = done.exception()
            if error is not None and not isinstance(error, Exception):
                raise error  # KeyboardInterrupt and friends are not per-item failures
            outcome = (item, None, error) if error is not None else (item, done.result(), None)
            if not ordered:
                yield outcome
                continue
            done_early[index] = outcome
            while next_due in done_early:
                yield done_early.pop(next_due)
                next_due += 1
    finally:
        for leftover in running:
            leftover.cancel()
        if running:
            await asyncio.gather(*running, return_exceptions=True)
        with contextlib.suppress(Exception):
            await inputs.aclose()
