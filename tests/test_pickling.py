"""Errors and results that travel: every public exception, FetchResult and ConferenceReport
survive ``pickle`` (process pools, Celery, Ray) with their type and attributes.

Every exception is the one a real failure raised: over HTTP to the fake Twilio or a loopback
server, or from a call with a bad argument; none is built by hand.
"""

from __future__ import annotations

import pickle
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

import twilio_conf_insights
from tests import payloads
from tests.helpers import ClientFactory, serving
from tests.servers import free_port
from twilio_conf_insights import (
    AdaptiveLimiter,
    ConferenceReport,
    FetchResult,
    InsightsClient,
    RetryPolicy,
)
from twilio_conf_insights.testing import FakeTwilio, Fault, FaultKind

ACCOUNT = "AC" + "1" * 32
TOKEN = "0123456789abcdef0123456789abcdef"
MISSING = "CF" + "0" * 32

#: Every exception class the package exports, but their base, which nothing raises itself.
PUBLIC_ERRORS = {
    value
    for value in vars(twilio_conf_insights).values()
    if isinstance(value, type) and issubclass(value, BaseException)
} - {twilio_conf_insights.TwilioInsightsError}


def _state(value: Any) -> Any:
    """What pickling must keep: the type, args and attributes, nested errors included."""
    if isinstance(value, BaseException):
        return (type(value), value.args, str(value), _state(vars(value)))
    if isinstance(value, dict):
        return {key: _state(item) for key, item in value.items()}
    return value


def _round_trip(value: Any) -> Any:
    copy = pickle.loads(pickle.dumps(value))
    assert type(copy) is type(value)
    return copy


async def _answering(status: int, body: Any) -> web.Response:
    return web.json_response(body, status=status, headers={"Twilio-Request-Id": "RQ" + "7" * 32})


@pytest.fixture
async def odd_server() -> AsyncIterator[str]:
    """A loopback server with the answers the fake never gives, by path."""

    async def handler(request: web.Request) -> web.StreamResponse:
        path = request.path
        error = {"code": 20001, "message": "nope", "more_info": "https://twilio.com/docs"}
        if path.endswith("/CF" + "4" * 32):
            return await _answering(400, error | {"status": 400})
        if path.endswith("/CF" + "3" * 32):
            return await _answering(403, error | {"status": 403})
        if path.endswith("/CF" + "9" * 32):
            return await _answering(409, error | {"status": 409})
        if path.endswith("/CF" + "8" * 32):
            return await _answering(200, ["not", "a", "summary"])
        elsewhere = request.query.get("FriendlyName") == "elsewhere"
        link = "https://elsewhere.example/v1/Conferences" if elsewhere else str(request.url)
        page = {
            "conferences": [payloads.conference_summary()],
            "meta": {"key": "conferences", "next_page_url": link},
        }
        return await _answering(200, page)

    async with serving(handler) as base:
        yield base


async def _raised(call: Callable[[], Awaitable[Any]]) -> BaseException:
    try:
        await call()
    except Exception as error:
        return error
    raise AssertionError("the call did not fail")


async def test_every_public_exception_pickles_with_its_type_and_attributes(
    fake: FakeTwilio, make_client: ClientFactory, odd_server: str
) -> None:
    """Each exported exception, raised by a real failure, round-trips through pickle."""
    client = make_client(retry=RetryPolicy.disabled())
    odd = InsightsClient(ACCOUNT, TOKEN, insights_base_url=odd_server)
    patient = make_client(retry=RetryPolicy(max_attempts=2))
    wrong = InsightsClient(fake.account_sid, "x" * 32, insights_base_url=fake.insights_base_url)
    nowhere = InsightsClient(
        ACCOUNT,
        TOKEN,
        insights_base_url=f"http://127.0.0.1:{free_port()}",
        retry=RetryPolicy.disabled(),
    )
    closed = make_client()
    await closed.aclose()
    sid = fake.data.conferences[0]["conference_sid"]
    unsettled = fake.data.processing.unsettled()[0]
    fake.faults.queue(Fault(FaultKind.RATE_LIMIT, retry_after="3"), count=1)
    errors = [await _raised(lambda: client.conferences.fetch(sid))]  # RateLimitError
    fake.faults.queue(FaultKind.SERVER_ERROR, count=3)
    errors += [
        await _raised(lambda: client.conferences.fetch(sid)),  # ServerError
        await _raised(lambda: patient.conferences.fetch(sid)),  # RetryExhaustedError
        await _raised(lambda: client.conferences.fetch(MISSING)),  # NotFoundError
        await _raised(lambda: wrong.conferences.fetch(sid)),  # AuthenticationError
        await _raised(lambda: nowhere.conferences.fetch(sid)),  # TransportError
        await _raised(lambda: closed.conferences.fetch(sid)),  # ClientClosedError
        await _raised(lambda: client.conferences.fetch("not-a-sid")),  # InvalidArgumentError
        await _raised(lambda: odd.conferences.fetch("CF" + "4" * 32)),  # BadRequestError
        await _raised(lambda: odd.conferences.fetch("CF" + "3" * 32)),  # PermissionDeniedError
        await _raised(lambda: odd.conferences.fetch("CF" + "9" * 32)),  # ApiError
        await _raised(lambda: odd.conferences.fetch("CF" + "8" * 32)),  # DecodeError
        await _raised(lambda: odd.conferences.list().collect()),  # PaginationLoopError
        await _raised(lambda: odd.conferences.list(friendly_name="elsewhere").collect()),
        await _raised(  # WaitTimeoutError, its last poll failed
            lambda: client.conferences.wait_until_complete(
                unsettled, timeout=0.05, poll_interval=0.01
            )
        ),
        await _raised(  # ConfigurationError
            lambda: InsightsClient(
                ACCOUNT, TOKEN, max_concurrency=4, limiter=AdaptiveLimiter()
            ).aclose()
        ),
    ]
    await odd.aclose()
    await wrong.aclose()
    await nowhere.aclose()
    raised = {type(error) for error in errors}
    assert raised >= PUBLIC_ERRORS, f"not raised: {PUBLIC_ERRORS - raised}"
    for error in errors:
        copy = _round_trip(error)
        assert _state(copy) == _state(error), type(error).__name__
    exhausted = next(e for e in errors if isinstance(e, twilio_conf_insights.RetryExhaustedError))
    assert isinstance(_round_trip(exhausted).last_error, twilio_conf_insights.ServerError)
    assert _round_trip(exhausted).request_id == exhausted.request_id is not None


async def test_fetch_results_and_reports_pickle_with_their_values_and_errors(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """FetchResult (value or error) and ConferenceReport (complete or failed) round-trip."""
    client = make_client(retry=RetryPolicy.disabled())
    sid = fake.data.conferences[0]["conference_sid"]
    results = [r async for r in client.conferences.fetch_many([sid, MISSING], ordered=True)]
    fake.faults.queue(FaultKind.SERVER_ERROR, count=1, path_contains="/Participants")
    reports = [r async for r in client.conference_reports(limit=3, ordered=True)]
    assert [r.ok for r in results] == [True, False]
    assert sorted(r.ok for r in reports) == [False, True, True]
    for result in results:
        copy: FetchResult[Any] = _round_trip(result)
        assert (copy.sid, copy.value) == (result.sid, result.value)
        assert _state(copy.error) == _state(result.error)
    for report in reports:
        same: ConferenceReport = _round_trip(report)
        assert (same.summary, same.participants) == (report.summary, report.participants)
        assert _state(same.error) == _state(report.error)
