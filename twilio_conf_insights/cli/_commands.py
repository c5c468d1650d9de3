"""The commands: each turns its parsed arguments into SDK calls and output.

A command returns its exit status. It lets the SDK's errors propagate: the entry point
turns them into one line on stderr and the matching status (see ``cli/__init__.py``).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shlex
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from .._client import InsightsClient
from .._models import TwilioModel
from .._pagination import Paginator
from .._resources._query import FilterTable
from .._resources.participant_summaries import PARTICIPANT_SUMMARY_FILTERS
from .._resources.participants import PARTICIPANT_FILTERS
from .._results import ConferenceReport
from .._urls import display_url, url_scheme
from ._client import ENV_API_BASE_URL, ENV_INSIGHTS_BASE_URL
from ._exit import EXIT_OK, EXIT_USAGE
from ._export import export_writer
from ._files import open_output
from ._html_data import DEFAULT_TOP, HtmlReportData
from ._html_file import missing_report_extra, write_html_report
from ._options import PROG, conference_filters, filter_values
from ._output import (
    CONFERENCE_COLUMNS,
    LIVE_PARTICIPANT_COLUMNS,
    PARTICIPANT_SUMMARY_COLUMNS,
    Column,
    Record,
    resolve_format,
    write_listing,
    write_record,
)
from ._progress import Progress
from ._report import ReportBuilder, Thresholds
from ._report_source import add_stored
from ._runtime import Command, Runtime
from ._signals import stop_requested
from ._sync import export_from_store, store_query, write_report
from ._sync_parser import STORE_SOURCE

__all__ = [
    "conferences_get",
    "conferences_list",
    "export",
    "fake_server",
    "live_participants_get",
    "live_participants_list",
    "participant_summaries_get",
    "participant_summaries_list",
    "report",
]


async def _records(items: Paginator[Any]) -> AsyncGenerator[Record, None]:
    async with contextlib.aclosing(items):
        async for item in items:
            model: TwilioModel = item
            yield model.to_dict()


async def _list(
    items: Paginator[Any], args: argparse.Namespace, columns: Sequence[Column], runtime: Runtime
) -> int:
    fmt = resolve_format(args.format, runtime.stdout)
    # Closed explicitly so that a failed write (a closed pipe) stops the paging at once.
    async with contextlib.aclosing(_records(items)) as records:
        await write_listing(records, fmt, columns, runtime.stdout)
    return EXIT_OK


def _show(model: TwilioModel, args: argparse.Namespace, runtime: Runtime) -> int:
    write_record(model.to_dict(), resolve_format(args.format, runtime.stdout), runtime.stdout)
    return EXIT_OK


async def conferences_get(args: argparse.Namespace, runtime: Runtime) -> int:
    """``conferences get CF…``: one conference summary."""
    async with runtime.client() as client:
        summary = await client.conferences.fetch(args.conference_sid)
    return _show(summary, args, runtime)


async def conferences_list(args: argparse.Namespace, runtime: Runtime) -> int:
    """``conferences list``: conference summaries matching the filters."""
    async with runtime.client() as client:
        items = client.conferences.list(**conference_filters(args))
        return await _list(items, args, CONFERENCE_COLUMNS, runtime)


async def participant_summaries_get(args: argparse.Namespace, runtime: Runtime) -> int:
    """``participant-summaries get CF… CP…``: one participant summary."""
    async with runtime.client() as client:
        summary = await client.participant_summaries.fetch(
            args.conference_sid, args.participant_sid, events=args.events, metrics=args.metrics
        )
    return _show(summary, args, runtime)


def _conference_listing(
    listing: Callable[[InsightsClient], Callable[..., Paginator[Any]]],
    table: FilterTable,
    columns: Sequence[Column],
    *,
    account: bool = False,
) -> Command:
    """The command printing ``listing(client)(CF…, filters of table, paging)``."""

    async def command(args: argparse.Namespace, runtime: Runtime) -> int:
        options = {"account_sid": args.account_sid} if account else {}
        async with runtime.client() as client:
            items = listing(client)(
                args.conference_sid,
                **filter_values(args, table),
                **options,
                page_size=args.page_size,
                limit=args.limit,
            )
            return await _list(items, args, columns, runtime)

    return command


#: ``participant-summaries list CF…``: a conference's participant summaries.
participant_summaries_list = _conference_listing(
    lambda client: client.participant_summaries.list,
    PARTICIPANT_SUMMARY_FILTERS,
    PARTICIPANT_SUMMARY_COLUMNS,
)

#: ``live-participants list CF…``: the participants in a conference now.
live_participants_list = _conference_listing(
    lambda client: client.participants.list,
    PARTICIPANT_FILTERS,
    LIVE_PARTICIPANT_COLUMNS,
    account=True,
)


async def live_participants_get(args: argparse.Namespace, runtime: Runtime) -> int:
    """``live-participants get CF… CA…|LABEL``: one participant in a conference now."""
    async with runtime.client() as client:
        participant = await client.participants.fetch(
            args.conference_sid, args.participant, account_sid=args.account_sid
        )
    return _show(participant, args, runtime)


async def _complete_reports(
    client: InsightsClient, filters: Mapping[str, Any]
) -> AsyncGenerator[ConferenceReport, None]:
    """Conference reports; a conference whose participants failed stops the stream.

    Exports and reports are all-or-nothing: one written or counted without its
    participants would be silently wrong, so the error ends the command instead.
    """
    # In the listing's order (newest first), so that exports are reproducible.
    async with contextlib.aclosing(client.conference_reports(ordered=True, **filters)) as reports:
        async for report in reports:
            if report.error is not None:
                raise report.error
            yield report


async def export(args: argparse.Namespace, runtime: Runtime) -> int:
    """``export -o FILE``: every matching conference to a JSONL, JSON or CSV file.

    Written as :mod:`._files` says (atomically for a regular file, directly into a pipe or
    device, ``-`` for stdout); ends with one line on stderr saying what was written.
    """
    db = STORE_SOURCE.value(args.db, runtime.environ)
    if db is not None:
        return await export_from_store(args, runtime, db)
    fmt = args.format  # checked against the file name by the parser
    filters = conference_filters(args)
    progress = Progress.on(runtime.stderr, label="export", quiet=runtime.quiet, total=args.limit)
    async with runtime.client(hooks=[progress.on_event]) as client:
        # Built before the file is created, so that invalid filters fail without touching it.
        summaries = client.conferences.list(**filters)
        with progress, open_output(args.output, runtime.stdout) as stream:
            writer = export_writer(fmt, stream, with_participants=args.with_participants)
            if args.with_participants:
                async with contextlib.aclosing(_complete_reports(client, filters)) as reports:
                    async for conference in reports:
                        writer.write(conference.summary, conference.participants)
                        progress.advance(1, len(conference.participants))
            else:
                async with contextlib.aclosing(summaries):
                    async for summary in summaries:
                        writer.write(summary, None)
                        progress.advance()
            writer.finish()
    if not runtime.quiet:
        participants = f" ({progress.participants} participants)" if args.with_participants else ""
        where = "stdout" if args.output == "-" else args.output
        runtime.stderr.write(f"wrote {progress.conferences} conferences{participants} to {where}\n")
        runtime.stderr.flush()
    return EXIT_OK


async def report(args: argparse.Namespace, runtime: Runtime) -> int:
    """``report``: the call-quality summary of the matching conferences (API or ``--db``)."""
    fmt = resolve_format(args.format, runtime.stdout, otherwise="json")
    thresholds = Thresholds(
        mos_below=args.mos_below,
        packet_loss_above=args.loss_above,
        jitter_above=args.jitter_above,
    )
    if args.html is not None and (missing := missing_report_extra()) is not None:
        runtime.stderr.write(f"{PROG}: error: {missing}\n")
        return EXIT_USAGE
    builder: ReportBuilder | HtmlReportData = (
        ReportBuilder(thresholds)
        if args.html is None
        else HtmlReportData(
            thresholds,
            top=DEFAULT_TOP if args.top is None else None if args.top == "all" else args.top,
        )
    )
    db = STORE_SOURCE.value(args.db, runtime.environ)
    if db is not None:
        # A URL's database (never its password), or a file's name.
        source = f"Store {display_url(db) if url_scheme(db) else os.path.basename(db)}"
        await add_stored(db, store_query(args), builder, limit=args.limit)
    else:
        source = "Demo data (the bundled fake Twilio)" if args.demo else "Twilio Voice Insights"
        await _report_from_api(args, runtime, builder)
    if isinstance(builder, HtmlReportData):
        filters = conference_filters(args)
        if filters:
            source += " · " + ", ".join(f"{name} {value}" for name, value in filters.items())
        counts = (content := builder.result()).quality
        size = write_html_report(args.html, content, source=source)
        if not runtime.quiet:
            runtime.stderr.write(
                f"wrote {counts.conferences} conferences ({counts.participants} participants)"
                f" to {args.html} ({size / 1e6:.1f} MB)\n"
            )
        return EXIT_OK
    write_report(builder, fmt, args.top, runtime.stdout)
    return EXIT_OK


async def _report_from_api(
    args: argparse.Namespace, runtime: Runtime, builder: ReportBuilder | HtmlReportData
) -> None:
    filters = conference_filters(args)
    progress = Progress.on(runtime.stderr, label="report", quiet=runtime.quiet, total=args.limit)
    async with runtime.client(hooks=[progress.on_event]) as client:
        client.conferences.list(**filters)  # checks the filters before anything is sent
        with progress:
            async with contextlib.aclosing(_complete_reports(client, filters)) as reports:
                async for conference in reports:
                    builder.add(conference)
                    progress.advance(1, len(conference.participants))


async def fake_server(args: argparse.Namespace, runtime: Runtime) -> int:
    """``fake-server``: serve a fake Twilio on 127.0.0.1 until SIGINT or SIGTERM."""
    # Imported here: only this command and --demo need the server.
    from ..testing import FakeTwilio

    fake = FakeTwilio(
        conferences=args.conferences,
        participants_per_conference=tuple(args.participants),
        seed=args.seed,
        latency=args.latency / 1000.0,
        host="127.0.0.1",
        port=args.port,
        now=datetime.now(UTC),  # recent data, as for --demo
        event_sink=args.sink,
    )
    if args.sink is not None:
        # Something to deliver: what is still in progress settles within the first minute.
        spread = random.Random(args.seed)
        for sid in fake.data.processing.unsettled():
            fake.data.processing.settle_after(sid, seconds=spread.uniform(1.0, 60.0))
    # Stopping on a signal is this command's normal end: exit 0, not 130/143.
    with stop_requested() as stop:
        async with fake:
            for name, value in (
                ("TWILIO_ACCOUNT_SID", fake.account_sid),
                # A fake token for the fake server: printing it is the point.
                ("TWILIO_AUTH_TOKEN", fake.auth_token),
                (ENV_INSIGHTS_BASE_URL, fake.insights_base_url),
                (ENV_API_BASE_URL, fake.api_base_url),
            ):
                runtime.stdout.write(f"export {name}={shlex.quote(value)}\n")
            runtime.stdout.flush()
            if not runtime.quiet:
                runtime.stderr.write(
                    f"fake Twilio serving {args.conferences} conferences (seed {args.seed}) "
                    f"at {fake.base_url}; Ctrl-C stops it\n"
                )
                runtime.stderr.flush()
            await stop.wait()
    return EXIT_OK
