"""The taskiq broker of the runner: Redis streams, acknowledged after the unit ran.

taskiq-redis's :class:`~taskiq_redis.RedisStreamBroker` reads tasks through a Redis
consumer group and acknowledges (``XACK``) a task once it has run and its result is
saved, so a task whose worker died stays pending; after ``idle_timeout`` another worker
claims it (``XAUTOCLAIM``) and runs it again. Its listener, though, looks for such
orphans only after a read that returned new tasks: once the queue is drained, a killed
worker's last tasks would wait forever. :class:`ReclaimingStreamBroker` also looks after
an empty read, which is what makes "a killed worker's unit is delivered again" hold at the
end of a run.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import tenacity
from redis.asyncio import Redis
from redis.exceptions import RedisError
from taskiq import AckableMessage, AsyncBroker, TaskiqResult
from taskiq.serializers import JSONSerializer
from taskiq_redis import RedisAsyncResultBackend, RedisStreamBroker

__all__ = [
    "QUEUE",
    "TASK_NAME",
    "PatientResultBackend",
    "ReclaimingStreamBroker",
    "build_broker",
]

#: The Redis stream (and consumer group) the units travel on.
QUEUE = "twilio-conf-insights:units"
#: The name a unit task is registered and sent under.
TASK_NAME = "twilio_conf_insights.sync_unit"
#: Results are kept this long (seconds) for a waiting ``sync`` to read.
RESULT_TTL = 7 * 86400


class ReclaimingStreamBroker(RedisStreamBroker):
    """A :class:`RedisStreamBroker` that reclaims orphaned tasks even when the queue is empty."""

    async def listen(self) -> AsyncGenerator[AckableMessage, None]:
        """New tasks first; then tasks idle longer than ``idle_timeout`` in a dead consumer."""
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
                for stream, messages in fetched or ():
                    for message_id, fields in messages:
                        yield AckableMessage(
                            data=fields[b"data"],
                            ack=self._ack_generator(id=message_id, queue_name=stream),
                        )
                claimed: Any = await redis.xautoclaim(
                    name=self.queue_name,
                    groupname=self.consumer_group_name,
                    consumername=self.consumer_name,
                    min_idle_time=self.idle_timeout,
                    count=self.unacknowledged_batch_size,
                )
                for message_id, fields in claimed[1]:
                    if fields:  # None when the entry was deleted meanwhile
                        yield AckableMessage(
                            data=fields[b"data"],
                            ack=self._ack_generator(id=message_id, queue_name=self.queue_name),
                        )


class PatientResultBackend(RedisAsyncResultBackend[Any]):
    """Saves a result even across a Redis restart: the unit is acknowledged only after.

    taskiq acknowledges a task after trying to save its result, saved or not; a result
    lost while Redis restarts would leave the waiting sync waiting forever.
    """

    async def set_result(self, task_id: str, result: TaskiqResult[Any]) -> None:
        """Save, retrying (backing off up to two seconds) for up to five minutes."""
        retrying = tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception_type(RedisError),
            wait=tenacity.wait_exponential(multiplier=0.1, max=2.0),
            stop=tenacity.stop_after_delay(300),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                await super().set_result(task_id, result)


def build_broker(url: str, *, redeliver_after: float = 60.0) -> AsyncBroker:
    """The broker (with a Redis result backend) for ``redis://`` ``url``.

    ``redeliver_after`` (seconds): how long a unit may stay unacknowledged before another
    worker runs it again. Longer than a unit takes, or units run twice (harmlessly: they
    are idempotent, but the requests are spent twice).
    """
    backend = PatientResultBackend(
        url,
        result_ex_time=RESULT_TTL,
        prefix_str="twilio-conf-insights",
        serializer=JSONSerializer(),  # not pickle: a result read back runs no code
    )
    broker = ReclaimingStreamBroker(
        url,
        queue_name=QUEUE,
        consumer_group_name="twilio-conf-insights",
        consumer_id="0",  # a group created after units were sent still sees them
        idle_timeout=max(1, int(redeliver_after * 1000)),
        xread_count=1,  # take one unit at a time: a dead worker strands few
        xread_block=1000,
    )
    return broker.with_result_backend(backend)
