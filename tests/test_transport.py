"""Retries, faults, limits, timeouts and secrets, over real HTTP to the fake Twilio."""

from __future__ import annotations

import asyncio
import logging
import traceback
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from tests.helpers import ClientFactory, EventLog, UnreachableHosts, serving, wait_until
from twilio_conf_insights import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    ClientClosedError,
    ClientEvent,
    ConfigurationError,
    DecodeError,
    ForeignOriginError,
    InsightsClient,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ResponseReceived,
    RetryExhaustedError,
    RetryPolicy,
    RetryScheduled,
    ServerError,
    ThrottleChanged,
    ThrottlePolicy,
    TransportError,
)
from twilio_conf_insights._transport import transport_error
from twilio_conf_insights.testing import FakeTwilio, Fault, FaultKind

RETRYABLE = [
    Fault(FaultKind.RATE_LIMIT),
    Fault(FaultKind.RATE_LIMIT, retry_after="0"),
    Fault(FaultKind.SERVER_ERROR),
    Fault(FaultKind.BAD_GATEWAY),
    Fault(FaultKind.SERVICE_UNAVAILABLE),
    Fault(FaultKind.GATEWAY_TIMEOUT),
    Fault(FaultKind.CONNECTION_RESET),
    Fault(FaultKind.TRUNCATED_BODY),
    Fault(FaultKind.MALFORMED_JSON),
    # Far longer than the client's timeout below, so it always trips it.
    Fault(FaultKind.STALL, stall_seconds=60),
]


@pytest.mark.parametrize("fault", RETRYABLE, ids=lambda f: f"{f.kind.name}-{f.retry_after}")
async def test_each_retryable_fault_is_retried_to_success(
    fake: FakeTwilio, make_client: ClientFactory, fault: Fault
) -> None:
    """Each retryable fault, twice in a row, is retried until the real answer comes back."""
    events: list[ClientEvent] = []
    # A timeout a normal answer never needs, even on a loaded machine: only stalls trip it.
    client = make_client(timeout=1.0, hooks=[events.append])
    conference = fake.data.conferences[0]
    fake.faults.queue(fault, count=2)
    summary = await client.conferences.fetch(conference["conference_sid"])
    assert summary.to_dict() == conference
    assert len(fake.requests) == 3
    retries = [e for e in events if isinstance(e, RetryScheduled)]
    if fault.kind is FaultKind.CONNECTION_RESET:
        # aiohttp itself silently resends an idempotent request once when a reused
        # keep-alive connection turns out dead, so it may absorb one of the resets.
        assert [r.attempt for r in retries] in ([1], [1, 2])
    else:
        assert [r.attempt for r in retries] == [1, 2]
    assert fake.faults.injected[fault.kind] == 2


async def test_exhaustion_raises_with_attempts_and_last_cause(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """Persistent 500s end after max_attempts with RetryExhaustedError carrying the cause."""
    client = make_client(retry=RetryPolicy(max_attempts=3))
    fake.faults.queue(Fault(FaultKind.SERVER_ERROR), count=10)
    with pytest.raises(RetryExhaustedError) as caught:
        await client.conferences.fetch(fake.data.conferences[0]["conference_sid"])
    assert caught.value.attempts == 3
    assert isinstance(caught.value.last_error, ServerError)
    assert caught.value.__cause__ is caught.value.last_error
    assert len(fake.requests) == 3


async def test_429s_are_retried_past_max_attempts(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """Ten 429s in a row do not use up max_attempts=3: the eleventh attempt succeeds."""
    client = make_client(retry=RetryPolicy(max_attempts=3, throttled_backoff=0.001))
    fake.faults.queue(Fault(FaultKind.RATE_LIMIT), count=10)
    sid = fake.data.conferences[0]["conference_sid"]
    summary = await client.conferences.fetch(sid)
    assert summary.conference_sid == sid
    assert [request.status for request in fake.requests] == [429] * 10 + [200]


async def test_a_429_storm_ends_at_max_elapsed(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """429s without end are bounded by max_elapsed: RetryExhaustedError, RateLimitError last."""
    client = make_client(
        retry=RetryPolicy(max_attempts=3, max_elapsed=0.2, throttled_backoff=0.005)
    )
    fake.faults.throttle_for(3600, retry_after=None)
    with pytest.raises(RetryExhaustedError) as caught:
        await client.conferences.fetch(fake.data.conferences[0]["conference_sid"])
    assert isinstance(caught.value.last_error, RateLimitError)
    assert caught.value.attempts == len(fake.requests) > 3


async def test_exhausted_transport_errors_are_typed(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """Resets that exhaust the budget surface as a TransportError inside RetryExhaustedError."""
    client = make_client(retry=RetryPolicy(max_attempts=2))
    fake.faults.queue(Fault(FaultKind.CONNECTION_RESET), count=5)
    with pytest.raises(RetryExhaustedError) as caught:
        await client.conferences.fetch(fake.data.conferences[0]["conference_sid"])
    assert isinstance(caught.value.last_error, TransportError)
    assert caught.value.attempts == 2


async def test_retry_after_seconds_is_the_wait(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """A Retry-After in seconds is the wait before the next attempt, cut to max_retry_after."""
    events: list[ClientEvent] = []
    client = make_client(
        hooks=[events.append],
        # Both jitter scales far below the Retry-After values, so the server's value is the wait.
        retry=RetryPolicy(max_retry_after=0.25, initial_backoff=0.001, throttled_backoff=0.001),
    )
    fake.faults.queue(Fault(FaultKind.RATE_LIMIT, retry_after="0.04"), count=1)
    fake.faults.queue(Fault(FaultKind.SERVICE_UNAVAILABLE, retry_after="0.02"), count=1)
    fake.faults.queue(Fault(FaultKind.RATE_LIMIT, retry_after="30"), count=1)  # capped to 0.25
    await client.conferences.fetch(fake.data.conferences[0]["conference_sid"])
    waits = [e.wait for e in events if isinstance(e, RetryScheduled)]
    assert waits == [0.04, 0.02, 0.25]


async def test_retry_after_http_date_is_honoured(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """A Retry-After given as an HTTP date is honoured (and capped when far in the future)."""
    events: list[ClientEvent] = []
    client = make_client(
        hooks=[events.append], retry=RetryPolicy(max_retry_after=0.2, initial_backoff=0.001)
    )
    fake.faults.queue(
        Fault(FaultKind.RATE_LIMIT, retry_after="Wed, 21 Oct 2099 07:28:00 GMT"), count=1
    )
    await client.conferences.fetch(fake.data.conferences[0]["conference_sid"])
    (retry,) = [e for e in events if isinstance(e, RetryScheduled)]
    assert retry.wait == 0.2  # far-future date: capped
    assert retry.cause_type == "RateLimitError"


@pytest.mark.parametrize(
    ("setup", "error"),
    [("bad_credentials", AuthenticationError), ("missing", NotFoundError)],
)
async def test_client_errors_are_never_retried(
    fake: FakeTwilio, make_client: ClientFactory, setup: str, error: type[Exception]
) -> None:
    """A 401 and a 404 from the fake raise their typed error after exactly one request."""
    if setup == "bad_credentials":
        client = InsightsClient(
            fake.account_sid,
            "wrong-token",
            insights_base_url=fake.insights_base_url,
            api_base_url=fake.api_base_url,
        )
        async with client:
            with pytest.raises(error) as caught:
                await client.conferences.fetch(fake.data.conferences[0]["conference_sid"])
        assert caught.value.code == 20003  # type: ignore[attr-defined]
    else:
        with pytest.raises(error):
            await make_client().conferences.fetch("CF" + "9" * 32)
    assert len(fake.requests) == 1


@pytest.mark.parametrize(
    ("status", "code", "error"),
    [(400, 20001, BadRequestError), (403, 20403, PermissionDeniedError)],
)
async def test_400_and_403_responses_are_typed_and_never_retried(
    status: int, code: int, error: type[ApiError]
) -> None:
    """A Twilio 400 or 403 body becomes BadRequestError or PermissionDeniedError, not retried."""
    hits: list[str] = []

    async def refuse(request: web.Request) -> web.Response:
        hits.append(request.path)
        return web.json_response(
            {"code": code, "message": "refused", "more_info": "", "status": status},
            status=status,
        )

    async with (
        serving(refuse) as url,
        InsightsClient("AC" + "a" * 32, "token", insights_base_url=url) as client,
    ):
        with pytest.raises(error) as caught:
            await client.conferences.fetch("CF" + "a" * 32)
    assert (caught.value.status, caught.value.code, caught.value.message) == (
        status,
        code,
        "refused",
    )
    assert hits == ["/v1/Conferences/CF" + "a" * 32]


async def test_concurrency_cap_is_never_exceeded_at_the_server(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """The server never sees more than max_concurrency requests of one client at once."""
    fake.latency = 0.05
    client = make_client(max_concurrency=4)
    sids = [c["conference_sid"] for c in fake.data.conferences]
    await asyncio.gather(*(client.conferences.fetch(s) for s in sids))
    await asyncio.gather(*(client.participant_summaries.list(s).collect() for s in sids[:10]))
    assert fake.max_in_flight == 4


async def test_timeout_per_attempt(fake: FakeTwilio, make_client: ClientFactory) -> None:
    """An attempt slower than timeout fails with TransportError(kind="timeout")."""
    client = make_client(timeout=0.1, retry=RetryPolicy.disabled())
    fake.faults.queue(Fault(FaultKind.STALL, stall_seconds=1.0), count=1)
    with pytest.raises(TransportError) as caught:
        await client.conferences.fetch(fake.data.conferences[0]["conference_sid"])
    assert caught.value.kind == "timeout"


async def test_malformed_json_exhausted_is_a_decode_error(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """A 200 whose body is not JSON is retried, and ends as a DecodeError if it stays broken."""
    client = make_client(retry=RetryPolicy(max_attempts=2))
    fake.faults.queue(Fault(FaultKind.MALFORMED_JSON), count=2)
    with pytest.raises(RetryExhaustedError) as caught:
        await client.conferences.fetch(fake.data.conferences[0]["conference_sid"])
    assert isinstance(caught.value.last_error, DecodeError)


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


# -- a hostile server: foreign next links and redirects ---------------------------------


@pytest.fixture
async def bystander() -> AsyncIterator[tuple[str, list[str]]]:
    """A second loopback server that must never receive a request."""
    hits: list[str] = []

    async def record(request: web.Request) -> web.Response:
        hits.append(request.headers.get("Authorization", ""))
        return web.json_response({})

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", record)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}", hits
    await runner.cleanup()


@pytest.fixture
async def hostile(bystander: tuple[str, list[str]]) -> AsyncIterator[str]:
    """A Twilio look-alike whose next-page links and redirects point at the bystander."""
    elsewhere, _ = bystander

    async def page(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "conferences": [],
                "meta": {
                    "key": "conferences",
                    "next_page_url": f"{elsewhere}/v1/Conferences?Page=1",
                },
            }
        )

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPFound(f"{elsewhere}/steal")

    app = web.Application()
    app.router.add_get("/v1/Conferences", page)
    app.router.add_get("/v1/Conferences/{sid}", redirect)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    await runner.cleanup()


async def test_foreign_next_page_is_refused_and_not_contacted(
    hostile: str, bystander: tuple[str, list[str]]
) -> None:
    """A next-page link to another host raises ForeignOriginError and that host gets no request."""
    async with InsightsClient("AC" + "a" * 32, "tok", insights_base_url=hostile) as client:
        with pytest.raises(ForeignOriginError):
            await client.conferences.list().collect()
    assert bystander[1] == []


async def test_redirects_are_not_followed(hostile: str, bystander: tuple[str, list[str]]) -> None:
    """A redirect is an ApiError with its status; the redirect target gets no request."""
    async with InsightsClient("AC" + "a" * 32, "tok", insights_base_url=hostile) as client:
        with pytest.raises(ApiError) as caught:
            await client.conferences.fetch("CF" + "a" * 32)
    assert caught.value.status == 302
    assert bystander[1] == []


async def test_events_describe_every_attempt(fake: FakeTwilio, make_client: ClientFactory) -> None:
    """Hooks see every step in order: sent, received, throttled, retry scheduled, sent, received."""
    events: list[ClientEvent] = []
    # A backoff far below the Retry-After, so the wait is exactly what the server asked.
    client = make_client(
        hooks=[events.append], retry=RetryPolicy(initial_backoff=0.001, throttled_backoff=0.001)
    )
    fake.faults.queue(Fault(FaultKind.RATE_LIMIT, retry_after="0.01"), count=1)
    await client.conferences.fetch(fake.data.conferences[0]["conference_sid"])
    kinds = [type(e).__name__ for e in events]
    assert kinds == [
        "RequestSent",
        "ResponseReceived",
        "ThrottleChanged",
        "RetryScheduled",
        "RequestSent",
        "ResponseReceived",
    ]
    first, second = (e for e in events if isinstance(e, ResponseReceived))
    assert (first.status, first.attempt, second.status, second.attempt) == (429, 1, 200, 2)
    retry = next(e for e in events if isinstance(e, RetryScheduled))
    assert retry.wait == 0.01
    assert "429" in retry.cause
    throttle = next(e for e in events if isinstance(e, ThrottleChanged))
    # A 429 at level 1 would say "one is too many": one throttle at most halves the start.
    assert throttle.stats.limit == throttle.stats.ceiling == ThrottlePolicy().initial_limit // 2
    assert client.stats().throttle_events == 1


async def test_a_failing_hook_never_breaks_the_client(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """An exception inside a hook does not fail the request."""

    def broken(_: ClientEvent) -> None:
        raise RuntimeError("observer bug")

    client = make_client(hooks=[broken])
    summary = await client.conferences.fetch(fake.data.conferences[0]["conference_sid"])
    assert summary.conference_sid == fake.data.conferences[0]["conference_sid"]


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


@pytest.mark.real_retry_waits
async def test_total_time_budget_bounds_a_call(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """The time budget, not the attempt count, ends a call: every wait taken fit in it."""
    # A budget of a second: many attempts on an idle machine, several on a loaded one (where
    # one attempt may take a good part of a second), never the 1,000 of max_attempts, whose
    # waits alone would average 25 s.
    budget = RetryPolicy(max_attempts=1000, max_elapsed=1.0, initial_backoff=0.05, max_backoff=0.05)
    log = EventLog()
    client = make_client(retry=budget, hooks=[log])
    fake.faults.queue(Fault(FaultKind.SERVER_ERROR), count=2000)
    with pytest.raises(RetryExhaustedError) as caught:
        await client.conferences.fetch(fake.data.conferences[0]["conference_sid"])
    waits = [event.wait for event in log.of(RetryScheduled)]
    assert 1 < caught.value.attempts < 1000
    assert caught.value.attempts == len(fake.requests) == len(waits) + 1
    assert sum(waits) < budget.max_elapsed  # no wait was started that the budget could not hold
    # It gave up only when the next wait (at most max_backoff) would have crossed the budget;
    # a slower machine only makes the elapsed time longer.
    assert caught.value.elapsed >= budget.max_elapsed - budget.max_backoff


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


async def test_budget_counts_from_sending_not_from_queueing(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    # One slot, held by a slow request: the second call queues longer than its whole budget,
    # yet still gets its retries once it is sent.
    """Time spent queueing for a slot does not eat into a call's retry budget."""
    fake.latency = 1.5
    client = make_client(
        max_concurrency=1,
        retry=RetryPolicy(max_attempts=3, max_elapsed=1.0, initial_backoff=0.001),
    )
    sid = fake.data.conferences[0]["conference_sid"]
    slow = asyncio.ensure_future(client.conferences.fetch(sid))
    await wait_until(lambda: fake.in_flight == 1, "the slow request holds the only slot")
    fake.latency = 0.0
    fake.faults.queue(Fault(FaultKind.SERVER_ERROR), count=1)
    summary = await client.conferences.fetch(sid)
    assert summary.conference_sid == sid
    await slow


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


@pytest.mark.parametrize(
    ("exc", "kind"),
    [
        (TimeoutError(), "timeout"),
        (aiohttp.ServerTimeoutError("read"), "timeout"),
        (aiohttp.ClientPayloadError("cut"), "payload"),
        (aiohttp.ServerDisconnectedError(), "disconnected"),
        (aiohttp.ClientConnectionError("refused"), "connect"),
        (aiohttp.ClientOSError(111, "refused"), "connect"),
        (aiohttp.InvalidURL("x"), "other"),
    ],
)
def test_aiohttp_failures_map_to_transport_error_kinds(exc: BaseException, kind: str) -> None:
    """Each aiohttp failure becomes the TransportError kind of the table, unchained."""
    error = transport_error(exc, url="https://insights.twilio.com/v1/x", timeout=2.5)
    assert error.kind == kind
    assert error.__cause__ is None and error.__context__ is None
    assert ("2.5s" in str(error)) is (kind == "timeout")
