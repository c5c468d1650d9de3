"""The taskiq broker of the runner: a Redis stream of signed units, acknowledged after they ran.

taskiq-redis's :class:`~taskiq_redis.RedisStreamBroker` reads tasks through a Redis
consumer group and acknowledges (``XACK``) a task once it has run and its result is
saved, so a task whose worker died stays pending; after ``idle_timeout`` another worker
claims it (``XAUTOCLAIM``) and runs it again. :class:`UnitStreamBroker` changes four
things:

* it looks for such orphans after an empty read too (taskiq-redis looks only after a read
  that returned new tasks: once the queue is drained, a killed worker's last units would
  wait for ever);
* every entry is checked before taskiq sees it (:func:`._messages.read_unit_message`):
  one that is malformed, not signed with the run's key, or whose unit fails the checks is
  acknowledged, logged once and never run (a signed one gets a signed "refused" result, so
  its planner does not wait for it); taskiq is handed a message rebuilt from the checked
  fields only, so nothing unchecked (a label, an argument) reaches it;
* an acknowledged entry is deleted (``XDEL``), so the stream holds only units not done yet;
* it sends units itself (:meth:`UnitStreamBroker.send`), learning each entry's id, so a
  planner can tell a unit that was refused from one still waiting.

:class:`SignedResultBackend` signs every result it saves and verifies every result it
reads: a result written by anyone without the key is never taken for a unit's outcome.
Once a result is saved, its task id is published on :data:`RESULTS_CHANNEL`, so that a
waiting planner reads it at once rather than at its next look (the message is a hint:
the planner still verifies the result, and still looks by itself should messages be lost).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import tenacity
from redis.asyncio import Redis
from redis.exceptions import RedisError
from taskiq import AckableMessage, TaskiqResult
from taskiq.serializers import JSONSerializer
from taskiq_redis import RedisAsyncResultBackend, RedisStreamBroker

from .._redaction import redact
from ._messages import RejectedMessage, UnitMessage, read_result, read_unit_message, signed_result
from ._signing import SigningKey
from ._unit import UnitOutcome

__all__ = [
    "CONSUMER_GROUP",
    "RESULTS_CHANNEL",
    "UNITS_STREAM",
    "SignedResultBackend",
    "UnitStreamBroker",
    "build_broker",
    "patiently",
]

#: The Redis stream the units travel on (read it with ``XRANGE``; see :func:`queue_status`).
UNITS_STREAM = "twilio-conf-insights:units"
#: The consumer group every worker reads the stream through.
CONSUMER_GROUP = "twilio-conf-insights"
#: The channel on which a worker publishes a unit's task id once its result is saved.
RESULTS_CHANNEL = "twilio-conf-insights:results"
#: Results are kept this long (seconds) for a waiting ``sync`` to read.
RESULT_TTL = 7 * 86400
#: Longest line a refused entry's reason is logged with.
_REASON_LENGTH = 300

_log = logging.getLogger("twilio_conf_insights.worker")


def patiently() -> tenacity.AsyncRetrying:
    """Retrying while Redis restarts: backing off up to two seconds, for up to five minutes."""
    return tenacity.AsyncRetrying(
        retry=tenacity.retry_if_exception_type(RedisError),
        wait=tenacity.wait_exponential(multiplier=0.1, max=2.0),
        stop=tenacity.stop_after_delay(300),
        reraise=True,
    )


class SignedResultBackend(RedisAsyncResultBackend[Any]):
    """Results as signed :class:`UnitOutcome` s; saved even across a Redis restart.

    Every result saved is a signed outcome, announced on :data:`RESULTS_CHANNEL`: a task
    that raised becomes an outcome with that error, so its planner counts it rather than
    waiting. Reading a result that is not signed with this key (or is signed for another
    unit) raises :class:`RejectedMessage`.
    taskiq acknowledges a task after trying to save its result, saved or not: saving
    retries for up to five minutes, so a result is not lost while Redis restarts.
    """

    def __init__(self, url: str, *, signing_key: SigningKey) -> None:
        super().__init__(
            url,
            result_ex_time=RESULT_TTL,
            prefix_str="twilio-conf-insights",
            serializer=JSONSerializer(),  # not pickle: a result read back runs no code
        )
        self._key = signing_key

    async def set_result(self, task_id: str, result: TaskiqResult[Any]) -> None:
        """Sign the outcome and save it, retrying (backing off up to two seconds)."""
        outcome = result.return_value
        if result.is_err or not isinstance(outcome, dict):
            error = result.error
            text = f"{type(error).__name__}: {error}" if error is not None else "no outcome"
            outcome = UnitOutcome(errors=(text,)).to_dict()
        signed = TaskiqResult[Any](
            is_err=False,
            return_value=signed_result(self._key, task_id, outcome),
            execution_time=result.execution_time,
        )
        async for attempt in patiently():
            with attempt:
                await super().set_result(task_id, signed)
        try:
            async with Redis(connection_pool=self.redis_pool) as redis:
                await redis.publish(RESULTS_CHANNEL, task_id)
        except RedisError as error:  # saved: the planner's next look finds it
            _log.debug("could not announce the result of unit %s: %r", task_id, error)

    async def get_result(self, task_id: str, with_logs: bool = False) -> TaskiqResult[Any]:
        """The saved result, its ``return_value`` the verified outcome (a dict)."""
        result = await super().get_result(task_id, with_logs)
        if result.is_err:
            raise RejectedMessage("the result is an error, which no worker of a run saves")
        outcome = read_result(self._key, task_id, result.return_value)
        return TaskiqResult[Any](
            is_err=False, return_value=outcome, execution_time=result.execution_time
        )


def _entry_name(entry_id: bytes | str) -> str:
    return entry_id.decode() if isinstance(entry_id, bytes) else entry_id


class UnitStreamBroker(RedisStreamBroker):
    """The units' Redis stream: checked on receipt, trimmed on acknowledgement."""

    def __init__(
        self,
        url: str,
        *,
        signing_key: SigningKey,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        **options: Any,
    ) -> None:
        super().__init__(
            url, queue_name=UNITS_STREAM, consumer_group_name=CONSUMER_GROUP, **options
        )
        self._key = signing_key
        self._clock = clock

    @property
    def signing_key(self) -> SigningKey:
        """The key every unit and result on this stream is signed with."""
        return self._key

    async def send(self, message: UnitMessage) -> str:
        """Sign ``message`` and add it to the stream; the new entry's id."""
        body = self.formatter.dumps(message.taskiq_message(self._key)).message
        async with Redis(connection_pool=self.connection_pool) as redis:
            entry_id: bytes | str = await redis.xadd(self.queue_name, {b"data": body})
        return _entry_name(entry_id)

    async def present(self, entry_ids: Sequence[str]) -> list[bool]:
        """Whether each entry is still in the stream (not yet done, nor refused)."""
        async with (
            Redis(connection_pool=self.connection_pool) as redis,
            redis.pipeline(transaction=False) as pipe,
        ):
            for entry_id in entry_ids:
                pipe.xrange(self.queue_name, entry_id, entry_id, count=1)
            found: list[Any] = await pipe.execute()
        return [bool(entries) for entries in found]

    def _acknowledgement(self, entry_id: bytes) -> Callable[[], Awaitable[None]]:
        """``XACK`` and ``XDEL`` in one transaction: done units leave the stream."""

        async def acknowledge() -> None:
            async with (
                Redis(connection_pool=self.connection_pool) as redis,
                redis.pipeline(transaction=True) as pipe,
            ):
                pipe.xack(self.queue_name, self.consumer_group_name, entry_id)
                pipe.xdel(self.queue_name, entry_id)
                await pipe.execute()

        return acknowledge

    async def _accepted(self, entry_id: bytes, fields: dict[bytes, bytes]) -> AckableMessage | None:
        """The entry as taskiq runs it, or ``None`` when it was refused (and acknowledged)."""
        acknowledge = self._acknowledgement(entry_id)
        try:
            message = read_unit_message(fields.get(b"data"), self._key, clock=self._clock())
        except RejectedMessage as refused:
            reason = " ".join(redact(str(refused)).split())[:_REASON_LENGTH]
            _log.warning(
                "refused queue entry %s: %s (acknowledged and removed, not run)",
                _entry_name(entry_id),
                reason,
            )
            if refused.task_id is not None:  # signed by the planner, which waits for it
                outcome = UnitOutcome(errors=(f"a worker refused the unit: {reason}",))
                await self.result_backend.set_result(
                    refused.task_id,
                    TaskiqResult[Any](
                        is_err=False, return_value=outcome.to_dict(), execution_time=0
                    ),
                )
            await acknowledge()
            return None
        body = self.formatter.dumps(message.taskiq_message()).message
        return AckableMessage(data=body, ack=acknowledge)

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        """New units first; then units idle longer than ``idle_timeout`` in a dead consumer."""
        async with Redis(connection_pool=self.connection_pool) as redis:
            while True:
                fetched: Any = await redis.xreadgroup(
                    self.consumer_group_name,
                    self.consumer_name,
                    {self.queue_name: ">"},
                    block=self.block,
                    noack=False,
                    count=self.count,
                )
                for _, entries in fetched or ():
                    for entry_id, fields in entries:
                        if (accepted := await self._accepted(entry_id, fields)) is not None:
                            yield accepted
                claimed: Any = await redis.xautoclaim(
                    name=self.queue_name,
                    groupname=self.consumer_group_name,
                    consumername=self.consumer_name,
                    min_idle_time=self.idle_timeout,
                    count=self.unacknowledged_batch_size,
                )
                for entry_id, fields in claimed[1]:
                    if fields is None:  # deleted meanwhile (Redis < 7 still lists it)
                        continue
                    if (accepted := await self._accepted(entry_id, fields)) is not None:
                        yield accepted


def build_broker(
    url: str, *, signing_key: SigningKey, redeliver_after: float = 60.0
) -> UnitStreamBroker:
    """The broker (with its signed result backend) for the Redis at ``url``.

    ``signing_key`` signs and checks every unit and result: the planner and every worker
    of a run need the same one. ``redeliver_after`` (seconds): how long a unit may stay
    unacknowledged before another worker runs it again. Longer than a unit takes, or units
    run twice (harmlessly: they are idempotent, but the requests are spent twice).
    """
    broker = UnitStreamBroker(
        url,
        signing_key=signing_key,
        consumer_id="0",  # a group created after units were sent still sees them
        idle_timeout=max(1, int(redeliver_after * 1000)),
        xread_count=1,  # take one unit at a time: a dead worker strands few
        xread_block=1000,
    )
    broker.with_result_backend(SignedResultBackend(url, signing_key=signing_key))
    return broker
