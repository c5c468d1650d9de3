"""The command line's options of ``sync`` and ``--db``."""

from __future__ import annotations

import argparse
from datetime import timedelta

from ..sync._units import parse_duration
from ._options import PROG, add_conference_filters
from ._worker import add_broker_option

__all__ = ["SYNC_DESCRIPTION", "add_store_source", "sync_options"]


def _duration(text: str) -> timedelta:
    try:
        return parse_duration(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def add_store_source(parser: argparse.ArgumentParser) -> None:
    """``--db PATH``: read a store instead of the API."""
    parser.add_argument(
        "--db",
        metavar="PATH|URL",
        help="read a store written by `sync` (file or postgresql:// URL) instead of the API",
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
    sync.add_argument(
        "--db",
        required=True,
        metavar="PATH|URL",
        help="the store: an SQLite file (created if missing) or a postgresql:// URL",
    )
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
