"""A worker: take units from the queue, sync each into the store, acknowledge when done."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

import tenacity
from redis.exceptions import RedisError
from taskiq import AcknowledgeType
from taskiq.receiver import Receiver

from .._urls import REDIS_SCHEMES, connection_url
from ..sync._store import Store
from ..sync._units import DEFAULT_UNITS_AT_ONCE, WorkUnit, parse_time
from ._broker import build_broker
from ._messages import TASK_NAME
from ._signing import SigningKey
from ._unit import run_unit

if TYPE_CHECKING:
    from .._client import InsightsClient

__all__ = ["run_worker"]

_log = logging.getLogger("twilio_conf_insights.worker")
#: How long a cancelled receiver is given to stop before it is cancelled again, and how
#: long it is cancelled again and again before it is left behind.
_STOP_RETRY = 0.5
_STOP_PATIENCE = 10.0


def _broker_unavailable(error: BaseException | None) -> bool:
    """Whether ``error`` (or every error of a task group's) means Redis cannot be reached.

    Anything else is a bug, not a reason to reconnect for ever under a misleading name.
    """
    if isinstance(error, BaseExceptionGroup):
        return all(_broker_unavailable(inner) for inner in error.exceptions)
    return isinstance(error, RedisError | ConnectionError)


async def run_worker(
    client: InsightsClient,
    store: Store,
    broker_url: str,
    *,
    signing_key: SigningKey,
    units: int = DEFAULT_UNITS_AT_ONCE,
    redeliver_after: float = 60.0,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Run units from ``broker_url`` into ``store`` until cancelled.

    ``signing_key`` must be the planner's (see :class:`SigningKey`): a unit not signed
    with it, malformed, or failing the checks a command line would make (SIDs, filters,
    window bounds, a "now" ahead of this machine's clock) is acknowledged, logged once on
    the ``twilio_conf_insights.worker`` logger and never run. ``units`` run at once; the
    client's limiter bounds their requests together. A unit is acknowledged only after it
    ran, so if this process dies its units go to another worker after ``redeliver_after``
    seconds. When Redis goes away the worker keeps reconnecting (backing off up to two
    seconds) and carries on where the queue is.
    """
    url = connection_url(broker_url, REDIS_SCHEMES, what="Redis")
    broker = build_broker(url, signing_key=signing_key, redeliver_after=redeliver_after)

    async def sync_unit(unit: dict[str, Any], now: str, refresh: bool) -> dict[str, Any]:
        # Checked field by field by the broker before taskiq handed it here.
        outcome = await run_unit(
            client, store, WorkUnit.from_dict(unit), now=parse_time(now), refresh=refresh
        )
        return outcome.to_dict()

    broker.register_task(sync_unit, task_name=TASK_NAME)
    broker.is_worker_process = True
    reconnecting = tenacity.AsyncRetrying(
        retry=tenacity.retry_if_exception(_broker_unavailable),
        wait=tenacity.wait_exponential(multiplier=0.1, max=2.0),
        before_sleep=lambda state: _log.warning(
            "broker unavailable, reconnecting: %s", state.outcome and state.outcome.exception()
        ),
    )
    ready = on_ready
    try:
        async for attempt in reconnecting:
            with attempt:
                await broker.startup()  # (re)declares the consumer group
                if ready is not None:
                    ready()
                    ready = None
                receiver = Receiver(
                    broker,
                    run_startup=False,
                    max_async_tasks=units,
                    # After the unit ran and its result is saved: at-least-once delivery.
                    ack_type=AcknowledgeType.WHEN_SAVED,
                )
                await _until_stopped(receiver.listen(asyncio.Event()))
    finally:
        await broker.shutdown()


async def _until_stopped(listening: Coroutine[Any, Any, None]) -> None:
    """Await ``listening``; cancelled, cancel it until it has stopped, then re-raise.

    One cancellation is not always enough: taskiq's receiver catches its runner's
    CancelledError, and a worker was seen listening on after SIGTERM (in benchmark W8, once,
    stopping at a second SIGTERM), which held up whatever waited for it to end. Further
    cancellations meanwhile (a second SIGTERM, Ctrl-C) do not end the wait: the receiver
    is cancelled again until it stops, or for ``_STOP_PATIENCE`` seconds at most.
    """
    task = asyncio.ensure_future(listening)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        loop = asyncio.get_running_loop()
        until = loop.time() + _STOP_PATIENCE
        while not task.done() and loop.time() < until:
            task.cancel()
            try:
                await asyncio.wait({task}, timeout=_STOP_RETRY)
            except asyncio.CancelledError:
                continue  # asked again to stop: that is what is being done
            if not task.done():
                _log.warning("the receiver is still running; cancelling it again")
        if not task.done():
            _log.error("the receiver did not stop within %s s; leaving it", _STOP_PATIENCE)
        elif not task.cancelled() and task.exception() is not None:
            _log.debug("the receiver stopped with %r", task.exception())
        raise
