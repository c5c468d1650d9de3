"""Command-line friction: hints, consistent counts, ranges, verbosity, progress, clear errors."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import web
from yarl import URL

from twilio_conf_insights import (
    ApiError,
    ClientClosedError,
    ForeignOriginError,
    InsightsClient,
    InvalidArgumentError,
)
from twilio_conf_insights._urls import resolve_next_page
from twilio_conf_insights.cli import main
from twilio_conf_insights.cli._progress import Progress
from twilio_conf_insights.testing import FakeTwilio

from .helpers import (
    PATIENCE,
    TerminalStream,
    assert_one_line_error,
    clean_env,
    cli,
    fake_env,
)

ACCOUNT = "AC" + "1" * 32
TOKEN = "e" * 32


@pytest.fixture
async def small_fake() -> AsyncIterator[FakeTwilio]:
    async with FakeTwilio(conferences=12, participants_per_conference=3, seed=9) as fake:
        yield fake


async def test_missing_credentials_suggest_demo() -> None:
    """Without credentials, the one-line error says how to try --demo."""
    run = await cli("report", env=clean_env())
    assert run.returncode == 2
    assert_one_line_error(run)
    assert "--demo" in run.stderr


async def test_zero_means_none_for_limit_and_top(small_fake: FakeTwilio) -> None:
    """--limit 0 lists nothing and --top 0 shows no participant; --top all shows every one."""
    env = fake_env(small_fake)
    listed, top0, top_all, default = await asyncio.gather(
        cli("conferences", "list", "--limit", "0", env=env),
        cli("report", "--format", "json", "--top", "0", env=env),
        cli("report", "--format", "json", "--top", "all", env=env),
        cli("report", "--format", "json", env=env),
    )
    assert listed.returncode == 0 and listed.stdout == ""
    none, every, unset = (json.loads(run.stdout) for run in (top0, top_all, default))
    assert none["poor_participants_total"] > 0
    assert none["poor_participants"] == []
    assert len(every["poor_participants"]) == every["poor_participants_total"]
    assert unset["poor_participants"] == every["poor_participants"]


async def test_created_after_later_than_created_before_is_an_error(
    small_fake: FakeTwilio,
) -> None:
    """An inverted time range is a usage error in the CLI and a ValueError in the library."""
    run = await cli(
        "conferences",
        "list",
        "--created-after",
        "2025-06-02",
        "--created-before",
        "2025-06-01",
        env=fake_env(small_fake),
    )
    assert run.returncode == 2
    assert_one_line_error(run)
    assert "later than created_before" in run.stderr
    async with InsightsClient(
        small_fake.account_sid,
        small_fake.auth_token,
        insights_base_url=small_fake.insights_base_url,
    ) as client:
        now = datetime.now(UTC)
        with pytest.raises(InvalidArgumentError, match="later than"):
            client.conferences.list(created_after=now, created_before=now - timedelta(days=1))
    assert small_fake.requests == []


async def test_verbose_logs_each_request_redacted(small_fake: FakeTwilio) -> None:
    """-v prints the library's DEBUG log: one line per request, page tokens redacted."""
    run = await cli("-v", "conferences", "list", "--page-size", "5", env=fake_env(small_fake))
    assert run.returncode == 0, run.stderr
    requests = [line for line in run.stderr.splitlines() if "DEBUG GET" in line]
    assert len(requests) == len(small_fake.requests) == 3
    assert small_fake.auth_token not in run.stderr
    tokens = [r.query["PageToken"][0] for r in small_fake.requests if "PageToken" in r.query]
    assert tokens
    assert all(token not in run.stderr for token in tokens)
    assert "PageToken=<redacted>" in run.stderr


def test_progress_shows_percentage_and_eta_when_the_total_is_known() -> None:
    """With a total, the plain meter shows done/total, a percentage and an ETA."""
    now = [100.0]
    tty = TerminalStream()
    with Progress(
        tty, label="export", enabled=True, interval=0.0, clock=lambda: now[0], total=40
    ) as progress:
        now[0] = 102.0
        progress.advance(10, 30)
    frames = tty.getvalue().rstrip("\n").split("\r")[1:]
    assert frames[1] == (
        "export: 10/40 conferences (25%), 30 participants, 5.0/s, 0 retries, 2.0s, ETA 6s"
    )


def test_progress_draws_a_tqdm_bar_when_the_extra_is_installed() -> None:
    """With tqdm installed, a terminal gets a bar with a percentage and the counts."""
    tty = TerminalStream()
    progress = Progress.on(tty, label="export", quiet=False, total=4)
    with progress:
        for _ in range(4):
            progress.advance(1, 2)
    text = tty.getvalue()
    assert "100%" in text
    assert "4/4" in text
    assert "participants=8" in text
    assert not Progress.on(io.StringIO(), label="x", quiet=False, total=4).enabled


def test_foreign_origin_error_names_scheme_host_and_port() -> None:
    """A foreign next-page link is refused with both origins spelled out, ports included."""
    request = URL("https://insights.twilio.com/v1/Conferences")
    with pytest.raises(ForeignOriginError) as caught:
        resolve_next_page("http://insights.twilio.com:8080/v1/Conferences", request_url=request)
    message = str(caught.value)
    assert "http://insights.twilio.com:8080" in message
    assert "https://insights.twilio.com:443" in message


@contextlib.asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def test_redirect_error_says_it_was_not_followed_and_where_it_pointed() -> None:
    """A 302 is an ApiError naming its Location and saying redirects are not followed."""

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("https://elsewhere.example/v1/Conferences?PageToken=PTabc")

    app = web.Application()
    app.router.add_get("/{tail:.*}", moved)
    async with (
        serving(app) as base,
        InsightsClient(ACCOUNT, TOKEN, insights_base_url=base) as client,
    ):
        with pytest.raises(ApiError) as caught:
            await client.conferences.fetch("CF" + "a" * 32)
    message = str(caught.value)
    assert caught.value.status == 302
    assert "redirects are not followed" in message
    assert "https://elsewhere.example/v1/Conferences?PageToken=<redacted>" in message


async def test_requests_queued_at_close_say_they_were_never_sent() -> None:
    """Closing the client while a request waits for a slot: ClientClosedError, 'never sent'."""
    arrived, release = asyncio.Event(), asyncio.Event()

    async def slow(request: web.Request) -> web.Response:
        arrived.set()
        await release.wait()
        return web.json_response({"conference_sid": "CF" + "a" * 32})

    app = web.Application()
    app.router.add_get("/{tail:.*}", slow)
    async with serving(app) as base:
        client = InsightsClient(ACCOUNT, TOKEN, insights_base_url=base, max_concurrency=1)
        first = asyncio.ensure_future(client.conferences.fetch("CF" + "a" * 32))
        await asyncio.wait_for(arrived.wait(), PATIENCE)
        queued = asyncio.ensure_future(client.conferences.fetch("CF" + "b" * 32))
        # One turn of the loop runs the new task up to the limiter, where it queues.
        await asyncio.sleep(0)
        assert client.stats().waiting == 1
        await client.aclose()
        release.set()
        results = await asyncio.gather(first, queued, return_exceptions=True)
    error = results[1]
    assert isinstance(error, ClientClosedError), results
    assert "never sent" in str(error)


@pytest.mark.parametrize(
    "options",
    [
        ["--demo"],
        ["--max-concurrency", "4"],
        ["--timeout", "3"],
        ["--api-base-url", "http://x"],
        ["-v"],
    ],
)
def test_fake_server_refuses_options_it_would_ignore(
    options: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """fake-server exits 2 on client options instead of silently ignoring them."""
    assert main(["fake-server", *options]) == 2
    assert "fake-server does not take" in capsys.readouterr().err
