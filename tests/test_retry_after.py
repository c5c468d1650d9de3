"""Retry-After from a hostile server: any value gives a typed result, never a raw exception."""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from aiohttp import web
from hypothesis import given
from hypothesis import strategies as st

from twilio_conf_insights import (
    InsightsClient,
    NotFoundError,
    RateLimitError,
    RetryExhaustedError,
    RetryPolicy,
    TwilioInsightsError,
)
from twilio_conf_insights._retry import parse_retry_after

NOW = datetime(2024, 3, 4, 10, 0, 0, tzinfo=UTC)
ACCOUNT = "AC" + "1" * 32
CONFERENCE = "CF" + "c" * 32

HOSTILE_VALUES = [
    "Mon, 01 Jan 99999999999 00:00:00 GMT",
    "+99999999999999999999",
    "Mon, 01 Jan 2025 00:00:00 +99999999999999999999",
    "Mon, 01 Jan 2025 00:00:00 -99999999999999999999",
    "9" * 400,
    "Fri, 31 Dec 9999 23:59:59 -2359",
]

_numbers = st.integers(min_value=-(10**30), max_value=10**30).map(str)
_dates = st.builds(
    "{}, {} {} {} {}:{}:{} {}".format,
    st.sampled_from(["Mon", "Tue", "Sun", "xx"]),
    _numbers,
    st.sampled_from(["Jan", "Feb", "Dec", "Foo"]),
    _numbers,
    _numbers,
    _numbers,
    _numbers,
    st.one_of(st.sampled_from(["GMT", "UTC", "EST", ""]), _numbers.map(lambda n: f"+{n}")),
)


def assert_typed(value: float | None) -> None:
    assert value is None or (isinstance(value, float) and math.isfinite(value) and value >= 0)


@pytest.mark.parametrize("header", HOSTILE_VALUES)
def test_out_of_range_dates_and_offsets_are_unreadable(header: str) -> None:
    """Years and UTC offsets beyond datetime's range give None or a finite wait, never raise."""
    assert_typed(parse_retry_after(header, now=NOW))


@given(st.one_of(st.text(), st.binary().map(lambda b: b.decode("latin-1")), _dates, _numbers))
def test_any_header_value_gives_a_typed_result(header: str) -> None:
    """Every string a server can send parses to None or a finite, non-negative float."""
    assert_typed(parse_retry_after(header, now=NOW))
    assert_typed(parse_retry_after(header))


@contextlib.asynccontextmanager
async def answering(status: int, retry_after: str) -> AsyncIterator[str]:
    """A server answering every request with ``status`` and this Retry-After header."""

    async def handle(request: web.Request) -> web.Response:
        body = {"code": 20000 + status, "message": "no", "more_info": "", "status": status}
        return web.json_response(body, status=status, headers={"Retry-After": retry_after})

    app = web.Application()
    app.router.add_get("/{tail:.*}", handle)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@pytest.mark.parametrize("header", HOSTILE_VALUES[:3])
@pytest.mark.parametrize("status", [404, 429])
async def test_hostile_retry_after_gives_typed_errors_from_every_call(
    status: int, header: str
) -> None:
    """fetch, list, participants.list, conference_reports and fetch_many all raise typed errors."""
    expected: type[Exception] = NotFoundError if status == 404 else RetryExhaustedError
    # 429s are retried for max_elapsed, not max_attempts: a short budget ends each call.
    retry = RetryPolicy(max_attempts=2, max_elapsed=0.5, initial_backoff=0.001, max_backoff=0.002)
    async with (
        answering(status, header) as base,
        InsightsClient(
            ACCOUNT, "t" * 32, insights_base_url=base, api_base_url=base, retry=retry
        ) as client,
    ):
        with pytest.raises(expected):
            await client.conferences.fetch(CONFERENCE)
        with pytest.raises(expected):
            await client.conferences.list().collect()
        with pytest.raises(expected):
            await client.participants.list(CONFERENCE).collect()
        with pytest.raises(expected):
            async for _ in client.conference_reports():
                pass
        results = [result async for result in client.conferences.fetch_many([CONFERENCE])]
    assert len(results) == 1
    assert isinstance(results[0].error, expected)
    if isinstance(results[0].error, RetryExhaustedError):
        assert isinstance(results[0].error.last_error, RateLimitError)
    assert isinstance(results[0].error, TwilioInsightsError)
