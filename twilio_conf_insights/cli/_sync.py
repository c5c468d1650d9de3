"""``sync --db PATH``, and ``report``/``export`` reading a store instead of the API.

The sync shows windows done, conferences and an ETA on stderr (terminals only) and ends
with one line on stdout saying what changed. Conferences that could not be fetched make
the exit status 1 after that line (a re-run picks them up); a store that cannot be
written (busy, read-only, full, not a store) is one error line and status 1.
"""

from __future__ import annotations

import argparse
import contextlib
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, TextIO

from .._errors import InvalidArgumentError
from .._resources.conferences import CONFERENCE_FILTERS
from .._validation import aware_datetime, sid
from ..sync import ReportQuery, SyncProgress, open_store
from ._exit import EXIT_FAILURE, EXIT_OK
from ._export import export_writer
from ._export_source import stored_records
from ._files import open_output
from ._options import PROG, conference_filters, filter_values
from ._output import REPORT_TABLE_TOP, report_json, report_lines, write_record
from ._report import ReportBuilder
from ._runtime import Runtime
from ._sync_parser import BROKER_SWITCH, STORE
from ._worker import sync_with_broker

if TYPE_CHECKING:
    from ..sync import SyncSummary

__all__ = ["export_from_store", "store_query", "sync", "write_report"]


class SyncMeter:
    """The sync's progress line on stderr: windows, conferences, fetched, ETA."""

    def __init__(
        self, stream: TextIO, *, enabled: bool, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._stream = stream
        self._enabled = enabled
        self._clock = clock
        self._started = clock()
        self._drawn_at = -1.0
        self._width = 0
        self._last: SyncProgress | None = None

    @classmethod
    def on(cls, stream: TextIO, *, quiet: bool) -> SyncMeter:
        """A meter that shows only on a terminal, and not with ``--quiet``."""
        try:
            terminal = stream.isatty()
        except (AttributeError, ValueError):
            terminal = False
        return cls(stream, enabled=terminal and not quiet)

    def text(self, progress: SyncProgress) -> str:
        """The line for ``progress``."""
        elapsed = self._clock() - self._started
        done, total = progress.windows_done, progress.windows_total
        eta = "?"
        if done:
            left = elapsed / done * (total - done)
            eta = f"{int(left // 60)}:{int(left % 60):02d}"
        return (
            f"sync: {done}/{total} windows, {progress.conferences} conferences, "
            f"{progress.fetched} fetched, {elapsed:.0f}s, ETA {eta}"
        )

    def update(self, progress: SyncProgress) -> None:
        """Redraw (at most ten times a second)."""
        self._last = progress
        now = self._clock()
        if not self._enabled or now - self._drawn_at < 0.1:
            return
        self._draw(progress)
        self._drawn_at = now

    def _draw(self, progress: SyncProgress) -> None:
        line = self.text(progress)
        self._stream.write("\r" + line + " " * max(0, self._width - len(line)))
        self._stream.flush()
        self._width = len(line)

    def close(self) -> None:
        """End the line (idempotent)."""
        if self._enabled:
            if self._last is not None:
                self._draw(self._last)
            self._stream.write("\n")
            self._stream.flush()
            self._enabled = False


async def sync(args: argparse.Namespace, runtime: Runtime) -> int:
    """``sync --db PATH``: bring the store up to date."""
    db = STORE.text(args.db, runtime.environ)
    broker = BROKER_SWITCH.value(args.broker, runtime.environ)
    filters = conference_filters(args)
    filters.pop("page_size", None)
    filters.pop("limit", None)
    subaccounts = filters.pop("subaccount", None) or []
    meter = SyncMeter.on(runtime.stderr, quiet=runtime.quiet)
    if broker is not None:  # the units run on workers (see `worker`)
        try:
            _, summary = await sync_with_broker(
                runtime,
                db=db,
                broker=broker,
                window=args.window,
                refresh=args.refresh,
                subaccounts=subaccounts,
                filters=filters,
                on_progress=meter.update,
            )
        finally:
            meter.close()
        return _finish(summary, runtime)
    async with (
        runtime.client() as client,
        contextlib.aclosing(await open_store(db)) as store,
    ):
        try:
            summary = await client.sync(
                store,
                window=args.window,
                subaccounts=subaccounts,
                refresh=args.refresh,
                on_progress=meter.update,
                **filters,
            )
        finally:
            meter.close()
    return _finish(summary, runtime)


def _finish(summary: SyncSummary, runtime: Runtime) -> int:
    runtime.stdout.write(f"sync: {summary.line()}\n")
    if summary.ok:
        return EXIT_OK
    runtime.stderr.write(
        f"{PROG}: error: {len(summary.errors)} conference(s) or window(s) not synced; "
        f"re-run to finish: {' '.join(str(summary.errors[0]).split())}\n"
    )
    return EXIT_FAILURE


def store_query(args: argparse.Namespace) -> ReportQuery:
    """The conference filters of ``args`` as a query on a store; others are usage errors."""
    equals = []
    for name, value in filter_values(args, CONFERENCE_FILTERS).items():
        spec = CONFERENCE_FILTERS.filters[name]
        option = "--" + (spec.item or name).replace("_", "-")
        if spec.item is not None:  # "any of these": not kept in a column or a plain field
            raise InvalidArgumentError(f"{option} cannot be used with --db")
        if spec.kind != "time" and name != "subaccount":  # those two: columns, below
            # The API's exact-match filters are named like the summary fields they match.
            equals.append((name, spec.check(value, option)))
    after, before = args.created_after, args.created_before
    for name, value in (("--created-after", after), ("--created-before", before)):
        if value is not None:
            aware_datetime(value, name)
    account = sid(args.subaccount, "AC", "--subaccount") if args.subaccount else None
    return ReportQuery(
        created_after=after, created_before=before, account_sid=account, equals=tuple(equals)
    )


def write_report(
    builder: ReportBuilder, fmt: str, top_arg: int | str | None, stream: TextIO
) -> None:
    """Print a finished report as JSON or a table.

    ``--top N`` lists N (0: none, like ``--limit 0``), ``--top all`` lists all; by default a
    table shows ``REPORT_TABLE_TOP`` and JSON (for programs) everything.
    """
    result = builder.result()
    top: int | None = REPORT_TABLE_TOP if fmt == "table" else None
    if top_arg is not None:
        top = None if top_arg == "all" else int(top_arg)
    if fmt == "json":
        write_record(report_json(result, top=top), "json", stream)
    else:
        stream.write("\n".join(report_lines(result, top=top)) + "\n")


async def export_from_store(args: argparse.Namespace, runtime: Runtime, db: str) -> int:
    """``export --db PATH -o FILE``: stored conferences of ``db`` to JSONL or CSV, atomically."""
    fmt = args.format  # checked against the file name by the parser
    query = store_query(args)  # bad filters fail before the file is created
    with open_output(args.output, runtime.stdout) as stream:
        writer = export_writer(fmt, stream, with_participants=args.with_participants)
        batches = stored_records(
            db, query, with_participants=args.with_participants, limit=args.limit
        )
        async with contextlib.aclosing(batches):
            async for batch in batches:
                for stored in batch:
                    writer.write_stored(stored)
        writer.finish()
    return EXIT_OK
