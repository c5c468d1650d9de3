"""Option values: text from the command line turned into numbers, datetimes, booleans.

Each raises :class:`argparse.ArgumentTypeError`, which argparse turns into a usage error
(exit status 2) naming the option. :class:`EnvironmentOption` is an option whose value may
come from an environment variable instead (a URL with a password in it).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from enum import Enum

import attrs

from .._errors import InvalidArgumentError

__all__ = [
    "FROM_ENVIRONMENT",
    "EnvironmentOption",
    "count_or_all",
    "int_at_least",
    "non_negative_float",
    "non_negative_int",
    "one_of",
    "parse_bool",
    "parse_datetime",
    "port",
    "split_commas",
]


def parse_datetime(text: str) -> datetime:
    """An ISO 8601 date or date-time; without a UTC offset it is taken as UTC."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not an ISO 8601 timestamp: {text!r} (e.g. 2025-06-01 or 2025-06-01T08:00:00Z)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def parse_bool(text: str) -> bool:
    """``true`` or ``false`` (any case)."""
    lowered = text.strip().lower()
    if lowered not in ("true", "false"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")
    return lowered == "true"


def int_at_least(minimum: int) -> Callable[[str], int]:
    """The argument type of an integer >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {value}")
        return value

    return parse


#: An integer >= 0.
non_negative_int = int_at_least(0)


def count_or_all(text: str) -> int | str:
    """A count (0 means none, as for ``--limit``), or ``all``."""
    if text.strip().lower() == "all":
        return "all"
    return non_negative_int(text)


def port(text: str) -> int:
    """A TCP port number, 0 meaning any free one."""
    value = non_negative_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"must be a TCP port (0-65535), got {value}")
    return value


def non_negative_float(text: str) -> float:
    """A finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value >= 0 or value == float("inf"):  # also rejects NaN
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text!r}")
    return value


def one_of(enum: type[Enum]) -> str:
    """The values of ``enum``, for a help text."""
    return ", ".join(str(member.value) for member in enum)


def split_commas(values: list[str] | None) -> list[str] | None:
    """Repeated and comma-separated values as one list."""
    # "--tag a --tag b" and "--tag a,b" mean the same: Twilio takes a comma-separated list.
    if values is None:
        return None
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


class _FromEnvironment(str):
    """The value argparse stores for an :class:`EnvironmentOption` given without a value."""

    __slots__ = ()


#: ``--db`` given alone: take the value from the option's variable.
FROM_ENVIRONMENT = _FromEnvironment("(from the environment)")


@attrs.frozen
class EnvironmentOption:
    """An option that may hold a password, so its value may come from the environment.

    Whatever is on a command line, every local user can read (``ps``,
    ``/proc/PID/cmdline``); the environment of a process only its owner can. An option a
    command cannot run without falls back to ``variable`` when it is absent; an option
    that switches a command to another source or runner (``report --db``, ``sync
    --broker``) is never turned on by the environment alone: given without a value, it
    takes the variable's.
    """

    flag: str
    variable: str
    #: Whether the command cannot run without it (then absent means "from the variable").
    required: bool
    #: How the value is written in help and errors.
    metavar: str = "URL"

    def add(self, parser: argparse.ArgumentParser, *, help: str) -> None:
        """Add the option to ``parser``."""
        where = "when absent or " if self.required else ""
        parser.add_argument(
            self.flag,
            nargs="?",
            const=FROM_ENVIRONMENT,
            metavar=self.metavar,
            help=f"{help}; {where}given without a value: ${self.variable}",
        )

    def value(self, given: str | None, environ: Mapping[str, str]) -> str | None:
        """The option's text (see :meth:`text`); ``None`` when an optional one is absent."""
        if given is None and not self.required:
            return None
        return self.text(given, environ)

    def text(self, given: str | None, environ: Mapping[str, str]) -> str:
        """The option's text: as given, or the variable's when given bare or absent.

        Raises :class:`InvalidArgumentError` when it should come from the variable and the
        variable is not set.
        """
        if given is not None and not isinstance(given, _FromEnvironment):
            return given
        found = environ.get(self.variable) or None
        if found is None:
            raise InvalidArgumentError(
                f"{self.flag} needs a value: give {self.flag} {self.metavar} or set "
                f"{self.variable} (better for a URL with a password: ps shows command lines)"
            )
        return found
