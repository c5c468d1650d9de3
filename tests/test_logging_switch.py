"""TWILIO_CONF_INSIGHTS_LOG=debug|info: the SDK's redacted log on stderr, with no code."""

from __future__ import annotations

import asyncio
import sys

import pytest

from tests.helpers import PATIENCE, clean_env, cli, fake_env
from twilio_conf_insights.testing import FakeTwilio, FaultKind

#: A program that only uses the library: no logging set up at all.
PROGRAM = """
import asyncio, sys
from twilio_conf_insights import InsightsClient

async def main() -> None:
    async with InsightsClient.from_env() as client:
        await client.conferences.fetch(sys.argv[1])

asyncio.run(main())
"""


async def _run_program(env: dict[str, str], sid: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        PROGRAM,
        sid,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    _, stderr = await asyncio.wait_for(process.communicate(), timeout=PATIENCE)
    assert process.returncode is not None
    return process.returncode, stderr.decode()


@pytest.mark.parametrize(
    ("level", "requests_logged"), [("debug", True), ("info", False), ("", False)]
)
async def test_the_variable_turns_the_log_on_in_a_program_that_set_up_nothing(
    fake: FakeTwilio, level: str, requests_logged: bool
) -> None:
    """debug logs each request and retry, info the retries only, unset nothing; no secret."""
    fake.faults.queue(FaultKind.SERVER_ERROR, count=1)
    sid = fake.data.conferences[0]["conference_sid"]
    env = fake_env(fake, TWILIO_CONF_INSIGHTS_LOG=level) if level else fake_env(fake)
    status, stderr = await _run_program(env, sid)
    assert status == 0, stderr
    assert (f"DEBUG twilio_conf_insights: GET {fake.base_url}/v1/Conferences/{sid}" in stderr) is (
        requests_logged
    )
    assert ("INFO twilio_conf_insights: retrying GET" in stderr) is bool(level)
    assert fake.auth_token not in stderr


async def test_an_unknown_level_is_ignored_with_a_warning(fake: FakeTwilio) -> None:
    """TWILIO_CONF_INSIGHTS_LOG=loud logs nothing but says the value was ignored."""
    env = fake_env(fake, TWILIO_CONF_INSIGHTS_LOG="loud")
    status, stderr = await _run_program(env, fake.data.conferences[0]["conference_sid"])
    assert status == 0
    assert "TWILIO_CONF_INSIGHTS_LOG='loud' is not one of debug, info: ignored" in stderr
    assert "GET" not in stderr


async def test_the_command_line_honours_it_like_verbose(cli_fake: FakeTwilio) -> None:
    """The CLI logs its requests with the variable set, as with -v, each line once."""
    sid = cli_fake.data.conferences[0]["conference_sid"]
    run = await cli(
        "conferences", "get", sid, env=fake_env(cli_fake, TWILIO_CONF_INSIGHTS_LOG="debug")
    )
    assert run.returncode == 0, run.stderr
    request_lines = [line for line in run.stderr.splitlines() if f"GET {cli_fake.base_url}" in line]
    assert len(request_lines) == 1, run.stderr
    assert cli_fake.auth_token not in run.stderr
    both = await cli(
        "conferences", "get", sid, "-v", env=fake_env(cli_fake, TWILIO_CONF_INSIGHTS_LOG="info")
    )
    assert [line for line in both.stderr.splitlines() if "GET" in line] == [
        f"twilio-conf-insights: DEBUG GET {cli_fake.base_url}/v1/Conferences/{sid} "
        f"(attempt 1, call 1)"
    ]
    quiet = await cli("conferences", "get", sid, env=fake_env(cli_fake))
    assert quiet.stderr == ""
    assert "TWILIO_CONF_INSIGHTS_LOG" not in clean_env()
