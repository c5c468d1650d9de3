"""What several test modules share: waiting on state, collecting events, leftover tasks,
raw HTTP to the fake Twilio, and running the command line in a subprocess.

Waiting never means sleeping a fixed time: :class:`EventLog` wakes on each event a client
emits, and :func:`wait_until` re-checks a condition (typically one of the fake's counters)
until it holds, failing the test only after a generous deadline that a busy machine never
reaches.

The command line runs as ``python -m twilio_conf_insights`` (:func:`cli`, or
:func:`start_cli` and :func:`finish` for a run the test acts on meanwhile), driven with
asyncio so the test's own event loop keeps serving a FakeTwilio meanwhile. Subprocesses get
the environment without any ``TWILIO_*`` variable, plus what the test sets.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import socket
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from typing import Any, TypeVar

import aiohttp
import attrs
from aiohttp import abc, web
from yarl import URL

from twilio_conf_insights import (
    ClientEvent,
    ConferenceSummary,
    InsightsClient,
    ParticipantSummary,
)
from twilio_conf_insights.sync import ConferenceRecord
from twilio_conf_insights.testing import FakeData, FakeTwilio

__all__ = [
    "API_KEY",
    "API_SECRET",
    "PATIENCE",
    "SUBACCOUNT",
    "ClientFactory",
    "EventLog",
    "Run",
    "TerminalStream",
    "UnreachableHosts",
    "all_participants",
    "assert_one_line_error",
    "auth_for",
    "clean_env",
    "cli",
    "client_for",
    "command",
    "conference_records",
    "fake_env",
    "finish",
    "get",
    "leftover_tasks",
    "live_path",
    "own_conferences",
    "serving",
    "settle",
    "start_cli",
    "wait_until",
]

E = TypeVar("E", bound=ClientEvent)

#: Seconds before a wait gives up: far beyond what any state change here takes, even on a
#: loaded machine; reaching it means the state never came.
PATIENCE = 60.0

#: ``make_client(**options)``: an InsightsClient for the ``fake`` fixture, closed after the test.
ClientFactory = Callable[..., InsightsClient]


class EventLog:
    """A client hook that keeps every event and lets a test wait for the ones it needs.

    Pass the log itself in ``hooks=[log]``.
    """

    def __init__(self) -> None:
        self.events: list[ClientEvent] = []
        self._arrived = asyncio.Event()

    def __call__(self, event: ClientEvent) -> None:
        self.events.append(event)
        self._arrived.set()

    def of(self, kind: type[E]) -> list[E]:
        """The events of one type, oldest first."""
        return [event for event in self.events if isinstance(event, kind)]

    def count(self, kind: type[ClientEvent]) -> int:
        """How many events of one type arrived."""
        return sum(isinstance(event, kind) for event in self.events)

    async def wait_for(self, kind: type[ClientEvent], count: int) -> None:
        """Return once at least ``count`` events of type ``kind`` arrived."""
        await self.wait_until(lambda: self.count(kind) >= count, f"{count} {kind.__name__}")

    async def wait_for_any(self, count: int) -> None:
        """Return once at least ``count`` events of any type arrived."""
        await self.wait_until(lambda: len(self.events) >= count, f"{count} events")

    async def wait_until(self, condition: Callable[[], bool], what: str) -> None:
        """Return once ``condition()`` holds, re-checked as each event arrives."""
        try:
            async with asyncio.timeout(PATIENCE):
                while not condition():
                    self._arrived.clear()
                    await self._arrived.wait()
        except TimeoutError:
            raise AssertionError(f"gave up waiting until {what}") from None


async def wait_until(condition: Callable[[], bool], what: str) -> None:
    """Return once ``condition()`` holds, re-checking it every event-loop turn or so."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + PATIENCE
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"gave up waiting until {what}")
        # A short poll, not a guess at how long the state takes: the loop checks again
        # until the condition holds, however slow the machine.
        await asyncio.sleep(0.001)


async def settle() -> None:
    """Let every callback already scheduled run to its next await (no time passes)."""
    for _ in range(20):
        await asyncio.sleep(0)


def leftover_tasks() -> set[asyncio.Task[object]]:
    """Tasks still alive besides the test itself and the fake server's connection handlers."""
    current = asyncio.current_task()
    return {
        task
        for task in asyncio.all_tasks()
        if task is not current
        and not getattr(task.get_coro(), "__qualname__", "").startswith("RequestHandler.")
    }


@contextlib.asynccontextmanager
async def serving(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
) -> AsyncIterator[str]:
    """A loopback server answering every GET with ``handler``; yields its base URL.

    For answers FakeTwilio never gives (a 403, a body it would not send).
    """
    app = web.Application()
    app.router.add_get("/{tail:.*}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


class UnreachableHosts(abc.AbstractResolver):
    """A DNS resolver for an ``aiohttp.ClientSession`` that records each host name asked for
    and resolves none, so a request to a real Twilio host shows where it was going and
    fails at once (``TransportError(kind="connect")``) without leaving the machine.
    """

    def __init__(self) -> None:
        self.asked: list[str] = []

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[abc.ResolveResult]:
        self.asked.append(host)
        raise OSError(f"{host}: no name resolution in tests")

    async def close(self) -> None:
        return None


# -- the fake Twilio over raw aiohttp (no SDK code involved) ------------------------------

# The fake-server tests' ``server`` fixture (in conftest.py) has a subaccount and an API key.
SUBACCOUNT = "AC" + "5" * 32
API_KEY = "SK" + "1" * 32
API_SECRET = "not-the-auth-token"


def client_for(fake: FakeTwilio, **options: Any) -> InsightsClient:
    """An InsightsClient pointed at ``fake`` with its credentials; ``options`` as the client's.

    The caller closes it (``async with``), or uses the ``make_client`` fixture, which does.
    """
    return InsightsClient(
        fake.account_sid,
        fake.auth_token,
        insights_base_url=fake.insights_base_url,
        api_base_url=fake.api_base_url,
        **options,
    )


def conference_records(data: FakeData) -> list[ConferenceRecord]:
    """Every conference of the fake's data with its participant summaries, as a sync stores it."""
    return [
        ConferenceRecord.from_models(
            ConferenceSummary.from_dict(conference),
            [
                ParticipantSummary.from_dict(participant)
                for participant in data.participant_summaries[conference["conference_sid"]]
            ],
        )
        for conference in data.conferences
    ]


def auth_for(fake: FakeTwilio) -> dict[str, str]:
    """Basic auth headers with the fake's account SID and auth token."""
    return {"Authorization": aiohttp.encode_basic_auth(fake.account_sid, fake.auth_token)}


async def get(
    session: aiohttp.ClientSession, url: str | URL, params: dict[str, str] | None = None
) -> tuple[int, Any]:
    """GET ``url``; the status and the parsed JSON body (which must be labelled JSON)."""
    async with session.get(url, params=params) as response:
        assert response.headers["Content-Type"] == "application/json; charset=utf-8"
        return response.status, await response.json()


def live_path(fake: FakeTwilio, conference: dict[str, Any], tail: str = ".json") -> str:
    """The URL of a conference's live (2010 API) participants, ``tail`` appended."""
    return (
        f"{fake.api_base_url}/2010-04-01/Accounts/{conference['account_sid']}"
        f"/Conferences/{conference['conference_sid']}/Participants{tail}"
    )


def own_conferences(fake: FakeTwilio) -> list[dict[str, Any]]:
    """The conferences of the fake's own account (not its subaccount's)."""
    return [c for c in fake.data.conferences if c["account_sid"] == fake.account_sid]


# -- the command line in a subprocess ------------------------------------------------------


@attrs.frozen
class Run:
    """What a finished CLI run left: its exit status and its output."""

    returncode: int
    stdout: str
    stderr: str

    def jsonl(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines()]


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any ``TWILIO_*`` variable, plus ``extra``."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("TWILIO_")}
    env.update(extra)
    return env


def fake_env(fake: FakeTwilio, **overrides: str) -> dict[str, str]:
    """A clean environment pointing the CLI at ``fake`` with its credentials."""
    env = clean_env(
        TWILIO_ACCOUNT_SID=fake.account_sid,
        TWILIO_AUTH_TOKEN=fake.auth_token,
        TWILIO_INSIGHTS_BASE_URL=fake.insights_base_url,
        TWILIO_API_BASE_URL=fake.api_base_url,
    )
    env.update(overrides)
    return env


def command(*args: str) -> list[str]:
    """The argv that runs the CLI with this Python."""
    return [sys.executable, "-m", "twilio_conf_insights", *args]


async def start_cli(
    *args: str, env: Mapping[str, str] | None = None, stderr: int = asyncio.subprocess.PIPE
) -> asyncio.subprocess.Process:
    """Start the CLI (no stdin; a clean environment unless ``env`` is given); see :func:`finish`.

    ``stderr`` may be a file descriptor (a pseudo-terminal, to see what a terminal shows).
    """
    return await asyncio.create_subprocess_exec(
        *command(*args),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=stderr,
        env=dict(env) if env is not None else clean_env(),
    )


async def finish(
    process: asyncio.subprocess.Process,
    *,
    # A parameter, not the caller's asyncio.timeout(): on timeout the process must be killed.
    timeout: float = PATIENCE,  # noqa: ASYNC109
) -> Run:
    """Wait for a started CLI to exit and collect its output.

    Past ``timeout`` seconds the process is killed and the test fails: a CLI that hangs
    ends the test, not the run.
    """
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError(f"the CLI did not exit within {timeout:g}s") from None
    assert process.returncode is not None
    return Run(process.returncode, stdout.decode("utf-8"), (stderr or b"").decode("utf-8"))


async def cli(
    *args: str,
    env: Mapping[str, str] | None = None,
    timeout: float = PATIENCE,  # noqa: ASYNC109 - see finish()
) -> Run:
    """Run the CLI to the end: the one way tests run it in a subprocess.

    No stdin; a clean environment unless ``env`` is given; killed and failed after
    ``timeout`` seconds (long runs pass a longer one).
    """
    return await finish(await start_cli(*args, env=env), timeout=timeout)


def assert_one_line_error(run: Run) -> None:
    """The run's stderr is exactly one ``twilio-conf-insights: ...`` line, no traceback."""
    assert "Traceback" not in run.stderr
    lines = run.stderr.splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("twilio-conf-insights: ")


def all_participants(fake: FakeTwilio) -> Iterator[dict[str, Any]]:
    """Every participant summary the fake serves, conference by conference."""
    for conference in fake.data.conferences:
        yield from fake.data.participant_summaries[conference["conference_sid"]]


class TerminalStream(io.StringIO):
    """An in-memory stream that says it is a terminal (progress is drawn only on one)."""

    def isatty(self) -> bool:
        return True
