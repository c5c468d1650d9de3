"""Secrets never leave through messages built from what a peer sent."""

from __future__ import annotations

import asyncio
import base64
import gc
import logging
import sys
from typing import Any

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from twilio_conf_insights import (
    ClientEvent,
    InsightsClient,
    NotFoundError,
    RetryExhaustedError,
    RetryPolicy,
    TransportError,
)
from twilio_conf_insights._errors import error_from_response
from twilio_conf_insights._redaction import REDACTED, _Registry, redact, redact_url

from .hostile import ANSWERS, echoing_server

ACCOUNT = "AC" + "1" * 32
TOKEN = "0123456789abcdef0123456789abcdef"
API_KEY = "SK" + "2" * 32
API_SECRET = "s3cr3t-api-secret-value-for-tests"
TWO_ATTEMPTS = RetryPolicy(max_attempts=2)  # the suite's fast_retries mode skips the waits


def secret_forms(user: str, password: str) -> list[str]:
    """The password, the Basic credential and its base64 part."""
    b64 = base64.b64encode(f"{user}:{password}".encode()).decode()
    return [password, f"Basic {b64}", b64]


def assert_clean(text: str, forms: list[str]) -> None:
    for form in forms:
        assert form not in text, text
    # No 16-character piece of the token or its base64 either.
    for form in forms:
        for start in range(0, len(form) - 16):
            assert form[start : start + 16] not in text, text


@pytest.mark.parametrize("where", sorted(ANSWERS))
@pytest.mark.parametrize("auth", ["token", "api key"])
async def test_echoed_credentials_are_redacted_everywhere(
    where: str, auth: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A peer echoing Authorization into malformed HTTP leaks it into no message, log or event."""
    if auth == "token":
        options: dict[str, Any] = {"auth_token": TOKEN}
        forms = secret_forms(ACCOUNT, TOKEN)
    else:
        options = {"api_key": API_KEY, "api_secret": API_SECRET}
        forms = secret_forms(API_KEY, API_SECRET)
    events: list[ClientEvent] = []
    caplog.set_level(logging.DEBUG, logger="twilio_conf_insights")
    async with (
        echoing_server(ANSWERS[where]) as base,
        InsightsClient(
            ACCOUNT,
            **options,
            insights_base_url=base,
            api_base_url=base,
            retry=TWO_ATTEMPTS,
            hooks=[events.append],
        ) as client,
    ):
        with pytest.raises(RetryExhaustedError) as caught:
            await client.conferences.fetch("CF" + "a" * 32)
    error = caught.value
    assert isinstance(error.last_error, TransportError)
    # The echo did reach the client, and was replaced.
    assert REDACTED in str(error.last_error)
    texts = [str(error), repr(error), str(error.last_error), repr(error.last_error)]
    texts += [repr(event) for event in events]
    texts += [record.getMessage() for record in caplog.records]
    assert any("retrying GET" in record.getMessage() for record in caplog.records)
    assert events
    for text in texts:
        assert_clean(text, forms)


@pytest.mark.parametrize("where", sorted(ANSWERS))
async def test_cli_one_line_error_is_redacted(where: str) -> None:
    """The command line's one-line error carries no form of the echoed credential."""
    async with echoing_server(ANSWERS[where]) as base:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "twilio_conf_insights",
            "conferences",
            "get",
            "CF" + "a" * 32,
            "--insights-base-url",
            base,
            "--api-base-url",
            base,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={"TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": TOKEN, "PATH": ""},
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 1, err
    text = err.decode()
    assert REDACTED in text
    assert_clean(text + out.decode(), secret_forms(ACCOUNT, TOKEN))


def test_error_body_is_redacted_before_it_is_cut() -> None:
    """A token straddling the 200-character cut of an error body shows none of its characters."""
    # Registers the secret for as long as the client lives, as the transport's errors see it.
    client = InsightsClient(ACCOUNT, TOKEN)
    for offset in range(170, 210):
        body = b"x" * offset + TOKEN.encode() + b" trailing"
        error = error_from_response(502, body, method="GET", url="https://insights.twilio.com/")
        assert_clean(str(error), secret_forms(ACCOUNT, TOKEN))
        assert TOKEN[:4] not in str(error).replace("x", "")
    assert client.account_sid == ACCOUNT


def test_page_token_is_redacted_from_error_urls() -> None:
    """A PageToken in a same-origin link does not appear in an error's URL or message."""
    url = "https://insights.twilio.com/v1/Conferences?PageSize=50&PageToken=PAsecretcursor&Page=2"
    error = NotFoundError(404, 20404, f"no page at {url}", None, "GET", url)
    assert "PAsecretcursor" not in str(error)
    assert "PAsecretcursor" not in repr(error)
    assert error.url.endswith(f"PageToken={REDACTED}&Page=2")
    assert redact_url(url) == error.url


@given(st.text(), st.sampled_from(secret_forms(ACCOUNT, TOKEN)), st.text())
def test_redact_removes_every_form_wherever_it_is(before: str, form: str, after: str) -> None:
    """Any registered secret form is replaced, whatever text surrounds it."""
    _keep = InsightsClient(ACCOUNT, TOKEN)  # registers the secret for this example
    assert form not in redact(before + form + after)
    del _keep


async def test_token_in_a_same_origin_next_page_link_is_redacted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A next-page link carrying the auth token and a PageToken shows neither in logs or errors."""

    async def pages(request: web.Request) -> web.Response:
        if "PageToken" in request.query:
            body = {"code": 20404, "message": "gone", "more_info": "", "status": 404}
            return web.json_response(body, status=404)
        link = f"{request.url.origin()}/v1/Conferences?PageToken=PTcursor1234&Echo={TOKEN}"
        meta = {"key": "conferences", "next_page_url": link, "page": 0, "page_size": 1}
        return web.json_response(
            {"conferences": [{"conference_sid": "CF" + "a" * 32}], "meta": meta}
        )

    app = web.Application()
    app.router.add_get("/v1/Conferences", pages)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    caplog.set_level(logging.DEBUG, logger="twilio_conf_insights")
    events: list[ClientEvent] = []
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    try:
        async with InsightsClient(
            ACCOUNT, TOKEN, insights_base_url=base, hooks=[events.append]
        ) as client:
            with pytest.raises(NotFoundError) as caught:
                await client.conferences.list().collect()
    finally:
        await runner.cleanup()
    texts = [str(caught.value), repr(caught.value), caught.value.url]
    texts += [record.getMessage() for record in caplog.records]
    texts += [repr(event) for event in events]
    assert any("PageToken=<redacted>" in text for text in texts)
    for text in texts:
        assert "PTcursor1234" not in text
        assert_clean(text, secret_forms(ACCOUNT, TOKEN))


def test_registry_forgets_secrets_of_credentials_that_are_gone() -> None:
    """Forms are scrubbed while their client lives and dropped with it: nothing is kept."""
    token = "9" * 31 + "8"
    client = InsightsClient(ACCOUNT, token)
    assert redact(f"echo {token}") == f"echo {REDACTED}"
    del client
    gc.collect()
    assert redact(f"echo {token}") == f"echo {token}"


def test_log_records_are_redacted_whatever_their_arguments(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A record of the SDK's logger is redacted even when the secret is in its arguments."""
    client = InsightsClient(ACCOUNT, TOKEN)
    caplog.set_level(logging.INFO, logger="twilio_conf_insights")
    logging.getLogger("twilio_conf_insights").info("peer said %s", f"Authorization: {TOKEN}")
    assert caplog.records[-1].getMessage() == f"peer said Authorization: {REDACTED}"
    assert client.account_sid == ACCOUNT


class _CyclicHolder:
    """Credentials-like: collected only by the cycle collector, i.e. at any allocation."""

    def __init__(self, number: int) -> None:
        self.me = self
        self.secret = f"secret-form-{number:020d}"

    def secret_forms(self) -> tuple[str, ...]:
        return (self.secret,)


def test_credentials_collected_while_the_pattern_is_built_are_dropped_after() -> None:
    """A collection in the middle of building the pattern neither breaks it nor is lost."""
    registry = _Registry()
    kept = _CyclicHolder(0)
    registry.register(kept)
    gone = [_CyclicHolder(number) for number in range(1, 200)]
    for holder in gone:
        registry.register(holder)
    secret_of_gone = gone[0].secret
    del gone, holder
    threshold = gc.get_threshold()
    gc.set_threshold(1)  # collect at (nearly) every allocation, as a busy process may
    try:
        for _ in range(20):
            assert registry.pattern() is not None
    finally:
        gc.set_threshold(*threshold)
    gc.collect()
    pattern = registry.pattern()
    assert pattern is not None
    assert pattern.fullmatch(kept.secret)
    assert not pattern.search(secret_of_gone)
