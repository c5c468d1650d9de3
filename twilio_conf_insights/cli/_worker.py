"""``worker --broker URL --db URL``: run sync units from a taskiq queue into a shared store.

Also the ``--broker`` half of ``sync``: plan the units, send them to the workers, wait.
Both need the ``[distributed]`` extra; without it they fail with one line saying so.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import yarl

from .._errors import ConfigurationError, InvalidArgumentError
from ..sync import open_store
from ..sync._units import parse_duration
from ._exit import EXIT_FAILURE, EXIT_OK
from ._runtime import Runtime
from ._values import int_at_least

if TYPE_CHECKING:
    from ..sync import SyncProgress, SyncSummary

__all__ = [
    "WORKER_DESCRIPTION",
    "add_broker_option",
    "sync_with_broker",
    "worker",
    "worker_options",
]

#: Seconds a unit may stay unacknowledged before another worker runs it (``--redeliver-after``).
DEFAULT_REDELIVER = "5m"


def _display(url: str) -> str:
    return str(yarl.URL(url).with_password(None))


def _need_distributed() -> Any:
    try:
        from .. import distributed
    except ImportError:
        raise ConfigurationError(
            "running with workers needs the [distributed] extra: "
            "pip install 'twilio-conf-insights[distributed]'"
        ) from None
    return distributed


def _shared_store(db: str) -> str:
    if not db.startswith(("postgresql://", "postgres://")):
        raise InvalidArgumentError(
            "workers share one store: --db must be a postgresql:// URL, not a file"
        )
    return db


def _redis_url(text: str) -> str:
    if not text.startswith(("redis://", "rediss://", "unix://")):
        raise argparse.ArgumentTypeError(f"not a Redis URL: {_display(text)!r} (redis://host:port)")
    return text


def _seconds(text: str) -> float:
    try:
        return parse_duration(text).total_seconds()
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_broker_option(parser: argparse.ArgumentParser) -> None:
    """``--broker redis://…`` on ``sync``: run the units on workers instead of here."""
    parser.add_argument(
        "--broker",
        type=_redis_url,
        metavar="URL",
        help="run the units on workers listening on this Redis (see `worker`); "
        "--db must then be a PostgreSQL URL the workers share",
    )


#: ``worker --help``'s description.
WORKER_DESCRIPTION = (
    "Take sync units (one window of one account each) from the Redis queue and\n"
    "sync them into the shared PostgreSQL store, until stopped. A unit is\n"
    "acknowledged after it ran: if this worker dies, another one runs it again.\n"
    "Credentials come from the environment, as for every command."
)


def worker_options(parser: argparse.ArgumentParser) -> None:
    """The options of ``worker``."""
    parser.add_argument("--broker", required=True, type=_redis_url, metavar="URL")
    parser.add_argument("--db", required=True, metavar="URL", help="postgresql://… store")
    parser.add_argument(
        "--units",
        type=int_at_least(1),
        default=4,
        metavar="N",
        help="units run at once (default: 4)",
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
    async with runtime.client() as client:
        store = await open_store(_shared_store(args.db))
        try:

            def ready() -> None:
                # A line for supervisors and logs: the worker takes units from now on.
                print(
                    f"worker ready: broker {_display(args.broker)}, store {_display(args.db)}",
                    file=runtime.stderr,
                    flush=True,
                )

            await distributed.run_worker(
                client,
                store,
                args.broker,
                units=args.units,
                redeliver_after=args.redeliver_after,
                on_ready=ready,
            )
        finally:
            await store.aclose()
    return EXIT_OK


async def sync_with_broker(
    args: argparse.Namespace,
    runtime: Runtime,
    *,
    subaccounts: list[str],
    filters: dict[str, Any],
    on_progress: Callable[[SyncProgress], None],
) -> tuple[int, SyncSummary]:
    """``sync --broker``: plan, send to the workers, wait; the exit status and summary."""
    distributed = _need_distributed()
    store = await open_store(_shared_store(args.db))
    try:
        summary: SyncSummary = await distributed.sync_with_workers(
            store,
            args.broker,
            window=args.window,
            subaccounts=subaccounts,
            refresh=args.refresh,
            on_progress=on_progress,
            filters=filters,
        )
    finally:
        await store.aclose()
    return (EXIT_OK if summary.ok else EXIT_FAILURE), summary
