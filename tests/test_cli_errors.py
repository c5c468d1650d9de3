"""The CLI's exit statuses and one-line errors for bad usage, credentials and API errors."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from tests.helpers import assert_one_line_error, clean_env, cli, fake_env
from twilio_conf_insights.testing import FakeTwilio

# A token no real account has, so finding it in output can only mean it leaked.
SECRET = "tok3n-Do-Not-Print-9f8e7d6c5b4a"


async def test_usage_errors_exit_2(cli_fake: FakeTwilio, tmp_path: Path) -> None:
    """Bad options and argument values exit 2 with a one-line message and no request."""
    env = fake_env(cli_fake)
    cf = cli_fake.data.conferences[0]["conference_sid"]
    runs = await asyncio.gather(
        cli("--no-such-option", "report", env=env),
        cli("conferences", "list", "--created-after", "last tuesday", env=env),
        cli("conferences", "list", "--status", "finished", env=env),
        cli("conferences", "list", "--page-size", "5000", env=env),
        cli("conferences", "get", "CF123", env=env),
        cli("participants", "get", cf, "CA" + "0" * 32, env=env),
        cli("participants", "list", "not-a-sid", env=env),
        cli("live-participants", "list", cf, "--muted", "maybe", env=env),
        cli("live-participants", "get", "CFxyz", "agent 7", env=env),
        cli("export", "-o", str(tmp_path), env=env),
        cli("report", "--tag", "no_such_tag", env=env),
        cli("--demo", "--insights-base-url", "http://127.0.0.1:1", "report", env=env),
    )
    for run in runs:
        assert run.returncode == 2, (run.stdout, run.stderr)
        assert "Traceback" not in run.stderr
        assert run.stdout == ""
    # Errors found by the SDK (after parsing) are one line.
    for run in runs[2:7]:
        assert_one_line_error(run)
    assert os.listdir(tmp_path) == []


async def test_missing_credentials_exit_2() -> None:
    """Missing credentials exit 2 naming the environment variable that is missing."""
    no_sid, no_token = await asyncio.gather(
        cli("conferences", "list", env=clean_env(TWILIO_AUTH_TOKEN=SECRET)),
        cli("report", env=clean_env(TWILIO_ACCOUNT_SID="AC" + "1" * 32)),
    )
    for run in (no_sid, no_token):
        assert run.returncode == 2
        assert_one_line_error(run)
        assert "TWILIO_ACCOUNT_SID" in run.stderr
        assert "TWILIO_AUTH_TOKEN" in run.stderr
        assert SECRET not in run.stdout + run.stderr


async def test_unknown_conference_exits_1(cli_fake: FakeTwilio) -> None:
    """A 404 exits 1 with a one-line error and nothing on stdout."""
    run = await cli("conferences", "get", "CF" + "0" * 32, env=fake_env(cli_fake))
    assert run.returncode == 1
    assert_one_line_error(run)
    assert "404" in run.stderr
    assert run.stdout == ""


async def test_wrong_credentials_exit_1_and_never_print_the_secret(
    cli_fake: FakeTwilio, tmp_path: Path
) -> None:
    """Wrong credentials exit 1 in every command, and the secret is never printed."""
    env = fake_env(cli_fake, TWILIO_AUTH_TOKEN=SECRET)
    cf = cli_fake.data.conferences[0]["conference_sid"]
    runs = await asyncio.gather(
        cli("conferences", "get", cf, env=env),
        cli("conferences", "list", "--format", "table", env=env),
        cli("participants", "list", cf, env=env),
        cli("live-participants", "list", cf, env=env),
        cli("report", env=env),
        cli("export", "--with-participants", "-o", str(tmp_path / "x.csv"), env=env),
    )
    for run in runs:
        assert run.returncode == 1
        assert_one_line_error(run)
        assert "401" in run.stderr
        assert SECRET not in run.stdout
        assert SECRET not in run.stderr
    assert os.listdir(tmp_path) == []
