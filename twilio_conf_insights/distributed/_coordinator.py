"""``sync --broker``: plan the units, send them to the workers, show progress, add up."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
from redis.asyncio import Redis

from .._bulk import map_bounded
from .._closing import ClosedOnExit
from .._errors import InvalidArgumentError
from .._urls import REDIS_SCHEMES, connection_url
from ..sync._engine import DEFAULT_WINDOW, SyncProgress, SyncSummary, plan_sync
from ..sync._store import Store
from ..sync._units import WorkUnit, format_time
from ._broker import RESULTS_CHANNEL, UnitStreamBroker, build_broker, patiently
from ._checks import check_unit
from ._messages import RejectedMessage, UnitMessage
from ._signing import SigningKey
from ._unit import UnitOutcome

__all__ = ["UnitFailedError", "sync_with_workers"]

#: Result checks in flight at once while waiting.
_CHECKS = 16
#: Units looked at per round: the oldest outstanding ones. Units finish roughly in the
#: order sent, so polling thousands every round would only spend Redis and CPU time.
_LOOK_AHEAD = 64
#: How long to wait before subscribing again to the results' announcements once lost.
_RESUBSCRIBE = 1.0
#: Announced results not read yet, at the most (the rest are found by looking).
_ANNOUNCED_AT_MOST = 10_000

_log = logging.getLogger("twilio_conf_insights.distributed")


class UnitFailedError(Exception):
    """A unit a worker ran could not be synced completely (a re-run picks it up)."""


@attrs.frozen
class _Sent:
    """A unit on the queue: its task id (its result's key) and its stream entry."""

    task_id: str
    entry_id: str


def _window(unit: WorkUnit) -> str:
    return f"window {format_time(unit.start)} to {format_time(unit.end)}"


async def sync_with_workers(
    store: Store,
    broker_url: str,
    *,
    signing_key: SigningKey,
    window: timedelta = DEFAULT_WINDOW,
    subaccounts: Iterable[str] = (),
    refresh: bool = False,
    now: datetime | None = None,
    on_progress: Callable[[SyncProgress], None] | None = None,
    poll_interval: float = 0.2,
    filters: Mapping[str, Any] | None = None,
) -> SyncSummary:
    """Like :meth:`InsightsClient.sync`, with the units run by workers on ``broker_url``.

    Plans the units (recording them in ``store``, which the workers must share), signs
    each with ``signing_key`` (the workers' key, see :class:`SigningKey`), sends it to the
    queue, and waits until every one has a result signed with that key, calling
    ``on_progress`` as they come in (a result is read as soon as its worker announces it;
    every ``poll_interval`` the oldest units' results are looked for anyway). A result not
    signed with it is logged once and never counted. A unit the workers would refuse (a
    window Twilio no longer keeps, a "now" far from this machine's clock) is not sent, and
    a unit that left the queue without a result (a worker with another key refused it)
    ends the wait for it: both are errors of the summary. Delivery is at-least-once; units
    are idempotent, so the store ends exact. Returns the summed :class:`SyncSummary`.
    """
    url = connection_url(broker_url, REDIS_SCHEMES, what="Redis")
    plan, moment = await plan_sync(
        store, window=window, subaccounts=subaccounts, refresh=refresh, now=now, filters=filters
    )
    broker = build_broker(url, signing_key=signing_key)
    async for attempt in patiently():
        with attempt:
            await broker.startup()
    try:
        # Listening before any unit is sent: no result is announced too early to be heard.
        async with _Announcements(broker) as announced:
            clock = datetime.now(UTC)
            unsent: list[UnitOutcome] = []
            sent: list[_Sent] = []
            for unit in plan.units:
                try:
                    check_unit(unit, moment, clock=clock)
                except InvalidArgumentError as error:
                    unsent.append(UnitOutcome(errors=(f"{_window(unit)} not sent: {error}",)))
                    continue
                message = UnitMessage(unit=unit, now=moment, refresh=refresh)
                async for attempt in patiently():
                    with attempt:
                        entry_id = await broker.send(message)
                sent.append(_Sent(message.task_id, entry_id))
            waiting = _Waiting(broker, len(plan.units), on_progress, unsent)
            outcomes = await waiting.wait(sent, announced, poll_interval)
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


class _Waiting:
    """The wait for every sent unit's signed result, with progress as they come."""

    def __init__(
        self,
        broker: UnitStreamBroker,
        total: int,
        on_progress: Callable[[SyncProgress], None] | None,
        done: list[UnitOutcome],
    ) -> None:
        self._broker = broker
        self._total = total
        self._on_progress = on_progress
        self.done = list(done)
        self._ignored: set[str] = set()

    def _report(self) -> None:
        if self._on_progress is not None:
            done = self.done
            self._on_progress(
                SyncProgress(
                    sum(o.windows for o in done),
                    self._total,
                    sum(o.conferences for o in done),
                    sum(o.conferences - o.skipped for o in done),
                )
            )

    async def _outcome(self, sent: _Sent) -> UnitOutcome | None:
        """The unit's outcome once a worker saved it; ``None`` while not (or Redis is away)."""
        try:
            return await self._saved_outcome(sent)
        except Exception:  # Redis restarting: look again next round
            return None

    async def _saved_outcome(self, sent: _Sent) -> UnitOutcome | None:
        """The unit's outcome once a worker saved it, ``None`` while not; Redis errors raise."""
        # The backend itself, not taskiq's task handle: that one hides why a read failed.
        results = self._broker.result_backend
        try:
            if not await results.is_result_ready(sent.task_id):
                return None
            result = await results.get_result(sent.task_id)
        except RejectedMessage as forged:
            if sent.task_id not in self._ignored:  # once: it is read again every round
                self._ignored.add(sent.task_id)
                _log.warning("ignored the result of unit %s: %s", sent.task_id, forged)
            return None
        try:
            return UnitOutcome.from_dict(result.return_value)
        except Exception:  # a result that does not read as an outcome counts as none
            return None

    async def _gone(self, waiting: list[_Sent]) -> list[_Sent]:
        """Those of ``waiting`` that left the queue: acknowledged without a signed result."""
        try:
            present = await self._broker.present([sent.entry_id for sent in waiting])
        except Exception:  # Redis restarting: look again next round
            return []
        return [sent for sent, here in zip(waiting, present, strict=True) if not here]

    async def wait(
        self, pending: list[_Sent], announced: _Announcements, poll_interval: float
    ) -> list[UnitOutcome]:
        """Every unit's outcome, in the order they came.

        A round looks at the oldest units (and at those that left the queue); between
        rounds, units whose results are announced are read at once. A round that found
        nothing new is followed by ``poll_interval`` of announcements only.
        """
        self._report()
        waiting = {sent.task_id: sent for sent in pending}
        loop = asyncio.get_running_loop()
        while waiting:
            if await self._look(waiting):
                continue  # results are coming in: look again at once
            until = loop.time() + poll_interval
            while waiting and (left := until - loop.time()) > 0:
                task_ids = await announced.next(left)
                await self._read(waiting, [i for i in task_ids if i in waiting])
        return self.done

    async def _look(self, waiting: dict[str, _Sent]) -> bool:
        """One round over the oldest waiting units; whether it found any outcome."""
        head = list(itertools.islice(waiting.values(), _LOOK_AHEAD))
        outcomes = await self._outcomes(head)
        still = [sent for sent in head if sent.task_id not in outcomes]
        # A worker saves the result before it removes the entry: a unit whose entry is
        # gone and that still has no result was refused unread (or lost with Redis).
        for sent in await self._gone(still):
            try:
                outcome = await self._saved_outcome(sent)
            except Exception:  # Redis restarting: a failed read is no missing result
                continue
            if outcome is None:
                outcome = UnitOutcome(
                    errors=(
                        "a unit left the queue without a result signed with this run's "
                        f"key (fingerprint {self._broker.signing_key.fingerprint}): a worker "
                        "with another key refused it, or Redis lost it; see the workers' logs",
                    )
                )
            outcomes[sent.task_id] = outcome
        self._add(waiting, outcomes)
        return bool(outcomes)

    async def _read(self, waiting: dict[str, _Sent], task_ids: list[str]) -> None:
        """The outcomes of the announced ``task_ids`` (an announcement is only a hint)."""
        if task_ids:
            self._add(waiting, await self._outcomes([waiting[i] for i in task_ids]))

    def _add(self, waiting: dict[str, _Sent], outcomes: dict[str, UnitOutcome]) -> None:
        for task_id in outcomes:
            del waiting[task_id]
        self.done += outcomes.values()
        if outcomes:
            self._report()

    async def _outcomes(self, head: list[_Sent]) -> dict[str, UnitOutcome]:
        found: dict[str, UnitOutcome] = {}
        checks = map_bounded(head, self._outcome, concurrency=_CHECKS)
        async with contextlib.aclosing(checks) as results:
            async for sent, outcome, _ in results:
                if outcome is not None:
                    found[sent.task_id] = outcome
        return found


class _Announcements(ClosedOnExit):
    """Task ids of results as workers announce them (``RESULTS_CHANNEL``), while open.

    Only a hint for reading a result sooner: a message lost (Redis restarting, the
    subscription not yet made, the queue full), garbled or not this run's costs at most
    the wait for the next round of looking, and a failure of the listener never fails
    the sync.
    """

    def __init__(self, broker: UnitStreamBroker) -> None:
        self._broker = broker
        # Every planner of the Redis hears every worker's results: bounded, the rest dropped.
        self._task_ids: asyncio.Queue[str] = asyncio.Queue(maxsize=_ANNOUNCED_AT_MOST)
        self._subscribed = asyncio.Event()
        self._listening: asyncio.Task[None] | None = None

    async def __aenter__(self) -> _Announcements:
        self._listening = asyncio.create_task(self._listen())
        try:
            # Subscribed before the caller goes on, unless Redis is slow to answer: looking
            # for the results covers whatever is announced before.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_RESUBSCRIBE):
                    await self._subscribed.wait()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def aclose(self) -> None:
        """End the listener; what it raised is logged, never the caller's."""
        task = self._listening
        if task is None:
            return
        task.cancel()
        await asyncio.wait({task})
        if not task.cancelled() and (error := task.exception()) is not None:
            _log.warning("results' announcements ended with %r", error)

    async def next(self, within: float) -> list[str]:
        """The task ids announced since the last call, waiting up to ``within`` s for one."""
        try:
            async with asyncio.timeout(within):
                task_ids = [await self._task_ids.get()]
        except TimeoutError:
            return []
        while not self._task_ids.empty():
            task_ids.append(self._task_ids.get_nowait())
        return task_ids

    async def _listen(self) -> None:
        while True:
            try:
                async with (
                    Redis(connection_pool=self._broker.connection_pool) as redis,
                    redis.pubsub() as pubsub,
                ):
                    await pubsub.subscribe(RESULTS_CHANNEL)
                    self._subscribed.set()
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self._heard(message.get("data"))
            except Exception as error:  # a hint lost: looking covers it
                _log.debug("results' announcements lost, looking only: %r", error)
            await asyncio.sleep(_RESUBSCRIBE)

    def _heard(self, data: object) -> None:
        if isinstance(data, bytes):
            data = data.decode(errors="replace")  # a garbled id matches no unit
        if isinstance(data, str):
            with contextlib.suppress(asyncio.QueueFull):
                self._task_ids.put_nowait(data)
