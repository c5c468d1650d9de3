"""The auth token never shows: not in reprs, logs, errors, tracebacks or echoed error bodies."""

from __future__ import annotations

import logging
import traceback

import aiohttp
import pytest
from aiohttp import web

from twilio_conf_insights import (
    ApiError,
    AuthenticationError,
    InsightsClient,
    RetryExhaustedError,
    RetryPolicy,
)
from twilio_conf_insights.testing import FakeTwilio, Fault, FaultKind


async def test_secret_is_absent_from_repr_logs_and_errors(
    fake: FakeTwilio, caplog: pytest.LogCaptureFixture
) -> None:
    """The auth token is in no repr, log line or error, and no aiohttp exception rides along."""
    secret = "s3cr3t-" + "f" * 25
    caplog.set_level(logging.DEBUG, logger="twilio_conf_insights")
    client = InsightsClient(
        fake.account_sid,
        secret,
        insights_base_url=fake.insights_base_url,
        api_base_url=fake.api_base_url,
        retry=RetryPolicy(max_attempts=2),
    )
    texts = [repr(client), str(client)]
    async with client:
        with pytest.raises(AuthenticationError) as auth_error:
            await client.conferences.fetch(fake.data.conferences[0]["conference_sid"])
        texts += [str(auth_error.value), repr(auth_error.value)]
        fake.faults.queue(Fault(FaultKind.CONNECTION_RESET), count=5)
        with pytest.raises(RetryExhaustedError) as exhausted:
            await client.conferences.fetch(fake.data.conferences[0]["conference_sid"])
        texts += [str(exhausted.value), repr(exhausted.value), str(exhausted.value.last_error)]
        chain: BaseException | None = exhausted.value.last_error
        while chain is not None:  # nothing in the chain carries aiohttp's request info
            assert not isinstance(chain, aiohttp.ClientError)
            chain = chain.__cause__ or chain.__context__
    texts += [record.getMessage() for record in caplog.records]
    assert any("GET" in t for t in texts)  # the DEBUG request log ran
    encoded = aiohttp.encode_basic_auth(fake.account_sid, secret).split()[1]
    for text in texts:
        assert secret not in text
        assert encoded not in text


async def test_tracebacks_carry_no_secret() -> None:
    """Formatted tracebacks of resets, truncated bodies and timeouts carry no credential."""
    secret = "tb-secret-" + "e" * 22
    async with FakeTwilio(conferences=1, seed=4, auth_token=secret) as fake:
        client = InsightsClient(
            fake.account_sid,
            secret,
            insights_base_url=fake.insights_base_url,
            retry=RetryPolicy(max_attempts=2),
            timeout=0.1,
        )
        async with client:
            for fault in (FaultKind.CONNECTION_RESET, FaultKind.TRUNCATED_BODY, FaultKind.STALL):
                # Four: aiohttp itself resends once on a reset keep-alive connection.
                fake.faults.queue(Fault(fault, stall_seconds=0.5), count=4)
                with pytest.raises(RetryExhaustedError) as caught:
                    await client.conferences.fetch(fake.data.conferences[0]["conference_sid"])
                fake.faults.clear()
                text = "".join(traceback.format_exception(caught.value))
                assert "Traceback" in text
                assert secret not in text
                assert aiohttp.encode_basic_auth(fake.account_sid, secret).split()[1] not in text


async def test_an_echoed_authorization_header_is_scrubbed_from_errors() -> None:
    """An Authorization header echoed into an error body is redacted from the message."""

    async def echo(request: web.Request) -> web.Response:
        return web.Response(status=403, text=f"denied: {request.headers['Authorization']}")

    app = web.Application()
    app.router.add_get("/v1/Conferences/{sid}", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    secret = "echo-secret-" + "d" * 20
    try:
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        async with InsightsClient("AC" + "a" * 32, secret, insights_base_url=url) as client:
            with pytest.raises(ApiError) as caught:
                await client.conferences.fetch("CF" + "a" * 32)
    finally:
        await runner.cleanup()
    text = str(caught.value)
    assert "denied: <redacted>" in text
    assert aiohttp.encode_basic_auth("AC" + "a" * 32, secret).split()[1] not in text
