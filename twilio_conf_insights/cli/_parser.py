"""The argument parser: every command, option and value check of the command line.

Parsing only turns text into values (numbers, aware datetimes, booleans) and checks what
the SDK cannot know (files, option combinations). SIDs, enum values, page sizes and limits
are checked by the SDK itself when the command calls it, so the rules live in one place;
its :class:`~twilio_conf_insights._errors.InvalidArgumentError` becomes exit status 2 too.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any, Protocol

from .._errors import InvalidArgumentError
from .._models import ConferenceEndReason, ConferenceStatus, ConferenceTag, DetectedIssue, Region
from .._version import __version__
from ._client import (
    DEMO_CONFERENCES,
    DEMO_SEED,
    ENV_API_BASE_URL,
    ENV_INSIGHTS_BASE_URL,
    ClientOptions,
)
from ._files import EXPORT_FORMATS, infer_format
from ._sync_parser import add_store_source, add_sync_command
from ._values import (
    count_or_all,
    non_negative_float,
    non_negative_int,
    one_of,
    parse_bool,
    parse_datetime,
    port,
    split_commas,
)
from ._worker import add_worker_command

__all__ = [
    "PROG",
    "client_options",
    "conference_filters",
    "parse_args",
    "parse_bool",
    "parse_datetime",
]

#: The program name shown in usage and error lines, however the CLI was started.
PROG = "twilio-conf-insights"

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

# Global options are accepted before and after the command name ("--demo report" and
# "report --demo"). Their defaults are SUPPRESSed in the parsers so that a subparser does
# not overwrite a value given before the command; the real defaults are filled in after.
_GLOBAL_DEFAULTS: dict[str, Any] = {
    "demo": False,
    "quiet": False,
    "verbose": False,
    "max_concurrency": None,
    "timeout": None,
    "insights_base_url": None,
    "api_base_url": None,
}


#: The global options that configure the client, by attribute: meaningless for fake-server.
_CLIENT_FLAGS = {
    "demo": "--demo",
    "max_concurrency": "--max-concurrency",
    "timeout": "--timeout",
    "insights_base_url": "--insights-base-url",
    "api_base_url": "--api-base-url",
    "verbose": "--verbose",  # the SDK's log: the server makes no client request
}


# -- option groups ------------------------------------------------------------------------


class _Arguments(Protocol):
    """What parsers and argument groups share: ``add_argument``."""

    def add_argument(self, *names: str, **options: Any) -> argparse.Action: ...


def _add_global_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("global options")
    suppress = argparse.SUPPRESS
    group.add_argument(
        "--demo",
        action="store_true",
        default=suppress,
        help=(
            f"run against a built-in fake Twilio with seeded data ({DEMO_CONFERENCES} "
            f"conferences, seed {DEMO_SEED}); no account needed"
        ),
    )
    group.add_argument(
        "-q", "--quiet", action="store_true", default=suppress, help="no progress on stderr"
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=suppress,
        help="log every request and retry on stderr (the library's DEBUG log, redacted)",
    )
    group.add_argument(
        "--max-concurrency",
        type=int,
        metavar="N",
        default=suppress,
        help="requests in flight at once (default: 32)",
    )
    group.add_argument(
        "--timeout",
        type=float,
        metavar="S",
        default=suppress,
        help="seconds one request attempt may take (default: 30)",
    )
    group.add_argument(
        "--insights-base-url",
        metavar="URL",
        default=suppress,
        help=f"Voice Insights host (default: ${ENV_INSIGHTS_BASE_URL} or Twilio's)",
    )
    group.add_argument(
        "--api-base-url",
        metavar="URL",
        default=suppress,
        help=f"core API host (default: ${ENV_API_BASE_URL} or Twilio's)",
    )


def _add_output_format(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-f",
        "--format",
        choices=("table", "json", "jsonl"),
        default=None,
        help="output format (default: table on a terminal, jsonl otherwise)",
    )


def _add_paging(parser: _Arguments) -> None:
    parser.add_argument(
        "--page-size", type=int, metavar="N", help="items per request, 1-1000 (default: Twilio's)"
    )
    parser.add_argument(
        "--limit", type=non_negative_int, metavar="N", help="stop after N items (0: none)"
    )


def _add_conference_filters(
    parser: argparse.ArgumentParser, *, paging: bool = True, subaccounts: bool = False
) -> None:
    group = parser.add_argument_group("conference filters")
    group.add_argument("--conference-sid", metavar="CF…", help="one conference")
    group.add_argument("--friendly-name", metavar="NAME", help="exact friendly name")
    group.add_argument("--status", help=f"one of: {one_of(ConferenceStatus)}")
    group.add_argument(
        "--created-after",
        type=parse_datetime,
        metavar="TIME",
        help="created at or after TIME (ISO 8601; UTC when no offset)",
    )
    group.add_argument(
        "--created-before",
        type=parse_datetime,
        metavar="TIME",
        help="created before TIME (ISO 8601; UTC when no offset)",
    )
    group.add_argument("--mixer-region", metavar="REGION", help=f"one of: {one_of(Region)}")
    group.add_argument(
        "--tag",
        action="append",
        metavar="TAG",
        help=f"has any of these tags (repeatable, or comma-separated): {one_of(ConferenceTag)}",
    )
    if subaccounts:
        group.add_argument(
            "--subaccount",
            action="append",
            metavar="AC…",
            help="sync this subaccount (repeatable; each is synced on its own)",
        )
    else:
        group.add_argument("--subaccount", metavar="AC…", help="conferences of this subaccount")
    group.add_argument(
        "--detected-issue",
        action="append",
        metavar="ISSUE",
        help=f"has issues of any of these kinds (repeatable): {one_of(DetectedIssue)}",
    )
    group.add_argument(
        "--end-reason", metavar="REASON", help=f"one of: {one_of(ConferenceEndReason)}"
    )
    if paging:
        _add_paging(group)


def _command(
    commands: Any, name: str, command_id: str, common: argparse.ArgumentParser, **kwargs: Any
) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = commands.add_parser(
        name, parents=[common], formatter_class=argparse.RawDescriptionHelpFormatter, **kwargs
    )
    parser.set_defaults(command=command_id)
    return parser


def build_parser() -> argparse.ArgumentParser:
    """The parser of the whole command line."""
    common = argparse.ArgumentParser(add_help=False)
    _add_global_options(common)
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Read Twilio Conference Insights: fetch, list, export and report.",
        epilog=_EPILOG,
        parents=[common],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(metavar="COMMAND", required=True, dest="command_group")

    conferences = commands.add_parser(
        "conferences", help="conference summaries (Voice Insights)"
    ).add_subparsers(metavar="ACTION", required=True)
    get = _command(conferences, "get", "conferences get", common, help="one conference summary")
    get.add_argument("conference_sid", metavar="CF…")
    _add_output_format(get)
    listing = _command(
        conferences, "list", "conferences list", common, help="conference summaries, newest first"
    )
    _add_conference_filters(listing)
    _add_output_format(listing)

    summaries = commands.add_parser(
        "participants", help="participant summaries (Voice Insights)"
    ).add_subparsers(metavar="ACTION", required=True)
    get = _command(
        summaries, "get", "participants get", common, help="one participant's quality summary"
    )
    get.add_argument("conference_sid", metavar="CF…")
    get.add_argument("participant_sid", metavar="CP…")
    get.add_argument("--events", help="Twilio's Events parameter")
    get.add_argument("--metrics", help="Twilio's Metrics parameter")
    _add_output_format(get)
    listing = _command(
        summaries, "list", "participants list", common, help="a conference's participant summaries"
    )
    listing.add_argument("conference_sid", metavar="CF…")
    listing.add_argument("--label", help="participants with this label")
    listing.add_argument("--participant-sid", metavar="CP…", help="one participant")
    listing.add_argument("--events", help="participants with any of these events (e.g. mute)")
    _add_paging(listing)
    _add_output_format(listing)

    live = commands.add_parser(
        "live-participants", help="participants in a conference now (core API)"
    ).add_subparsers(metavar="ACTION", required=True)
    get = _command(live, "get", "live-participants get", common, help="one live participant")
    get.add_argument("conference_sid", metavar="CF…")
    get.add_argument("participant", metavar="CA…|LABEL", help="call SID or participant label")
    get.add_argument("--account-sid", metavar="AC…", help="the (sub)account owning the conference")
    _add_output_format(get)
    listing = _command(
        live, "list", "live-participants list", common, help="a conference's live participants"
    )
    listing.add_argument("conference_sid", metavar="CF…")
    for flag in ("muted", "hold", "coaching"):
        listing.add_argument(
            f"--{flag}", type=parse_bool, metavar="true|false", help=f"only {flag} or not"
        )
    listing.add_argument(
        "--account-sid", metavar="AC…", help="the (sub)account owning the conference"
    )
    _add_paging(listing)
    _add_output_format(listing)

    export = _command(
        commands,
        "export",
        "export",
        common,
        help="write conference summaries (and participants) to a JSONL, JSON or CSV file",
        description=(
            "Write every matching conference to FILE, one object (JSONL), array element (JSON)\n"
            "or row (CSV) each. A regular FILE appears only when the export is complete: it is\n"
            "written to a hidden temporary file in the same directory and renamed at the end,\n"
            "keeping the permissions of the file it replaces; a symlink's target is replaced\n"
            "and the link kept; a pipe or device is written into directly; - is stdout."
        ),
    )
    _add_conference_filters(export)
    export.add_argument(
        "--with-participants",
        action="store_true",
        help='nest participant summaries under "participants" (CSV: one row per participant)',
    )
    export.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="file to write (- for stdout)"
    )
    add_store_source(export)
    export.add_argument(
        "-f",
        "--format",
        choices=sorted(set(EXPORT_FORMATS.values())),
        default=None,
        help="file format (default: from FILE's extension, "
        f"{', '.join(EXPORT_FORMATS)}; jsonl without one)",
    )

    report = _command(
        commands,
        "report",
        "report",
        common,
        help="call-quality summary of the matching conferences",
        description=(
            "Count conferences by status, end reason, mixer region and tag; list the\n"
            "participants with poor quality (worst of inbound and outbound), worst MOS first;\n"
            "and give MOS percentiles per participant region."
        ),
    )
    _add_conference_filters(report)
    report.add_argument(
        "-f",
        "--format",
        choices=("table", "json"),
        default=None,
        help="output format (default: table on a terminal, json otherwise)",
    )
    add_store_source(report)
    report.add_argument(
        "--top",
        type=count_or_all,
        metavar="N|all",
        help="list the N worst participants, or all (default: 20 in a table, all in JSON)",
    )
    report.add_argument(
        "--mos-below", type=float, default=3.5, metavar="X", help="poor MOS (default: < 3.5)"
    )
    report.add_argument(
        "--loss-above",
        type=float,
        default=1.0,
        metavar="PCT",
        help="poor packet loss, percent (default: > 1)",
    )
    report.add_argument(
        "--jitter-above",
        type=float,
        default=30.0,
        metavar="MS",
        help="poor average jitter, ms (default: > 30)",
    )
    report.add_argument(
        "--html",
        metavar="PATH",
        help="write the report as one self-contained HTML page with charts (report extra)",
    )

    add_sync_command(
        commands, common, prog=PROG, command=_command, add_filters=_add_conference_filters
    )

    fake = _command(
        commands,
        "fake-server",
        "fake-server",
        common,
        help="serve a fake Twilio on 127.0.0.1 until Ctrl-C",
        description=(
            "Serve seeded synthetic data on 127.0.0.1 (the --demo data set by default, dated\n"
            "up to now) and print shell export lines that point this CLI, or the library's\n"
            "InsightsClient.from_env(), at it. `python -m twilio_conf_insights.testing` is\n"
            "the same command.\n\n"
            f"  {PROG} fake-server > fake.env &\n"
            f"  sleep 1; . ./fake.env; {PROG} report"
        ),
    )
    fake.add_argument("--port", type=port, default=0, help="TCP port (default: any free one)")
    fake.add_argument(
        "--conferences",
        type=non_negative_int,
        default=DEMO_CONFERENCES,
        metavar="N",
        help=f"conferences to generate (default: {DEMO_CONFERENCES})",
    )
    fake.add_argument(
        "--participants",
        type=non_negative_int,
        nargs=2,
        metavar=("MIN", "MAX"),
        default=(2, 6),
        help="participants per conference (default: 2 6)",
    )
    fake.add_argument(
        "--seed", type=int, default=DEMO_SEED, help=f"data seed (default: {DEMO_SEED})"
    )
    fake.add_argument(
        "--latency",
        type=non_negative_float,
        default=0.0,
        metavar="MS",
        help="milliseconds added to every response (default: 0)",
    )
    add_worker_command(
        lambda name, command_id, **options: _command(commands, name, command_id, common, **options)
    )
    return parser


# -- after parsing ------------------------------------------------------------------------


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse a command line; usage errors exit with status 2 (argparse's convention)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    for name, default in _GLOBAL_DEFAULTS.items():
        if not hasattr(args, name):
            setattr(args, name, default)
    if args.command == "fake-server":
        # The server has its own data and no client: these options would be silently ignored.
        ignored = [flag for name, flag in _CLIENT_FLAGS.items() if getattr(args, name)]
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


def client_options(args: argparse.Namespace) -> ClientOptions:
    """The client settings given by the global options."""
    return ClientOptions(
        demo=args.demo,
        max_concurrency=args.max_concurrency,
        timeout=args.timeout,
        insights_base_url=args.insights_base_url,
        api_base_url=args.api_base_url,
    )


def conference_filters(args: argparse.Namespace) -> dict[str, Any]:
    """The conference filter options, as keyword arguments of ``conferences.list``."""
    given = {
        "conference_sid": args.conference_sid,
        "friendly_name": args.friendly_name,
        "status": args.status,
        "created_after": args.created_after,
        "created_before": args.created_before,
        "mixer_region": args.mixer_region,
        "tags": args.tag,
        "subaccount": args.subaccount,
        "detected_issues": args.detected_issue,
        "end_reason": args.end_reason,
        "page_size": getattr(args, "page_size", None),
        "limit": getattr(args, "limit", None),
    }
    return {name: value for name, value in given.items() if value is not None}
