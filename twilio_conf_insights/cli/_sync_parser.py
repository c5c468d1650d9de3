"""The command line's options of ``sync``, and ``--db`` and ``--broker`` everywhere.

``--db`` and ``--broker`` may hold a URL with a password: each also comes from an
environment variable (see :class:`~._values.EnvironmentOption`), so that the password is
never on a command line, where every local user can read it.
"""

from __future__ import annotations

import argparse
from datetime import timedelta

import attrs

from ..sync._units import parse_duration
from ._options import PROG, add_conference_filters
from ._values import EnvironmentOption

__all__ = [
    "BROKER",
    "BROKER_SWITCH",
    "ENV_BROKER",
    "ENV_DB",
    "STORE",
    "STORE_SOURCE",
    "SYNC_DESCRIPTION",
    "add_broker_option",
    "add_store_source",
    "sync_options",
]

#: The store (a file, or a PostgreSQL URL that may hold a password), instead of ``--db``.
ENV_DB = "TWILIO_CONF_INSIGHTS_DB"
#: The Redis URL (which may hold a password) of the workers' queue, instead of ``--broker``.
ENV_BROKER = "TWILIO_CONF_INSIGHTS_BROKER"

#: ``sync --db`` and ``worker --db``: absent, it is ``$TWILIO_CONF_INSIGHTS_DB``.
STORE = EnvironmentOption("--db", ENV_DB, required=True, metavar="PATH|URL")
#: ``report --db`` and ``export --db``: read a store instead of the API (bare: the variable).
STORE_SOURCE = attrs.evolve(STORE, required=False)
#: ``worker --broker``: absent, it is ``$TWILIO_CONF_INSIGHTS_BROKER``.
BROKER = EnvironmentOption("--broker", ENV_BROKER, required=True)
#: ``sync --broker``: run the units on workers (bare: the variable).
BROKER_SWITCH = attrs.evolve(BROKER, required=False)


def _duration(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_store_source(parser: argparse.ArgumentParser) -> None:
    """``--db PATH``: read a store instead of the API."""
    STORE_SOURCE.add(
        parser,
        help="read a store written by `sync` (file or postgresql:// URL) instead of the API",
    )


def add_broker_option(parser: argparse.ArgumentParser) -> None:
    """``--broker redis://…`` on ``sync``: run the units on workers instead of here."""
    BROKER_SWITCH.add(
        parser,
        help="run the units on workers listening on this Redis (see `worker`); "
        "--db must then be a PostgreSQL URL the workers share",
    )


#: ``sync --help``'s description.
SYNC_DESCRIPTION = (
    "Bring the store at PATH up to date: conferences created in the range (default:\n"
    "from where the store left off, the last 24 hours on a first run, until now)\n"
    "with all their participant summaries. Settled conferences (summary and every\n"
    "participant terminal) are not fetched again; windows older than 24h30m holding\n"
    "only settled conferences are never listed again. Safe to interrupt and re-run.\n\n"
    f"  {PROG} sync --db insights.db\n"
    f"  sqlite3 insights.db 'select processing_state, count(*) from conferences group by 1'"
)


def sync_options(sync: argparse.ArgumentParser) -> None:
    """The options of ``sync``."""
    STORE.add(sync, help="the store: an SQLite file (created if missing) or a postgresql:// URL")
    add_broker_option(sync)
    add_conference_filters(sync, paging=False, subaccounts=True)
    sync.add_argument(
        "--window",
        type=_duration,
        default=timedelta(hours=1),
        metavar="DURATION",
        help="width of the windows listed in parallel, e.g. 30m, 1h, 1d (default: 1h)",
    )
    sync.add_argument("--refresh", action="store_true", help="fetch settled conferences again too")
