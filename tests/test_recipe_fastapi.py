"""What only the FastAPI recipe does: uvicorn does not cancel a plain endpoint whose caller
hung up, and Starlette stops a streaming response whose caller left."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

from tests.recipes.fastapi_app import Insights, create_app
from tests.web_support import client_for, hang_up_during_twilio_call, served, until
from twilio_conf_insights import InsightsClient
from twilio_conf_insights.testing import FakeTwilio


def client_of(app: FastAPI) -> InsightsClient:
    client: InsightsClient = app.state.insights
    return client


def sids(fake: FakeTwilio) -> list[str]:
    return [conference["conference_sid"] for conference in fake.data.conferences]


async def test_without_unless_hung_up_a_hang_up_does_not_cancel(fake: FakeTwilio) -> None:
    """As the README says: uvicorn lets a plain endpoint's Twilio call run to its end."""
    app = create_app(client_for(fake, timeout=600.0), deadline=600.0)

    @app.get("/plain/{sid}")
    async def plain(sid: str, client: Insights) -> dict[str, Any]:
        return (await client.conferences.fetch(sid)).to_dict()

    fake.latency = 1.0
    async with served(app) as session:
        fake.reset_stats()
        await hang_up_during_twilio_call(session, f"/plain/{sids(fake)[0]}", fake)
        assert [request.status for request in fake.requests] == [200]  # answered, for nobody


async def test_hang_up_stops_an_ndjson_stream() -> None:
    """Starlette stops a streaming response whose caller left: no further page is fetched."""
    async with FakeTwilio(conferences=320, seed=5) as fake:
        app = create_app(client_for(fake, timeout=600.0), deadline=600.0)
        async with served(app) as session:
            fake.reset_stats()
            response = await session.get("/conferences?limit=300")
            assert response.status == 200
            await response.content.readline()  # the first page is streaming
            fake.latency = 600.0  # the prefetched second page hangs
            await until(lambda: fake.in_flight == 1)
            response.close()  # hang up
            await until(lambda: fake.in_flight == 0)
            assert client_of(app).stats().in_flight == 0
