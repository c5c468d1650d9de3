"""``worker --broker URL --db URL``: run sync units from a taskiq queue into a shared store.

Also the ``--broker`` half of ``sync``: plan the units, send them to the workers, wait.
Both need the ``[distributed]`` extra; without it they fail with one line saying so.
"""

from __future__ import annotations

import argparse
import contextlib
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import attrs

from .._client import DEFAULT_MAX_CONCURRENCY
from .._errors import ConfigurationError, InvalidArgumentError
from .._urls import REDIS_SCHEMES, connection_url, display_url, is_postgres_url
from ..sync import open_store
from ..sync._units import DEFAULT_UNITS_AT_ONCE, parse_duration
from ._exit import EXIT_FAILURE, EXIT_OK
from ._runtime import Runtime
from ._sync_parser import BROKER, ENV_BROKER, ENV_DB, STORE
from ._values import int_at_least

if TYPE_CHECKING:
    from ..sync import SyncProgress, SyncSummary

__all__ = [
    "WORKER_DESCRIPTION",
    "broker_url",
    "shared_store",
    "sync_with_broker",
    "worker",
    "worker_options",
]

#: Seconds a unit may stay unacknowledged before another worker runs it (``--redeliver-after``).
DEFAULT_REDELIVER = "5m"


def _need_distributed() -> Any:
    try:
        from .. import distributed
    except ImportError:
        raise ConfigurationError(
            "running with workers needs the [distributed] extra: "
            "pip install 'twilio-conf-insights[distributed]'"
        ) from None
    return distributed


def shared_store(db: str) -> str:
    """``--db`` of a run with workers: a PostgreSQL URL (files cannot be shared)."""
    if not is_postgres_url(db):
        raise InvalidArgumentError(
            "workers share one store: --db must be a postgresql:// URL, not a file"
        )
    return db


def broker_url(text: str) -> str:
    """``--broker``: a Redis URL (checked before anything connects)."""
    return connection_url(text, REDIS_SCHEMES, what="Redis")


def _seconds(text: str) -> float:
    try:
        return parse_duration(text).total_seconds()
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


#: ``worker --help``'s description.
WORKER_DESCRIPTION = (
    "Take sync units (one window of one account each) from the Redis queue and\n"
    "sync them into the shared PostgreSQL store, until stopped. A unit is\n"
    "acknowledged after it ran: if this worker dies, another one runs it again.\n"
    "Credentials come from the environment, as for every command; units are signed\n"
    "with a key derived from them (or from $TWILIO_CONF_INSIGHTS_SIGNING_KEY), which\n"
    "the planner (`sync --broker`) must share. Keep passwords off the command line:\n\n"
    f"  export {ENV_BROKER}=redis://:PASSWORD@redis.internal:6379/0\n"
    f"  export {ENV_DB}=postgresql://sync:PASSWORD@db.internal/insights\n"
    "  twilio-conf-insights worker --units 16"
)


def worker_options(parser: argparse.ArgumentParser) -> None:
    """The options of ``worker``."""
    BROKER.add(parser, help="the Redis the units come from")
    STORE.add(parser, help="the shared store: a postgresql:// URL")
    parser.add_argument(
        "--units",
        type=int_at_least(1),
        default=DEFAULT_UNITS_AT_ONCE,
        metavar="N",
        help=f"units run at once (default: {DEFAULT_UNITS_AT_ONCE})",
    )
    parser.add_argument(
        "--shared-budget",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="share one concurrency budget per Twilio account with the other workers, in "
        "the broker's Redis (default: on; off: each worker finds the account's limit alone)",
    )
    parser.add_argument(
        "--redeliver-after",
        type=_seconds,
        default=_seconds(DEFAULT_REDELIVER),
        metavar="DURATION",
        help=f"run a unit again when its worker is silent this long (default: {DEFAULT_REDELIVER})",
    )


async def worker(args: argparse.Namespace, runtime: Runtime) -> int:
    """``worker``: run units until SIGINT/SIGTERM."""
    distributed = _need_distributed()
    broker = broker_url(BROKER.text(args.broker, runtime.environ))
    db = shared_store(STORE.text(args.db, runtime.environ))
    key = distributed.SigningKey.from_env(runtime.environ)
    async with contextlib.AsyncExitStack() as stack:
        shared = ""  # said in the ready line
        if args.shared_budget:
            runtime, shared = await stack.enter_async_context(_sharing(broker, runtime))
        client = await stack.enter_async_context(runtime.client())
        store = await open_store(db)
        try:

            def ready() -> None:
                # A line for supervisors and logs: the worker takes units from now on.
                print(
                    f"worker ready: broker {display_url(broker)}, store {display_url(db)}, "
                    f"signing key {key.fingerprint}{shared}",
                    file=runtime.stderr,
                    flush=True,
                )

            await distributed.run_worker(
                client,
                store,
                broker,
                signing_key=key,
                units=args.units,
                redeliver_after=args.redeliver_after,
                on_ready=ready,
            )
        finally:
            await store.aclose()
    return EXIT_OK


@contextlib.asynccontextmanager
async def _sharing(broker: str, runtime: Runtime) -> AsyncIterator[tuple[Runtime, str]]:
    """``runtime`` with the account's shared budget in ``broker`` as its client's limiter.

    The account is that of the credentials (``TWILIO_ACCOUNT_SID``); without one (the
    credentials are missing, which the client reports) the runtime is unchanged.
    """
    from ..distributed import SharedBudget

    options = runtime.client_options
    account = runtime.environ.get("TWILIO_ACCOUNT_SID", "")
    if options.demo or not account:
        yield runtime, ""
        return
    budget = SharedBudget(
        broker,
        account_sid=account,
        max_concurrency=options.max_concurrency or DEFAULT_MAX_CONCURRENCY,
    )
    async with budget:
        shared = attrs.evolve(runtime, client_options=attrs.evolve(options, limiter=budget))
        yield shared, ", shared budget"


async def sync_with_broker(
    runtime: Runtime,
    *,
    db: str,
    broker: str,
    window: timedelta,
    refresh: bool,
    subaccounts: list[str],
    filters: dict[str, Any],
    on_progress: Callable[[SyncProgress], None],
) -> tuple[int, SyncSummary]:
    """``sync --broker``: plan, send to the workers, wait; the exit status and summary."""
    distributed = _need_distributed()
    db = shared_store(db)
    url = broker_url(broker)
    key = distributed.SigningKey.from_env(runtime.environ)
    store = await open_store(db)
    try:
        summary: SyncSummary = await distributed.sync_with_workers(
            store,
            url,
            signing_key=key,
            window=window,
            subaccounts=subaccounts,
            refresh=refresh,
            on_progress=on_progress,
            filters=filters,
        )
    finally:
        await store.aclose()
    return (EXIT_OK if summary.ok else EXIT_FAILURE), summary
