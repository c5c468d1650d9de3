"""Setting a client up: credentials from the environment, sessions, closing, its event loop."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.helpers import ClientFactory, UnreachableHosts
from twilio_conf_insights import (
    ClientClosedError,
    ConfigurationError,
    InsightsClient,
    RetryPolicy,
    TransportError,
)
from twilio_conf_insights.testing import FakeTwilio


async def test_user_session_is_used_and_left_open(fake: FakeTwilio) -> None:
    """A session passed in is used for the requests and left open when the client closes."""
    async with aiohttp.ClientSession() as session:
        client = InsightsClient(
            fake.account_sid,
            fake.auth_token,
            insights_base_url=fake.insights_base_url,
            session=session,
        )
        async with client:
            await client.conferences.fetch(fake.data.conferences[0]["conference_sid"])
        assert client.closed
        assert not session.closed
        assert fake.requests[-1].headers["User-Agent"].startswith("twilio-conf-insights/")


async def test_closed_client_raises_a_clear_error(client: InsightsClient, fake: FakeTwilio) -> None:
    """Calls on a closed client raise ClientClosedError, for fetches and listings alike."""
    await client.aclose()
    with pytest.raises(ClientClosedError, match="closed"):
        await client.conferences.fetch(fake.data.conferences[0]["conference_sid"])
    with pytest.raises(ClientClosedError):
        await client.conferences.list().collect()


def test_missing_credentials_name_the_environment_variables() -> None:
    """from_env names the environment variables that are missing."""
    with pytest.raises(ConfigurationError, match=r"TWILIO_ACCOUNT_SID.*TWILIO_AUTH_TOKEN"):
        InsightsClient.from_env({})
    with pytest.raises(ConfigurationError, match="TWILIO_AUTH_TOKEN"):
        InsightsClient.from_env({"TWILIO_ACCOUNT_SID": "AC" + "a" * 32})
    with pytest.raises(ConfigurationError, match="api_secret"):
        InsightsClient.from_env(
            {"TWILIO_ACCOUNT_SID": "AC" + "a" * 32, "TWILIO_API_KEY": "SK" + "a" * 32}
        )


async def test_from_env_reads_twilio_python_variables(fake: FakeTwilio) -> None:
    """from_env reads twilio-python's variables: region and edge (where calls go), credentials."""
    env = {
        "TWILIO_ACCOUNT_SID": fake.account_sid,
        "TWILIO_AUTH_TOKEN": fake.auth_token,
        "TWILIO_REGION": "ie1",
        "TWILIO_EDGE": "dublin",
    }
    hosts = UnreachableHosts()
    async with (
        aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=hosts)) as session,
        InsightsClient.from_env(env, session=session, retry=RetryPolicy.disabled()) as remote,
    ):
        with pytest.raises(TransportError) as caught:
            await remote.conferences.fetch(fake.data.conferences[0]["conference_sid"])
    assert caught.value.kind == "connect"
    assert hosts.asked == ["insights.dublin.ie1.twilio.com"]
    async with InsightsClient.from_env(env, insights_base_url=fake.insights_base_url) as local:
        assert (
            await local.conferences.fetch(fake.data.conferences[0]["conference_sid"])
        ).conference_sid


async def test_api_key_auth(fake: FakeTwilio) -> None:
    """API-key credentials from the environment authenticate; the secret is not in the repr."""
    key, secret = "SK" + "1" * 32, "key-secret"
    async with FakeTwilio(conferences=2, seed=3, api_key=key, api_secret=secret) as keyed:
        env = {
            "TWILIO_ACCOUNT_SID": keyed.account_sid,
            "TWILIO_API_KEY": key,
            "TWILIO_API_SECRET": secret,
        }
        async with InsightsClient.from_env(
            env, insights_base_url=keyed.insights_base_url
        ) as client:
            summary = await client.conferences.fetch(keyed.data.conferences[0]["conference_sid"])
        assert summary.conference_sid == keyed.data.conferences[0]["conference_sid"]
        assert "key-secret" not in repr(client)


def test_plain_http_only_for_loopback() -> None:
    """A plain-http base URL is refused unless its host is loopback."""
    with pytest.raises(ConfigurationError, match="loopback"):
        InsightsClient("AC" + "a" * 32, "t", insights_base_url="http://insights.example.com")
    InsightsClient("AC" + "a" * 32, "t", insights_base_url="http://127.0.0.1:1")


async def test_a_closed_user_session_is_a_clear_error(fake: FakeTwilio) -> None:
    """A closed session passed in raises ClientClosedError before anything is sent."""
    session = aiohttp.ClientSession()
    await session.close()
    async with InsightsClient(
        fake.account_sid, fake.auth_token, insights_base_url=fake.insights_base_url, session=session
    ) as client:
        with pytest.raises(ClientClosedError, match="session"):
            await client.conferences.fetch(fake.data.conferences[0]["conference_sid"])
    assert fake.requests == []


def test_a_client_is_bound_to_one_event_loop() -> None:
    """A client used from a second event loop raises ClientClosedError naming the event loop."""

    async def serve_and_use(client: InsightsClient | None) -> InsightsClient:
        async with FakeTwilio(conferences=1, seed=2) as fake:
            if client is None:
                client = InsightsClient(
                    fake.account_sid, fake.auth_token, insights_base_url=fake.insights_base_url
                )
                await client.conferences.fetch(fake.data.conferences[0]["conference_sid"])
                return client
            with pytest.raises(ClientClosedError, match="event loop"):
                await client.conferences.fetch(fake.data.conferences[0]["conference_sid"])
            await client.aclose()
            return client

    first = asyncio.run(serve_and_use(None))
    asyncio.run(serve_and_use(first))


def test_from_env_refuses_explicit_credentials() -> None:
    """from_env refuses credentials passed as arguments."""
    env = {"TWILIO_ACCOUNT_SID": "AC" + "a" * 32, "TWILIO_AUTH_TOKEN": "t"}
    with pytest.raises(ConfigurationError, match="auth_token"):
        InsightsClient.from_env(env, auth_token="other")


async def test_user_agent_extensions_are_appended_to_ours(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """user_agent_extensions=("myapp/1.2",) appends to the SDK's own product tokens."""
    client = make_client(user_agent_extensions=("myapp/1.2", "(ops-team)"))
    await client.conferences.fetch(fake.data.conferences[0]["conference_sid"])
    agent = fake.requests[-1].headers["User-Agent"]
    assert agent.startswith("twilio-conf-insights/")
    assert agent.endswith(" myapp/1.2 (ops-team)")


async def test_a_sessions_own_user_agent_is_kept_and_ours_appended(fake: FakeTwilio) -> None:
    """A session with its own User-Agent keeps it first; ours and the extensions follow."""
    async with (
        aiohttp.ClientSession(headers={"User-Agent": "gateway/7"}) as session,
        InsightsClient(
            fake.account_sid,
            fake.auth_token,
            insights_base_url=fake.insights_base_url,
            session=session,
            user_agent_extensions=["myapp/1.2"],
        ) as client,
    ):
        await client.conferences.fetch(fake.data.conferences[0]["conference_sid"])
    agent = fake.requests[-1].headers["User-Agent"]
    assert agent.startswith("gateway/7 twilio-conf-insights/")
    assert agent.endswith(" myapp/1.2")


@pytest.mark.parametrize("bad", ["myapp/1.2", ["bad\r\nHeader: 1"], [""], [3]])
def test_user_agent_extensions_must_be_printable_tokens(bad: object) -> None:
    """A bare string, a line break, an empty or non-string extension is refused up front."""
    with pytest.raises(ConfigurationError, match=r"User-Agent|user_agent_extensions"):
        InsightsClient("AC" + "a" * 32, "t", user_agent_extensions=bad)  # type: ignore[arg-type]
