"""The options shared by commands, and reading them back after parsing.

Filter options are built from the resources' filter tables (``_resources/_query.py``), so a
filter is written down once for the library and the command line.
"""

from __future__ import annotations

import argparse
from typing import Any, Protocol

from .._resources._query import Filter, FilterTable
from .._resources.conferences import CONFERENCE_FILTERS
from ._client import (
    DEMO_CONFERENCES,
    DEMO_SEED,
    ENV_API_BASE_URL,
    ENV_INSIGHTS_BASE_URL,
    ClientOptions,
)
from ._values import non_negative_int, one_of, parse_bool, parse_datetime

__all__ = [
    "GLOBAL_DEFAULTS",
    "PROG",
    "CLIENT_FLAGS",
    "add_conference_filters",
    "add_filters",
    "add_global_options",
    "add_output_format",
    "add_paging",
    "client_options",
    "conference_filters",
    "filter_values",
]

#: The program name shown in usage and error lines, however the CLI was started.
PROG = "twilio-conf-insights"

# Global options are accepted before and after the command name ("--demo report" and
# "report --demo"). Their defaults are SUPPRESSed in the parsers so that a subparser does
# not overwrite a value given before the command; the real defaults are filled in after.
GLOBAL_DEFAULTS: dict[str, Any] = {
    "demo": False,
    "quiet": False,
    "verbose": False,
    "max_concurrency": None,
    "timeout": None,
    "insights_base_url": None,
    "api_base_url": None,
    "proxy": None,
}


#: The global options that configure the client, by attribute: meaningless for fake-server.
CLIENT_FLAGS = {
    "demo": "--demo",
    "max_concurrency": "--max-concurrency",
    "timeout": "--timeout",
    "insights_base_url": "--insights-base-url",
    "api_base_url": "--api-base-url",
    "proxy": "--proxy",
    "verbose": "--verbose",  # the SDK's log: the server makes no client request
}


# -- option groups ------------------------------------------------------------------------


class _Arguments(Protocol):
    """What parsers and argument groups share: ``add_argument``."""

    def add_argument(self, *names: str, **options: Any) -> argparse.Action: ...


def add_global_options(parser: argparse.ArgumentParser) -> None:
    """The options every command takes, before or after its name (--demo, -v, --proxy...)."""
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
        help=(
            "log every request and retry on stderr (the library's DEBUG log, redacted); "
            "TWILIO_CONF_INSIGHTS_LOG=debug|info does the same without the option"
        ),
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
        "--proxy",
        metavar="URL",
        default=suppress,
        help=(
            "send every request through this HTTP proxy, http://[user:password@]host:port "
            "(default: $HTTPS_PROXY / $HTTP_PROXY, except hosts in $NO_PROXY)"
        ),
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


def add_output_format(parser: argparse.ArgumentParser) -> None:
    """-f/--format of a command printing records."""
    parser.add_argument(
        "-f",
        "--format",
        choices=("table", "json", "jsonl"),
        default=None,
        help="output format (default: table on a terminal, jsonl otherwise)",
    )


def add_paging(parser: _Arguments) -> None:
    """--page-size and --limit of a listing."""
    parser.add_argument(
        "--page-size", type=int, metavar="N", help="items per request, 1-1000 (default: Twilio's)"
    )
    parser.add_argument(
        "--limit", type=non_negative_int, metavar="N", help="stop after N items (0: none)"
    )


def _flag(spec: Filter) -> str:
    return "--" + (spec.item or spec.name).replace("_", "-")


def _dest(spec: Filter) -> str:
    return spec.item or spec.name


def add_filters(parser: _Arguments, table: FilterTable, *, skip: tuple[str, ...] = ()) -> None:
    """One option per filter of ``table`` (a filter taking several values: repeatable)."""
    for spec in table:
        if spec.name in skip:
            continue
        options: dict[str, Any] = {"metavar": spec.metavar, "dest": _dest(spec)}
        help_text = spec.summary
        if spec.kind == "time":
            options["type"] = parse_datetime
            help_text += " (ISO 8601; UTC when no offset)"
        elif spec.kind == "bool":
            options["type"] = parse_bool
        if spec.item is not None:
            options["action"] = "append"
            help_text += " (repeatable, or comma-separated)"
        if spec.choices is not None:
            help_text += f": {one_of(spec.choices)}"
        parser.add_argument(_flag(spec), help=help_text, **options)


def filter_values(args: argparse.Namespace, table: FilterTable) -> dict[str, Any]:
    """The filters of ``table`` given on the command line, as keyword arguments."""
    given = {spec.name: getattr(args, _dest(spec), None) for spec in table}
    return {name: value for name, value in given.items() if value is not None}


def add_conference_filters(
    parser: argparse.ArgumentParser, *, paging: bool = True, subaccounts: bool = False
) -> None:
    """The conference filters; ``subaccounts``: --subaccount repeatable, each synced alone."""
    group = parser.add_argument_group("conference filters")
    add_filters(group, CONFERENCE_FILTERS, skip=("subaccount",) if subaccounts else ())
    if subaccounts:
        group.add_argument(
            "--subaccount",
            action="append",
            metavar="AC…",
            help="sync this subaccount (repeatable; each is synced on its own)",
        )
    if paging:
        add_paging(group)


def conference_filters(args: argparse.Namespace) -> dict[str, Any]:
    """The conference filter options, as keyword arguments of ``conferences.list``."""
    given = filter_values(args, CONFERENCE_FILTERS)
    for name in ("page_size", "limit"):
        if getattr(args, name, None) is not None:
            given[name] = getattr(args, name)
    return given


def client_options(args: argparse.Namespace) -> ClientOptions:
    """The client settings given by the global options."""
    return ClientOptions(
        demo=args.demo,
        max_concurrency=args.max_concurrency,
        timeout=args.timeout,
        insights_base_url=args.insights_base_url,
        api_base_url=args.api_base_url,
        proxy=args.proxy,
    )
