"""``sync --broker``: plan the units, send them to the workers, show progress, add up."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

import tenacity
from taskiq import AsyncTaskiqTask
from taskiq.kicker import AsyncKicker

from .._bulk import map_bounded
from ..sync._engine import DEFAULT_WINDOW, SyncProgress, SyncSummary, plan_sync
from ..sync._store import Store
from ..sync._units import format_time
from ._broker import TASK_NAME, build_broker
from ._unit import UnitOutcome

__all__ = ["UnitFailedError", "sync_with_workers"]

#: Result checks in flight at once while waiting.
_CHECKS = 16
#: Units looked at per round: the oldest outstanding ones. Units finish roughly in the
#: order sent, so polling thousands every round would only spend Redis and CPU time.
_LOOK_AHEAD = 64


class UnitFailedError(Exception):
    """A unit a worker ran could not be synced completely (a re-run picks it up)."""


def _broker_retrying() -> tenacity.AsyncRetrying:
    # Redis restarting: keep trying (backing off up to two seconds) rather than give up
    # on a run the workers are still carrying out.
    return tenacity.AsyncRetrying(
        retry=tenacity.retry_if_exception_type(Exception),
        wait=tenacity.wait_exponential(multiplier=0.1, max=2.0),
        stop=tenacity.stop_after_delay(300),
        reraise=True,
    )


async def _outcome(task: AsyncTaskiqTask[Any]) -> UnitOutcome | None:
    """The unit's outcome once a worker saved it; ``None`` while not (or Redis is away)."""
    try:
        if not await task.is_ready():
            return None
        result = await task.get_result()
    except Exception:  # Redis restarting: look again next round
        return None
    if result.is_err:
        return UnitOutcome(errors=(f"{result.error}",))
    return UnitOutcome.from_dict(result.return_value)


async def sync_with_workers(
    store: Store,
    broker_url: str,
    *,
    window: timedelta = DEFAULT_WINDOW,
    subaccounts: Iterable[str] = (),
    refresh: bool = False,
    now: datetime | None = None,
    on_progress: Callable[[SyncProgress], None] | None = None,
    poll_interval: float = 0.2,
    filters: Mapping[str, Any] | None = None,
) -> SyncSummary:
    """Like :meth:`InsightsClient.sync`, with the units run by workers on ``broker_url``.

    Plans the units (recording them in ``store``, which the workers must share), sends
    each to the queue, and waits until every one has a result, calling ``on_progress``
    as they come in. Delivery is at-least-once; units are idempotent, so the store ends
    exact. Returns the summed :class:`SyncSummary`.
    """
    plan, moment = await plan_sync(
        store, window=window, subaccounts=subaccounts, refresh=refresh, now=now, filters=filters
    )
    broker = build_broker(broker_url)
    async for attempt in _broker_retrying():
        with attempt:
            await broker.startup()
    try:
        kicker: AsyncKicker[Any, Any] = AsyncKicker(TASK_NAME, broker, labels={})
        pending: list[AsyncTaskiqTask[Any]] = []
        for unit in plan.units:
            async for attempt in _broker_retrying():
                with attempt:
                    pending.append(
                        await kicker.kiq(
                            unit=unit.to_dict(), now=format_time(moment), refresh=refresh
                        )
                    )
        outcomes = await _wait(pending, len(plan.units), on_progress, poll_interval)
    finally:
        await broker.shutdown()
    totals = dict.fromkeys(("new", "updated", "settled", "unsettled", "participants"), 0)
    totals |= {"conferences": 0, "skipped": 0, "windows": 0, "windows_closed": 0}
    errors: list[Exception] = []
    for outcome in outcomes:
        for name in totals:
            totals[name] += getattr(outcome, name)
        errors += [UnitFailedError(text) for text in outcome.errors]
    return SyncSummary(**totals, errors=tuple(errors))


async def _wait(
    pending: list[AsyncTaskiqTask[Any]],
    total: int,
    on_progress: Callable[[SyncProgress], None] | None,
    poll_interval: float,
) -> list[UnitOutcome]:
    done: list[UnitOutcome] = []

    def report() -> None:
        if on_progress is not None:
            on_progress(
                SyncProgress(
                    sum(o.windows for o in done),
                    total,
                    sum(o.conferences for o in done),
                    sum(o.conferences - o.skipped for o in done),
                )
            )

    report()
    while pending:
        still: list[AsyncTaskiqTask[Any]] = []
        head, rest = pending[:_LOOK_AHEAD], pending[_LOOK_AHEAD:]
        checks = map_bounded(head, _outcome, concurrency=_CHECKS)
        async with contextlib.aclosing(checks) as results:
            async for task, outcome, _ in results:
                if outcome is None:
                    still.append(task)
                else:
                    done.append(outcome)
        if len(still) != len(head):
            report()
        pending = still + rest
        if len(still) == len(head):  # nothing new among the oldest: wait before looking again
            await asyncio.sleep(poll_interval)
    return done
