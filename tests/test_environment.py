"""The library and the command line read the same environment variables."""

from __future__ import annotations

import pytest

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
