"""The CLI's argument parsing: --version and --help, global option placement, timestamps."""

from __future__ import annotations

import pytest

from twilio_conf_insights.cli import main
from twilio_conf_insights.cli._parser import parse_args, parse_datetime


def test_version_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    """--version and --help print and exit 0; an unknown option exits 2."""
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("twilio-conf-insights ")
    assert main(["--help"]) == 0
    assert "--demo" in capsys.readouterr().out
    assert main(["report", "--bogus"]) == 2
    assert "unrecognized arguments" in capsys.readouterr().err


def test_global_options_go_before_or_after_the_command() -> None:
    """Global options are accepted before or after the command, the last one winning."""
    before = parse_args(["--demo", "--max-concurrency", "4", "report"])
    after = parse_args(["report", "--demo", "--quiet", "--timeout", "2.5"])
    both = parse_args(["--max-concurrency", "4", "report", "--max-concurrency", "8"])
    assert (before.demo, before.max_concurrency, before.quiet) == (True, 4, False)
    assert (after.demo, after.quiet, after.timeout) == (True, True, 2.5)
    assert both.max_concurrency == 8
    assert parse_args(["report", "--tag", "low_mos,high_jitter", "--tag", "high_latency"]).tag == [
        "low_mos",
        "high_jitter",
        "high_latency",
    ]


def test_timestamps_without_offset_are_utc() -> None:
    """Dates and times given without an offset are read as UTC."""
    assert parse_datetime("2025-06-01").isoformat() == "2025-06-01T00:00:00+00:00"
    assert parse_datetime("2025-06-01T08:30").isoformat() == "2025-06-01T08:30:00+00:00"
    assert parse_datetime("2025-06-01T08:30Z").isoformat() == "2025-06-01T08:30:00+00:00"
    assert parse_datetime("2025-06-01T08:30+02:00").isoformat() == "2025-06-01T08:30:00+02:00"
