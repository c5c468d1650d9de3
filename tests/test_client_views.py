"""Per-call options: ``client.with_options(...)`` views over one connection, limiter and hooks."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from tests.helpers import ClientFactory, EventLog
from twilio_conf_insights import (
    ClientClosedError,
    ConfigurationError,
    InsightsClient,
    RequestSent,
    RetryPolicy,
    TransportError,
)
from twilio_conf_insights.testing import FakeTwilio


async def test_a_fast_view_fails_in_time_while_a_patient_one_succeeds_under_one_cap(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """A 0.2 s view and a patient view on one client: one cap, the fast one times out."""
    fake.latency = 0.5
    client = make_client(max_concurrency=3)
    fast = client.with_options(timeout=0.2, retry=RetryPolicy.disabled())
    sids = [c["conference_sid"] for c in fake.data.conferences[:6]]
    outcomes = await asyncio.gather(
        *(fast.conferences.fetch(sid) for sid in sids),
        *(client.conferences.fetch(sid) for sid in sids),
        return_exceptions=True,
    )
    quick, patient = outcomes[:6], outcomes[6:]
    for error in quick:
        assert isinstance(error, TransportError), error
        assert error.kind == "timeout"
        assert "within 0.2s" in str(error)
    assert [getattr(summary, "conference_sid", None) for summary in patient] == sids
    assert len(fake.requests) == 12
    assert fake.max_in_flight <= 3  # the fake's own count: one cap for both views


async def test_a_view_shares_the_session_limiter_and_hooks(fake: FakeTwilio) -> None:
    """A view's requests use the client's pool and hooks; its stats are the client's."""
    log = EventLog()
    async with aiohttp.ClientSession() as session:
        client = InsightsClient(
            fake.account_sid,
            fake.auth_token,
            insights_base_url=fake.insights_base_url,
            session=session,
            hooks=[log],
            max_concurrency=5,
        )
        view = client.with_options(timeout=10, headers={"X-Caller": "handler"})
        sid = fake.data.conferences[0]["conference_sid"]
        await view.conferences.fetch(sid)
        await client.conferences.fetch(sid)
        assert view.stats() == client.stats()
        assert view.stats().max_concurrency == 5
        assert log.count(RequestSent) == 2
        assert fake.requests[0].headers["X-Caller"] == "handler"
        assert "X-Caller" not in fake.requests[1].headers
        assert view.options.timeout == 10
        assert client.options.timeout == 30
        await client.aclose()
        assert not session.closed


async def test_closing_a_view_closes_nothing_shared(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """A closed view refuses its calls; the client and another view go on."""
    client = make_client()
    sid = fake.data.conferences[0]["conference_sid"]
    async with client.with_options(timeout=5) as view:
        await view.conferences.fetch(sid)
    sibling = client.with_options(timeout=7)
    assert view.closed
    assert not client.closed
    with pytest.raises(ClientClosedError):
        await view.conferences.fetch(sid)
    assert (await client.conferences.fetch(sid)).conference_sid == sid
    assert (await sibling.conferences.fetch(sid)).conference_sid == sid
    assert len(fake.requests) == 3


async def test_closing_the_client_closes_its_views(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """Once the client is closed, each of its views (and a view of a view) is closed too."""
    client = make_client()
    view = client.with_options(timeout=5)
    deeper = view.with_options(retry=RetryPolicy.disabled())
    await client.aclose()
    for closed in (view, deeper):
        assert closed.closed
        with pytest.raises(ClientClosedError):
            await closed.conferences.fetch(fake.data.conferences[0]["conference_sid"])
    assert fake.requests == []


def test_view_options_are_checked_and_the_sdks_headers_kept() -> None:
    """Bad options and attempts to replace the SDK's own headers fail before any call."""
    client = InsightsClient("AC" + "1" * 32, "token-token")
    with pytest.raises(ValueError, match="timeout"):
        client.with_options(timeout=0)
    with pytest.raises(ValueError, match="max_body_bytes"):
        client.with_options(max_body_bytes=-1)
    with pytest.raises(ConfigurationError, match="RetryPolicy"):
        client.with_options(retry=3)  # type: ignore[arg-type]
    for reserved in ("Authorization", "user-agent", "Proxy-Authorization"):
        with pytest.raises(ConfigurationError, match="set by the client"):
            client.with_options(headers={reserved: "x"})
    with pytest.raises(ConfigurationError, match="line breaks"):
        client.with_options(headers={"X-Note": "a\r\nInjected: 1"})
