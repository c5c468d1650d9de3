"""What is on the units queue right now: for operators, dashboards and tests."""

from __future__ import annotations

from typing import Any

import attrs
from redis.asyncio import Redis

from .._urls import REDIS_SCHEMES, connection_url
from ._broker import CONSUMER_GROUP, UNITS_STREAM

__all__ = ["QueueStatus", "queue_status"]


@attrs.frozen
class QueueStatus:
    """The units queue at one moment (see :func:`queue_status`).

    ``waiting``: sent, and not taken by any worker yet. ``taken``: taken by a worker and
    not acknowledged yet: running, or held by a worker that died (another worker takes it
    after ``--redeliver-after``). ``length``: entries in the Redis stream; a unit leaves it
    when it is acknowledged (done or refused), so after a run it is 0.
    """

    waiting: int
    taken: int
    length: int

    @property
    def unfinished(self) -> int:
        """Units not done yet: waiting or taken."""
        return self.waiting + self.taken


async def queue_status(broker_url: str) -> QueueStatus:
    """Read the units queue's state from the Redis at ``broker_url`` (no side effects)."""
    url = connection_url(broker_url, REDIS_SCHEMES, what="Redis")
    async with Redis.from_url(url) as redis:
        length = int(await redis.xlen(UNITS_STREAM))
        # An emptied stream stays (with its group) until deleted; XINFO fails on no stream.
        groups: Any = (
            await redis.xinfo_groups(UNITS_STREAM) if await redis.exists(UNITS_STREAM) else []
        )
    group = next(
        (g for g in groups if g["name"] in (CONSUMER_GROUP, CONSUMER_GROUP.encode())), None
    )
    if group is None:  # no worker or planner has read or written the stream yet
        return QueueStatus(waiting=length, taken=0, length=length)
    taken = int(group["pending"])
    lag = group.get("lag")
    # Redis cannot say how far behind a group is once an unread entry was deleted; every
    # entry acknowledged is deleted in the same transaction, so the rest are waiting.
    waiting = int(lag) if lag is not None else max(0, length - taken)
    return QueueStatus(waiting=waiting, taken=taken, length=length)
