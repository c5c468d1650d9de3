"""Forward proxies: proxy=, HTTP(S)_PROXY and NO_PROXY, refusals, credentials, --proxy.

Every test goes through a real ``tinyproxy`` on loopback (``tests/servers.TinyProxy``), with
the fake Twilio behind it; what went through the proxy is read from its own log.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import ClientFactory, EventLog, assert_one_line_error, cli, fake_env
from tests.servers import TinyProxy, free_port
from twilio_conf_insights import (
    ConfigurationError,
    InsightsClient,
    RetryExhaustedError,
    RetryPolicy,
    TransportError,
)
from twilio_conf_insights.cli._options import CLIENT_FLAGS, client_options
from twilio_conf_insights.cli._parser import COMMANDS, parse_args
from twilio_conf_insights.testing import FakeTwilio

#: Every spelling of the proxy variables; each test starts with none of them set.
PROXY_VARIABLES = (
    "http_proxy",
    "HTTP_PROXY",
    "https_proxy",
    "HTTPS_PROXY",
    "no_proxy",
    "NO_PROXY",
    "all_proxy",
    "ALL_PROXY",
)

PROXY_USER = "tci"
PROXY_PASSWORD = "pr0xy-pa55word"


@pytest.fixture(autouse=True)
def _no_proxy_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests set what they need; monkeypatch restores the environment after each."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def proxy() -> Iterator[TinyProxy]:
    """A tinyproxy on loopback that forwards anything from this machine."""
    server = TinyProxy()
    server.start()
    yield server
    server.close()


def _through(proxy: TinyProxy, fake: FakeTwilio) -> list[str]:
    """The request lines of ``fake``'s URLs that the proxy forwarded."""
    return [line for line in proxy.forwarded() if f"{fake.base_url}/" in line]


async def test_every_request_goes_through_the_proxy_given(
    proxy: TinyProxy, fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """proxy=: each request of a fetch and of a listing's pages is forwarded by the proxy."""
    client = make_client(proxy=proxy.url)
    sid = fake.data.conferences[0]["conference_sid"]
    await client.conferences.fetch(sid)
    pages = [page async for page in client.conferences.list(page_size=10).pages()]
    assert len(pages) == 3
    through = _through(proxy, fake)
    assert len(through) == len(fake.requests) == 4
    assert through[0] == f"GET {fake.base_url}/v1/Conferences/{sid} HTTP/1.1"


async def test_the_environment_chooses_the_proxy_and_no_proxy_bypasses_it(
    proxy: TinyProxy, fake: FakeTwilio, make_client: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTP_PROXY is used for http:// hosts; NO_PROXY and trust_env=False go direct."""
    sid = fake.data.conferences[0]["conference_sid"]
    monkeypatch.setenv("HTTP_PROXY", proxy.url)
    await make_client().conferences.fetch(sid)
    assert len(_through(proxy, fake)) == len(fake.requests) == 1
    await make_client(trust_env=False).conferences.fetch(sid)
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    await make_client().conferences.fetch(sid)
    assert len(fake.requests) == 3
    assert len(_through(proxy, fake)) == 1  # the last two went direct
    monkeypatch.delenv("NO_PROXY")
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)  # for https:// hosts only: not the fake's
    monkeypatch.delenv("HTTP_PROXY")
    await make_client().conferences.fetch(sid)
    assert len(_through(proxy, fake)) == 1


async def test_a_proxy_that_denies_this_machine_is_a_typed_transport_error() -> None:
    """A proxy that refuses the tunnel to an https host: TransportError(kind="proxy")."""
    denying = TinyProxy(allow=False)
    denying.start()
    try:
        async with InsightsClient(
            "AC" + "1" * 32,
            "0123456789abcdef0123456789abcdef",
            insights_base_url=f"https://127.0.0.1:{free_port()}",
            proxy=denying.url,
            retry=RetryPolicy.disabled(),
        ) as client:
            with pytest.raises(TransportError) as caught:
                await client.conferences.fetch("CF" + "a" * 32)
        forwarded = denying.forwarded()
    finally:
        denying.close()
    assert caught.value.kind == "proxy"
    assert "HTTP 403" in str(caught.value)
    assert denying.url.removeprefix("http://") in str(caught.value)
    assert forwarded == []  # refused before it asked anything of anyone


async def test_a_proxy_that_is_not_there_is_a_typed_transport_error(
    fake: FakeTwilio, make_client: ClientFactory
) -> None:
    """A proxy port with nothing listening: TransportError(kind="proxy"), nothing sent."""
    client = make_client(proxy=f"http://127.0.0.1:{free_port()}", retry=RetryPolicy.disabled())
    with pytest.raises(TransportError) as caught:
        await client.conferences.fetch(fake.data.conferences[0]["conference_sid"])
    assert caught.value.kind == "proxy"
    assert "cannot connect to the proxy" in str(caught.value)
    assert fake.requests == []


async def test_proxy_credentials_are_sent_and_never_shown(
    fake: FakeTwilio, make_client: ClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """user:password@ authenticates to the proxy; the password is in no repr, error or log.

    With the right password the fake is reached through the proxy; with a wrong one the
    tunnel to an https host is refused: a TransportError, and nothing reaches a server.
    """
    guarded = TinyProxy(credentials=(PROXY_USER, PROXY_PASSWORD))
    guarded.start()
    caplog.set_level(logging.DEBUG, logger="twilio_conf_insights")
    log = EventLog()
    port = guarded.url.rsplit(":", 1)[1]
    try:
        good = make_client(proxy=f"http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{port}")
        sid = fake.data.conferences[0]["conference_sid"]
        assert (await good.conferences.fetch(sid)).conference_sid == sid
        async with InsightsClient(
            fake.account_sid,
            fake.auth_token,
            insights_base_url=f"https://127.0.0.1:{free_port()}",
            proxy=f"http://{PROXY_USER}:wrong-{PROXY_PASSWORD}@127.0.0.1:{port}",
            retry=RetryPolicy(max_attempts=2),
            hooks=[log],
        ) as wrong:
            with pytest.raises(RetryExhaustedError) as caught:
                await wrong.conferences.fetch(sid)
            shown = repr(wrong)
        forwarded = _through(guarded, fake)
    finally:
        guarded.close()
    assert len(fake.requests) == len(forwarded) == 1
    last = caught.value.last_error
    assert isinstance(last, TransportError)
    assert last.kind == "proxy"
    assert "the proxy refused the connection: HTTP 401" in str(last)  # tinyproxy's answer
    texts = [str(caught.value), repr(last), repr(good), shown, caplog.text]
    texts += [repr(event) for event in log.events]
    for text in texts:
        assert PROXY_PASSWORD not in text, text
    assert f"{PROXY_USER}:<redacted>@127.0.0.1:{port}" in repr(good)


def test_a_proxy_url_must_be_a_proxys_address() -> None:
    """A proxy URL of another scheme, or with a path, is refused before any request."""
    for bad in ("socks5://127.0.0.1:1080", "http://127.0.0.1:3128/path", "http://"):
        with pytest.raises(ConfigurationError, match="proxy"):
            InsightsClient("AC" + "1" * 32, "token-token", proxy=bad)


def test_every_command_takes_proxy_and_hands_it_to_its_client() -> None:
    """--proxy is a global option: every command, sync and worker included, parses it."""
    assert "proxy" in CLIENT_FLAGS  # fake-server refuses it, as every client option
    for spec in COMMANDS:
        if spec.name == "fake-server":
            continue
        argv = [*spec.name.split(), "--proxy", "http://127.0.0.1:3128"]
        args = parse_args(argv + _required(spec.name))
        assert client_options(args).proxy == "http://127.0.0.1:3128", spec.name


def _required(command: str) -> list[str]:
    """The arguments a command cannot parse without."""
    sid = "CF" + "a" * 32
    return {
        "conferences get": [sid],
        "participant-summaries get": [sid, "CP" + "a" * 32],
        "participant-summaries list": [sid],
        "live-participants get": [sid, "CA" + "a" * 32],
        "live-participants list": [sid],
        "export": ["-o", "-"],
        "sync": ["--db", "insights.db"],
        "worker": ["--broker", "redis://127.0.0.1:1/0", "--db", "postgresql://x@127.0.0.1/x"],
    }.get(command, [])


async def test_the_command_line_goes_through_the_proxy(
    proxy: TinyProxy, cli_fake: FakeTwilio, tmp_path: Path
) -> None:
    """--proxy and HTTP_PROXY route the CLI's requests, sync's too; a dead proxy: one line."""
    sid = cli_fake.data.conferences[0]["conference_sid"]
    run = await cli("conferences", "get", sid, "--proxy", proxy.url, env=fake_env(cli_fake))
    assert run.returncode == 0, run.stderr
    assert len(_through(proxy, cli_fake)) == len(cli_fake.requests) == 1
    run = await cli("conferences", "get", sid, env=fake_env(cli_fake, HTTP_PROXY=proxy.url))
    assert run.returncode == 0, run.stderr
    assert len(_through(proxy, cli_fake)) == len(cli_fake.requests) == 2
    store = tmp_path / "insights.db"
    run = await cli("sync", "--db", str(store), "--proxy", proxy.url, env=fake_env(cli_fake))
    assert run.returncode == 0, run.stderr
    assert len(cli_fake.requests) > 2
    assert len(_through(proxy, cli_fake)) == len(cli_fake.requests)
    dead = f"http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{free_port()}"
    run = await cli("conferences", "get", sid, "--proxy", dead, env=fake_env(cli_fake))
    assert run.returncode == 1
    assert_one_line_error(run)
    assert "cannot connect to the proxy" in run.stderr
    assert PROXY_PASSWORD not in run.stderr
