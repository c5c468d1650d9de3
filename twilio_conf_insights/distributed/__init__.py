"""Syncing with many workers: units of work on a taskiq queue (Redis), a shared store.

Needs the ``[distributed]`` extra (taskiq, taskiq-redis, asyncpg). Workers run
:func:`run_worker` (or ``twilio-conf-insights worker``); a sync run by
:func:`sync_with_workers` (or ``twilio-conf-insights sync --broker``) plans the units
(one window of one account each) into the shared store, sends them, and waits for every result.

Delivery is at-least-once: a unit is acknowledged after it ran, so a worker killed in the
middle of one leaves it to another worker. Units are idempotent upserts, so the store ends
exactly equal to the API's data however often a unit ran.
"""

from ._broker import build_broker
from ._coordinator import UnitFailedError, sync_with_workers
from ._unit import UnitOutcome, run_unit
from ._worker import run_worker

__all__ = [
    "UnitFailedError",
    "UnitOutcome",
    "build_broker",
    "run_unit",
    "run_worker",
    "sync_with_workers",
]
