"""The library and the command line read the same environment variables."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from tests.helpers import assert_one_line_error, cli, fake_env
from tests.sync_support import stored
from twilio_conf_insights import ConfigurationError, InsightsClient
from twilio_conf_insights.testing import FakeTwilio


def fake_environment(fake: FakeTwilio) -> dict[str, str]:
    """What ``twilio-conf-insights fake-server`` prints, as a mapping."""
    return {
        "TWILIO_ACCOUNT_SID": fake.account_sid,
        "TWILIO_AUTH_TOKEN": fake.auth_token,
        "TWILIO_INSIGHTS_BASE_URL": fake.insights_base_url,
        "TWILIO_API_BASE_URL": fake.api_base_url,
    }


async def test_from_env_reads_the_base_url_overrides(fake: FakeTwilio) -> None:
    """After `. fake.env`, from_env() talks to the fake, not to Twilio's hosts."""
    async with InsightsClient.from_env(fake_environment(fake)) as client:
        assert client.insights_base_url == fake.insights_base_url
        assert client.api_base_url == fake.api_base_url
        first = fake.data.conferences[0]["conference_sid"]
        summary = await client.conferences.fetch(first)
        live = await client.participants.list(first).collect()
    assert summary.conference_sid == first
    assert len(live) == len(fake.data.participants[first])
    assert {request.path.split("/")[1] for request in fake.requests} == {"v1", "2010-04-01"}


async def test_options_win_over_the_environment(fake: FakeTwilio) -> None:
    """An explicit base URL wins over TWILIO_INSIGHTS_BASE_URL."""
    env = fake_environment(fake) | {"TWILIO_INSIGHTS_BASE_URL": "https://proxy.example"}
    async with InsightsClient.from_env(env, insights_base_url=fake.insights_base_url) as client:
        assert client.insights_base_url == fake.insights_base_url


def test_plain_http_in_the_environment_only_for_loopback() -> None:
    """TWILIO_API_BASE_URL=http://… to a host other than loopback is refused."""
    env = {
        "TWILIO_ACCOUNT_SID": "AC" + "a" * 32,
        "TWILIO_AUTH_TOKEN": "b" * 32,
        "TWILIO_API_BASE_URL": "http://api.example.com",
    }
    with pytest.raises(ConfigurationError, match="api_base_url"):
        InsightsClient.from_env(env)


# -- the command line's --db and --broker from the environment -----------------------------


def _range(fake: FakeTwilio) -> list[str]:
    start = fake.now - timedelta(days=3, hours=1)
    return ["--created-after", start.isoformat(), "--created-before", fake.now.isoformat()]


async def test_sync_takes_its_store_from_the_environment(
    cli_fake: FakeTwilio, tmp_path: Path
) -> None:
    """`sync` without --db syncs into $TWILIO_CONF_INSIGHTS_DB; --db given wins over it."""
    from_env, given = tmp_path / "from-env.db", tmp_path / "given.db"
    env = fake_env(cli_fake, TWILIO_CONF_INSIGHTS_DB=str(from_env))
    run = await cli("sync", *_range(cli_fake), env=env)
    assert run.returncode == 0, run.stderr
    assert len(stored(from_env)[0]) == len(cli_fake.data.conferences)
    run = await cli("sync", "--db", str(given), *_range(cli_fake), env=env)
    assert run.returncode == 0, run.stderr
    assert len(stored(given)[0]) == len(cli_fake.data.conferences)


async def test_report_reads_the_store_only_when_asked(cli_fake: FakeTwilio, tmp_path: Path) -> None:
    """`report --db` alone reads $TWILIO_CONF_INSIGHTS_DB; `report` without --db asks the API."""
    store = tmp_path / "insights.db"
    env = fake_env(cli_fake, TWILIO_CONF_INSIGHTS_DB=str(store))
    assert (await cli("sync", *_range(cli_fake), env=env)).returncode == 0
    cli_fake.reset_stats()
    run = await cli("report", "--db", "--format", "json", env=env)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["conferences"] == len(cli_fake.data.conferences)
    assert cli_fake.requests == []  # read from the store
    run = await cli("report", "--format", "json", *_range(cli_fake), env=env)
    assert run.returncode == 0, run.stderr
    assert cli_fake.requests  # the variable alone does not switch report to the store


@pytest.mark.parametrize(
    ("args", "variable"),
    [
        (["report", "--db"], "TWILIO_CONF_INSIGHTS_DB"),
        (["sync"], "TWILIO_CONF_INSIGHTS_DB"),
        (["sync", "--db", "x.db", "--broker"], "TWILIO_CONF_INSIGHTS_BROKER"),
        (["worker", "--db", "postgresql://u@127.0.0.1:1/x"], "TWILIO_CONF_INSIGHTS_BROKER"),
        (["worker", "--broker", "redis://127.0.0.1:1/0"], "TWILIO_CONF_INSIGHTS_DB"),
    ],
)
async def test_a_value_that_should_come_from_an_unset_variable_is_a_usage_error(
    cli_fake: FakeTwilio, args: list[str], variable: str
) -> None:
    """No option value and no variable: exit 2 and one line naming the variable to set."""
    run = await cli(*args, env=fake_env(cli_fake))
    assert run.returncode == 2, run.stderr
    assert_one_line_error(run)
    assert variable in run.stderr
