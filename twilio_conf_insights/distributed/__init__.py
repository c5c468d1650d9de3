"""Syncing with many workers: signed units of work on a Redis stream, a shared store.

Needs the ``[distributed]`` extra (taskiq, taskiq-redis, asyncpg). Workers run
:func:`run_worker` (or ``twilio-conf-insights worker``); a sync run by
:func:`sync_with_workers` (or ``twilio-conf-insights sync --broker``) plans the units
(one window of one account each) into the shared store, sends them, and waits for every
result. :func:`queue_status` says what is on the queue.

Delivery is at-least-once: a unit is acknowledged (and removed from the stream) after it
ran, so a worker killed in the middle of one leaves it to another worker. Units are
idempotent upserts, so the store ends exactly equal to the API's data however often a
unit ran.

Units and results are signed (HMAC-SHA256) with a :class:`SigningKey` the planner and
every worker share: derived from the Twilio credentials they already hold, or from
``TWILIO_CONF_INSIGHTS_SIGNING_KEY``. A worker checks every unit as strictly as the
command line checks its arguments; one that fails (or is not signed with its key) is
acknowledged, logged once and never run, and a result not signed with the key is never
counted.

Workers (and any clients of one account that share a Redis) share one concurrency budget
per Twilio account: :class:`SharedBudget`, a limiter for ``InsightsClient(limiter=...)``.
"""

from ._broker import UNITS_STREAM, build_broker
from ._coordinator import UnitFailedError, sync_with_workers
from ._queue import QueueStatus, queue_status
from ._shared_budget import SharedBudget
from ._signing import ENV_SIGNING_KEY, SigningKey
from ._unit import UnitOutcome, run_unit
from ._worker import run_worker

__all__ = [
    "ENV_SIGNING_KEY",
    "UNITS_STREAM",
    "QueueStatus",
    "SharedBudget",
    "SigningKey",
    "UnitFailedError",
    "UnitOutcome",
    "build_broker",
    "queue_status",
    "run_unit",
    "run_worker",
    "sync_with_workers",
]
