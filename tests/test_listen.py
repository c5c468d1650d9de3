"""``twilio-conf-insights listen`` in a child process, the fake Twilio delivering to it over
loopback: the store ends equal to the API through duplicates, disorder and other event
types, on SQLite and PostgreSQL; forged, tampered, oversized and garbled deliveries write
nothing; the public URL and the sink's Basic credentials; the command's lines and errors."""

from __future__ import annotations

import asyncio
import itertools
import re
import signal
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tests.helpers import assert_one_line_error, cli
from tests.listen_support import (
    assert_store_exact,
    drained,
    fake_for,
    listen_env,
    listening,
    post,
    signed_body,
    signed_delivery,
    summary_event,
)
from tests.servers import PostgresServer, free_port
from tests.store_fixtures import fresh_database, query
from tests.web_support import aiohttp_site
from twilio_conf_insights.cli._listen import sink_address
from twilio_conf_insights.webhooks import SIGNATURE_HEADER

_COUNTS = re.compile(r"(\d+) (deliveries acknowledged|forged|malformed|oversized|unauthorized)")


def counts(line: str) -> dict[str, int]:
    """The counts of the listener's last line, by what they count."""
    return {what: int(n) for n, what in _COUNTS.findall(line)}


async def stored_conferences(spec: str) -> int:
    """How many conference rows the store holds."""
    return int((await query(spec, "SELECT count(*) FROM conferences"))[0][0])


async def test_deliveries_through_duplicates_and_disorder_leave_the_api_s_records(
    store_spec: str,
) -> None:
    """Duplicates, stale partials and other types: the store equals the API, on both stores."""
    async with listening(store_spec) as listener:
        async with fake_for(listener.url, conferences=16) as fake:
            assert fake.events is not None
            fake.data.processing.settle_all()
            added = fake.data.add_conferences(4, seconds=60)  # .partial first, then settled
            fake.events.emit_unrelated()
            fake.events.emit_unrelated()
            await drained(fake)
            for sid in added:
                fake.data.processing.settle(sid)
            await drained(fake)
            acknowledged = sum(attempt.ok for attempt in fake.events.attempts)
        run = await listener.stop()
    assert run.returncode == 0, run.stderr
    await assert_store_exact(store_spec, fake)
    last = run.stdout.strip().splitlines()[-1]
    assert last.startswith("listen: ")
    assert counts(last)["deliveries acknowledged"] == acknowledged
    other = int(re.search(r"(\d+) of other types", last).group(1))  # type: ignore[union-attr]
    assert other >= 2, last


async def test_the_ready_line_names_store_and_sink_without_their_passwords(
    postgres_server: PostgresServer,
) -> None:
    """Store and sink URL from the environment: the ready line names both, no password."""
    url = await fresh_database(postgres_server)
    store = url.replace("postgres@", "postgres:db-secret-456@")  # trust auth: ignored
    sink = "https://events:sink-secret-123@hooks.example.com/twilio/events"
    env = listen_env(TWILIO_CONF_INSIGHTS_PUBLIC_URL=sink, TWILIO_CONF_INSIGHTS_DB=store)
    async with listening(None, "--path", "/events", env=env) as listener:
        run = await listener.stop(signal.SIGINT)
    assert run.returncode == 0
    assert re.match(r"listen: ready on http://127\.0\.0\.1:\d+/events, ", listener.ready)
    assert "https://events@hooks.example.com/twilio/events" in listener.ready
    assert f"store {url}" in listener.ready
    everything = listener.ready + run.stdout + run.stderr
    assert "sink-secret-123" not in everything
    assert "db-secret-456" not in everything
    assert run.stdout.startswith("listen: 0 deliveries acknowledged")


async def test_forged_tampered_oversized_and_garbled_deliveries_write_nothing(
    tmp_path: Path,
) -> None:
    """403, 403, 413, 400, and an exact replay changes nothing: only genuine data is stored."""
    db = str(tmp_path / "s.db")
    async with listening(db) as listener, aiohttp.ClientSession() as session:
        fake = fake_for(listener.url)  # its data only; it is never started
        event = summary_event(fake)
        url, body, headers = signed_delivery([event], listener.url)
        forged = {**headers, SIGNATURE_HEADER: "AAAA" + headers[SIGNATURE_HEADER][4:]}
        assert await post(session, url, body, forged) == 403
        tampered = body.replace(b'"completed"', b'"failed"', 1)
        assert tampered != body
        assert await post(session, url, tampered, headers) == 403  # replayed, body changed
        _, _, other_key = signed_delivery([event], listener.url, token="not-the-auth-token")
        assert await post(session, url, body, other_key) == 403
        big_url, big, big_headers = signed_delivery([event] * 1000, listener.url)
        assert len(big) > 1024 * 1024
        assert await post(session, big_url, big, big_headers) == 413
        for garbled in (b"{not json", b'{"an": "object"}', b"[1, 2]"):
            assert await post(session, *signed_body(garbled, listener.url)) == 400
        assert await stored_conferences(db) == 0
        assert await post(session, url, body, headers) == 204  # genuine
        assert await post(session, url, body, headers) == 204  # replayed as is: no change
        run = await listener.stop()
    assert await stored_conferences(db) == 1
    assert counts(run.stdout) == {
        "deliveries acknowledged": 2,
        "forged": 3,
        "unauthorized": 0,
        "malformed": 3,
        "oversized": 1,
    }
    assert "(conferences: 1 new, 0 updated)" in run.stdout


async def test_behind_a_proxy_the_public_url_is_what_is_checked(tmp_path: Path) -> None:
    """Signed for --public-url: accepted; signed for the address the listener sees: 403."""
    db = str(tmp_path / "s.db")
    public = "https://hooks.example.com/twilio/events"
    async with (
        listening(db, "--public-url", public) as listener,
        aiohttp.ClientSession() as session,
    ):
        assert listener.url.endswith("/events")
        fake = fake_for(listener.url)
        event = summary_event(fake)
        signed, body, headers = signed_delivery([event], public)
        local = listener.url + signed[len(public) :]  # the proxy strips /twilio
        _, _, local_headers = signed_delivery([event], listener.url)
        assert await post(session, local, body, local_headers) == 403
        assert await post(session, local, body, headers) == 204
        await listener.stop()
    assert await stored_conferences(db) == 1


async def test_a_sink_url_with_basic_credentials_requires_them(tmp_path: Path) -> None:
    """Twilio sends the sink URL's user info as Basic credentials: required, then accepted."""
    db = str(tmp_path / "s.db")
    port = free_port()
    sink = f"http://events:pa%23ss@127.0.0.1:{port}/events"
    env = listen_env(TWILIO_CONF_INSIGHTS_PUBLIC_URL=sink)
    async with listening(db, port=port, env=env) as listener:
        async with aiohttp.ClientSession() as session:
            fake = fake_for(listener.url)
            url, body, headers = signed_delivery([summary_event(fake)], sink)
            plain = listener.url + url[len(sink) :]
            assert await post(session, plain, body, headers) == 401
        async with fake_for(sink, conferences=5) as fake:
            fake.data.processing.settle_all()
            await drained(fake)
        run = await listener.stop()
    await assert_store_exact(db, fake)
    assert counts(run.stdout)["unauthorized"] == 1
    assert "pa%23ss" not in listener.ready + run.stdout + run.stderr


async def test_many_deliveries_at_once_share_transactions(tmp_path: Path) -> None:
    """300 deliveries at once are all acknowledged, in far fewer transactions."""
    db = str(tmp_path / "s.db")
    async with listening(db) as listener:
        fake = fake_for(listener.url, conferences=300)
        deliveries = [signed_delivery([summary_event(fake, i)], listener.url) for i in range(300)]
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector) as session:
            statuses = await asyncio.gather(*(post(session, *d) for d in deliveries))
        run = await listener.stop()
    assert statuses == [204] * 300
    assert await stored_conferences(db) == 300
    transactions = int(re.search(r"in (\d+) transactions", run.stdout).group(1))  # type: ignore[union-attr]
    assert transactions < 300


async def test_without_an_auth_token_it_says_so(tmp_path: Path) -> None:
    """No TWILIO_AUTH_TOKEN: one line naming it, exit status 2, nothing served."""
    run = await cli("listen", "--db", str(tmp_path / "s.db"), "--port", "0")
    assert run.returncode == 2
    assert_one_line_error(run)
    assert "TWILIO_AUTH_TOKEN" in run.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--count", "3"], "--count is for --demo"),
        (["--public-url", "https://u:secret-pw@h.example.com/events?x=1"], "no query"),
        (
            ["--path", "/events", "--public-url", "https://u:secret-pw@h.example.com/hooks"],
            "must end with --path",
        ),
        (["--public-url", "ftp://u:secret-pw@h.example.com/events"], "absolute http(s)"),
        (["--path", "events"], "must start with /"),
    ],
)
async def test_options_that_cannot_work_are_usage_errors(
    tmp_path: Path, args: list[str], message: str
) -> None:
    """Bad option combinations: one line, exit status 2, never the URL's password."""
    run = await cli("listen", "--db", str(tmp_path / "s.db"), *args, env=listen_env())
    assert run.returncode == 2, run
    assert_one_line_error(run)
    assert message in run.stderr
    assert "secret-pw" not in run.stderr


async def test_the_demo_runs_offline_and_leaves_settled_conferences(tmp_path: Path) -> None:
    """--demo listen: the fake's conferences arrive and settle; the store reports them."""
    db = str(tmp_path / "demo.db")
    run = await cli("--demo", "listen", "--db", db, "--count", "3")
    assert run.returncode == 0, run
    assert len(re.findall(r"^  CF\w{32}  arrived ", run.stdout, re.MULTILINE)) == 3
    assert len(re.findall(r"^  CF\w{32}  settled ", run.stdout, re.MULTILINE)) == 3
    assert "demo: 3 conferences settled" in run.stdout
    rows = await query(db, "SELECT count(*) FROM conferences WHERE settled")
    assert rows == [(3,)]
    report = await cli("report", "--db", db, "-f", "json")
    assert report.returncode == 0
    assert '"conferences": 3' in report.stdout


@asynccontextmanager
async def round_robin(targets: list[str], *, port: int) -> AsyncIterator[None]:
    """A load balancer on loopback ``port``: each POST goes to the next of ``targets``."""
    turn = itertools.cycle(targets)
    async with aiohttp.ClientSession() as session:

        async def forward(request: web.Request) -> web.Response:
            headers = {
                name: request.headers[name]
                for name in (SIGNATURE_HEADER, "Content-Type")
                if name in request.headers
            }
            body = await request.read()
            async with session.post(
                next(turn) + request.path_qs, data=body, headers=headers
            ) as answer:
                return web.Response(status=answer.status)

        app = web.Application(client_max_size=4 * 1024 * 1024)
        app.router.add_post("/events", forward)
        with socket.create_server(("127.0.0.1", port)) as listener:
            async with aiohttp_site(app, listener):
                yield


async def test_two_listeners_behind_one_address_writing_one_store_stay_exact(
    store_spec: str,
) -> None:
    """Deliveries split between two listener processes writing one store: it ends exact."""
    port = free_port()
    public = f"http://127.0.0.1:{port}/events"
    async with (
        listening(store_spec, "--public-url", public) as first,
        listening(store_spec, "--public-url", public) as second,
    ):
        origins = [listener.url.removesuffix("/events") for listener in (first, second)]
        async with round_robin(origins, port=port), fake_for(public, conferences=30) as fake:
            fake.data.processing.settle_all()
            await drained(fake)
        runs = [await first.stop(), await second.stop()]
    await assert_store_exact(store_spec, fake)
    assert all(counts(run.stdout)["deliveries acknowledged"] > 0 for run in runs)


@pytest.mark.parametrize(
    ("path", "public_url", "expected"),
    [
        (None, None, ("/events", None, None)),
        ("/hooks", None, ("/hooks", None, None)),
        (
            None,
            "https://hooks.example.com/events",
            ("/events", "https://hooks.example.com/events", "https://hooks.example.com"),
        ),
        (
            "/events",
            "https://u:p%40ss@example.com/twilio/events",
            (
                "/events",
                "https://u:p%40ss@example.com/twilio/events",
                "https://u:p%40ss@example.com/twilio",
            ),
        ),
        ("/", "https://hooks.example.com", ("/", "https://hooks.example.com", None)),
    ],
)
def test_the_listening_path_and_the_signed_url_agree(
    path: str | None, public_url: str | None, expected: tuple[str, str | None, str | None]
) -> None:
    """--path defaults to the public URL's; the base given to the app is the URL minus it."""
    address = sink_address(path, public_url)
    wanted_path, wanted_url, wanted_base = expected
    assert (address.path, address.public_url) == (wanted_path, wanted_url)
    assert address.public_base == (wanted_base if wanted_base is not None else public_url)
