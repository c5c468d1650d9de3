"""The argument parser: every command, its options, and the checks made after parsing.

Parsing only turns text into values (numbers, aware datetimes, booleans) and checks what
the SDK cannot know (files, option combinations). SIDs, enum values, page sizes and limits
are checked by the SDK itself when the command calls it, so the rules live in one place;
its :class:`~twilio_conf_insights._errors.InvalidArgumentError` becomes exit status 2 too.

Every command is one row of :data:`COMMANDS`: its name, its options and the function that
runs it. The parser sets ``args.command`` (the name) and ``args.run`` (the function).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

import attrs
from yarl import URL

from .._errors import InvalidArgumentError
from .._resources._query import FilterTable
from .._resources.participant_summaries import PARTICIPANT_SUMMARY_FILTERS
from .._resources.participants import PARTICIPANT_FILTERS
from .._version import __version__
from . import _commands
from ._client import DEMO_CONFERENCES, DEMO_SEED, ENV_API_BASE_URL, ENV_INSIGHTS_BASE_URL
from ._files import EXPORT_FORMATS, infer_format
from ._options import (
    CLIENT_FLAGS,
    GLOBAL_DEFAULTS,
    PROG,
    add_conference_filters,
    add_filters,
    add_global_options,
    add_output_format,
    add_paging,
)
from ._runtime import Command
from ._sync import sync
from ._sync_parser import SYNC_DESCRIPTION, add_store_source, sync_options
from ._values import (
    count_or_all,
    non_negative_float,
    non_negative_int,
    parse_datetime,
    port,
    split_commas,
)
from ._worker import WORKER_DESCRIPTION, worker, worker_options

__all__ = ["COMMANDS", "CommandSpec", "build_parser", "parse_args", "parse_datetime"]

_EPILOG = f"""\
examples:
  {PROG} --demo report
  {PROG} --demo conferences list --status completed --limit 5
  {PROG} export --created-after 2025-06-01 --with-participants -o calls.jsonl
  {PROG} sync --db insights.db && {PROG} report --db insights.db
  {PROG} fake-server --port 8080

credentials (without --demo):
  TWILIO_ACCOUNT_SID + TWILIO_AUTH_TOKEN, or TWILIO_ACCOUNT_SID + TWILIO_API_KEY +
  TWILIO_API_SECRET; optional TWILIO_REGION and TWILIO_EDGE. {ENV_INSIGHTS_BASE_URL}
  and {ENV_API_BASE_URL} point the CLI at another server, e.g. `{PROG} fake-server`.

timestamps:
  ISO 8601, e.g. 2025-06-01, 2025-06-01T08:00, 2025-06-01T08:00:00+02:00. A value
  without a UTC offset is taken as UTC, as Twilio reports every time in UTC.

exit status:
  0 success, 1 API/transport/file error, 2 usage error (bad option or value,
  missing credentials), 130 interrupted (Ctrl-C), 143 terminated (SIGTERM)
"""


# -- each command's options ---------------------------------------------------------------


def _conference_get(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("conference_sid", metavar="CF…")
    add_output_format(parser)


def _conference_list(parser: argparse.ArgumentParser) -> None:
    add_conference_filters(parser)
    add_output_format(parser)


def _summary_get(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("conference_sid", metavar="CF…")
    parser.add_argument("participant_sid", metavar="CP…")
    parser.add_argument("--events", help="Twilio's Events parameter")
    parser.add_argument("--metrics", help="Twilio's Metrics parameter")
    add_output_format(parser)


def _account(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--account-sid", metavar="AC…", help="the (sub)account owning the conference"
    )


def _live_get(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("conference_sid", metavar="CF…")
    parser.add_argument("participant", metavar="CA…|LABEL", help="call SID or participant label")
    _account(parser)
    add_output_format(parser)


def _listing(
    table: FilterTable, *, account: bool = False
) -> Callable[[argparse.ArgumentParser], None]:
    """The options of a conference's listing filtered by ``table``."""

    def options(parser: argparse.ArgumentParser) -> None:
        parser.add_argument("conference_sid", metavar="CF…")
        add_filters(parser, table)
        if account:
            _account(parser)
        add_paging(parser)
        add_output_format(parser)

    return options


def _export(parser: argparse.ArgumentParser) -> None:
    add_conference_filters(parser)
    parser.add_argument(
        "--with-participants",
        action="store_true",
        help='nest participant summaries under "participants" (CSV: one row per participant)',
    )
    parser.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="file to write (- for stdout)"
    )
    add_store_source(parser)
    parser.add_argument(
        "-f",
        "--format",
        choices=sorted(set(EXPORT_FORMATS.values())),
        default=None,
        help="file format (default: from FILE's extension, "
        f"{', '.join(EXPORT_FORMATS)}; jsonl without one)",
    )


def _report(parser: argparse.ArgumentParser) -> None:
    add_conference_filters(parser)
    parser.add_argument(
        "-f",
        "--format",
        choices=("table", "json"),
        default=None,
        help="output format (default: table on a terminal, json otherwise)",
    )
    add_store_source(parser)
    parser.add_argument(
        "--top",
        type=count_or_all,
        metavar="N|all",
        help="list the N worst participants, or all (default: 20 in a table, all in JSON)",
    )
    parser.add_argument(
        "--mos-below", type=float, default=3.5, metavar="X", help="poor MOS (default: < 3.5)"
    )
    parser.add_argument(
        "--loss-above",
        type=float,
        default=1.0,
        metavar="PCT",
        help="poor packet loss, percent (default: > 1)",
    )
    parser.add_argument(
        "--jitter-above",
        type=float,
        default=30.0,
        metavar="MS",
        help="poor average jitter, ms (default: > 30)",
    )
    parser.add_argument(
        "--html",
        metavar="PATH",
        help="write the report as one self-contained HTML page with charts (report extra)",
    )


def _sink_url(value: str) -> str:
    """An absolute http(s) URL for ``fake-server --sink``."""
    if not value.startswith(("http://", "https://")) or not URL(value, encoded=True).host:
        # Not echoed: a sink URL may carry a password.
        raise argparse.ArgumentTypeError("not an absolute http(s) URL")
    return value


def _fake_server(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=port, default=0, help="TCP port (default: any free one)")
    parser.add_argument(
        "--conferences",
        type=non_negative_int,
        default=DEMO_CONFERENCES,
        metavar="N",
        help=f"conferences to generate (default: {DEMO_CONFERENCES})",
    )
    parser.add_argument(
        "--participants",
        type=non_negative_int,
        nargs=2,
        metavar=("MIN", "MAX"),
        default=(2, 6),
        help="participants per conference (default: 2 6)",
    )
    parser.add_argument(
        "--seed", type=int, default=DEMO_SEED, help=f"data seed (default: {DEMO_SEED})"
    )
    parser.add_argument(
        "--latency",
        type=non_negative_float,
        default=0.0,
        metavar="MS",
        help="milliseconds added to every response (default: 0)",
    )
    parser.add_argument(
        "--sink",
        type=_sink_url,
        metavar="URL",
        help="also deliver signed Event Streams events to URL as conferences settle "
        "(the unsettled ones settle over the first minute)",
    )


# -- the table ----------------------------------------------------------------------------


@attrs.frozen
class CommandSpec:
    """One command of the command line."""

    #: ``("export",)``, or a group and its action: ``("conferences", "get")``.
    path: tuple[str, ...]
    help: str
    options: Callable[[argparse.ArgumentParser], None]
    run: Command
    description: str | None = None

    @property
    def name(self) -> str:
        """What ``args.command`` holds: the words of the path."""
        return " ".join(self.path)


#: Groups of commands: their help line and the other names they answer to.
GROUPS: dict[str, tuple[str, tuple[str, ...]]] = {
    "conferences": ("conference summaries (Voice Insights)", ()),
    # `participants` was this group's first name: kept, so scripts using it still work.
    "participant-summaries": ("participant summaries (Voice Insights)", ("participants",)),
    "live-participants": ("participants in a conference now (core API)", ()),
}

#: Every command, in the order ``--help`` lists them.
COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        ("conferences", "get"), "one conference summary", _conference_get, _commands.conferences_get
    ),
    CommandSpec(
        ("conferences", "list"),
        "conference summaries, newest first",
        _conference_list,
        _commands.conferences_list,
    ),
    CommandSpec(
        ("participant-summaries", "get"),
        "one participant's quality summary",
        _summary_get,
        _commands.participant_summaries_get,
    ),
    CommandSpec(
        ("participant-summaries", "list"),
        "a conference's participant summaries",
        _listing(PARTICIPANT_SUMMARY_FILTERS),
        _commands.participant_summaries_list,
    ),
    CommandSpec(
        ("live-participants", "get"),
        "one live participant",
        _live_get,
        _commands.live_participants_get,
    ),
    CommandSpec(
        ("live-participants", "list"),
        "a conference's live participants",
        _listing(PARTICIPANT_FILTERS, account=True),
        _commands.live_participants_list,
    ),
    CommandSpec(
        ("export",),
        "write conference summaries (and participants) to a JSONL, JSON or CSV file",
        _export,
        _commands.export,
        description=(
            "Write every matching conference to FILE, one object (JSONL), array element (JSON)\n"
            "or row (CSV) each. A regular FILE appears only when the export is complete: it is\n"
            "written to a hidden temporary file in the same directory and renamed at the end,\n"
            "keeping the permissions of the file it replaces; a symlink's target is replaced\n"
            "and the link kept; a pipe or device is written into directly; - is stdout."
        ),
    ),
    CommandSpec(
        ("report",),
        "call-quality summary of the matching conferences",
        _report,
        _commands.report,
        description=(
            "Count conferences by status, end reason, mixer region and tag; list the\n"
            "participants with poor quality (worst of inbound and outbound), worst MOS first;\n"
            "and give MOS percentiles per participant region."
        ),
    ),
    CommandSpec(
        ("sync",),
        "keep a local store (SQLite) of conferences and participants current",
        sync_options,
        sync,
        SYNC_DESCRIPTION,
    ),
    CommandSpec(
        ("fake-server",),
        "serve a fake Twilio on 127.0.0.1 until Ctrl-C",
        _fake_server,
        _commands.fake_server,
        description=(
            "Serve seeded synthetic data on 127.0.0.1 (the --demo data set by default, dated\n"
            "up to now) and print shell export lines that point this CLI, or the library's\n"
            "InsightsClient.from_env(), at it. `python -m twilio_conf_insights.testing` is\n"
            "the same command.\n\n"
            f"  {PROG} fake-server > fake.env &\n"
            f"  sleep 1; . ./fake.env; {PROG} report"
        ),
    ),
    CommandSpec(
        ("worker",),
        "run sync units sent by `sync --broker` (several machines, one store)",
        worker_options,
        worker,
        WORKER_DESCRIPTION,
    ),
)


def build_parser() -> argparse.ArgumentParser:
    """The parser of the whole command line, from :data:`COMMANDS`."""
    common = argparse.ArgumentParser(add_help=False)
    add_global_options(common)
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Read Twilio Conference Insights: fetch, list, export and report.",
        epilog=_EPILOG,
        parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(metavar="COMMAND", required=True, dest="command_group")
    groups: dict[str, argparse._SubParsersAction[argparse.ArgumentParser]] = {}
    for spec in COMMANDS:
        container = commands
        if len(spec.path) == 2:
            group = spec.path[0]
            if group not in groups:
                help_line, aliases = GROUPS[group]
                groups[group] = commands.add_parser(
                    group, help=help_line, aliases=list(aliases)
                ).add_subparsers(metavar="ACTION", required=True)
            container = groups[group]
        sub = container.add_parser(
            spec.path[-1],
            parents=[common],
            formatter_class=argparse.RawDescriptionHelpFormatter,
            help=spec.help,
            description=spec.description,
        )
        spec.options(sub)
        sub.set_defaults(command=spec.name, run=spec.run)
    return parser


# -- after parsing ------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse a command line; usage errors exit with status 2 (argparse's convention)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for name, default in GLOBAL_DEFAULTS.items():
        if not hasattr(args, name):
            setattr(args, name, default)
    if args.command == "fake-server":
        # The server has its own data and no client: these options would be silently ignored.
        ignored = [flag for name, flag in CLIENT_FLAGS.items() if getattr(args, name)]
        if ignored:
            parser.error(f"fake-server does not take {', '.join(ignored)}")
        low, high = args.participants
        if low > high:
            parser.error(f"--participants: MIN ({low}) is above MAX ({high})")
    if args.demo and (args.insights_base_url or args.api_base_url):
        parser.error("--demo runs against a built-in server: drop --insights/--api-base-url")
    reads_store = args.command in ("export", "report") and args.db
    if reads_store and (args.demo or args.insights_base_url or args.api_base_url):
        parser.error("--db reads a local store: drop --demo and --insights/--api-base-url")
    if args.command == "export":
        try:
            args.format = infer_format(args.output, args.format)
        except InvalidArgumentError as error:
            parser.error(str(error))
    if getattr(args, "tag", None) is not None:
        args.tag = split_commas(args.tag)
    if getattr(args, "detected_issue", None) is not None:
        args.detected_issue = split_commas(args.detected_issue)
    return args
