"""Shared by the listener's tests: the ``listen`` command in a child process, a fake Twilio
delivering to it, hand-made signed deliveries, and what the store must end up holding."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import re
import signal
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import attrs

from tests import helpers
from tests.helpers import PATIENCE, Run, clean_env
from tests.store_fixtures import Records, api_records, stored_records
from twilio_conf_insights.testing import EventDelivery, FakeTwilio
from twilio_conf_insights.webhooks import SIGNATURE_HEADER, compute_signature, with_body_sha256

#: The auth token the fakes sign with and the listeners check with.
TOKEN = "listen-test-auth-token-0123456789"
#: Retries soon after a failure, so that redeliveries come within a test.
QUICK = EventDelivery(initial_backoff=0.02, max_backoff=0.2)
#: As Twilio may deliver: some events twice, batches shuffled with stale partials, other types.
CHAOS = attrs.evolve(QUICK, batch_size=6, duplicates=0.3, out_of_order=0.5, unrelated=0.3, seed=5)
_READY = re.compile(r"^listen: ready on (http://\S+), ")


@attrs.define
class Listener:
    """A ``listen`` child process: where it serves, and its output so far."""

    process: asyncio.subprocess.Process
    url: str
    ready: str
    #: stderr lines after the ready line (drained as they come, so the child never blocks).
    log: list[str] = attrs.Factory(list)
    _drain: asyncio.Task[None] | None = None

    async def stop(self, sig: signal.Signals = signal.SIGTERM) -> Run:
        """Send ``sig`` and wait for the exit; the run's stdout, and stderr after ready."""
        process = self.process
        assert process.stdout is not None
        if process.returncode is None:
            process.send_signal(sig)
        try:
            async with asyncio.timeout(PATIENCE):
                stdout = await process.stdout.read()
                if self._drain is not None:
                    await self._drain
                await process.wait()
        except TimeoutError:
            await self.kill()
            raise AssertionError(f"the listener did not stop within {PATIENCE:g}s") from None
        assert process.returncode is not None
        return Run(process.returncode, stdout.decode(), "".join(self.log))

    async def kill(self) -> None:
        """SIGKILL: no cleanup, no last line."""
        self.process.kill()
        await self.process.wait()
        if self._drain is not None:
            self._drain.cancel()
            await asyncio.gather(self._drain, return_exceptions=True)

    async def logged(self, text: str) -> None:
        """Return once a stderr line holding ``text`` was printed (``-v`` logs)."""
        await helpers.wait_until(
            lambda: any(text in line for line in self.log), f"the listener logged {text!r}"
        )


def listen_env(**extra: str) -> dict[str, str]:
    """A clean environment with the test token (what ``listen`` checks signatures with)."""
    return clean_env(TWILIO_AUTH_TOKEN=TOKEN, **extra)


async def start_listener(
    db: str | None, *args: str, port: int = 0, env: Mapping[str, str] | None = None
) -> Listener:
    """Start ``listen --db db --port port ARGS`` and wait for its ready line.

    ``db=None``: no ``--db`` (the store comes from the environment).
    """
    store = [] if db is None else ["--db", db]
    process = await helpers.start_cli(
        "listen", *store, "--port", str(port), *args, env=env or listen_env()
    )
    assert process.stderr is not None
    try:
        async with asyncio.timeout(PATIENCE):
            line = (await process.stderr.readline()).decode()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise AssertionError("the listener printed no ready line") from None
    found = _READY.match(line)
    if found is None:
        run = await helpers.finish(process)
        raise AssertionError(f"not a ready line: {line!r} (then {run})")
    listener = Listener(process, found.group(1), line)

    async def drain() -> None:
        assert process.stderr is not None
        while raw := await process.stderr.readline():
            listener.log.append(raw.decode())

    listener._drain = asyncio.ensure_future(drain())
    return listener


@contextlib.asynccontextmanager
async def listening(db: str | None, *args: str, **options: Any) -> AsyncIterator[Listener]:
    """A listener for the block; killed if the block did not stop it."""
    listener = await start_listener(db, *args, **options)
    try:
        yield listener
    finally:
        if listener.process.returncode is None:
            await listener.kill()


def fake_for(
    sink: str,
    *,
    conferences: int = 12,
    delivery: EventDelivery = CHAOS,
    missed_every: int = 0,
    **options: Any,
) -> FakeTwilio:
    """A fake Twilio whose summaries are in progress, delivering events to ``sink``.

    With ``missed_every=n``, every n-th conference keeps the state it was generated with:
    those generated settled were settled before anyone listened, and no event will say so.
    """
    fake = FakeTwilio(
        conferences=conferences,
        participants_per_conference=(1, 4),
        seed=11,
        auth_token=TOKEN,
        event_sink=sink,
        event_delivery=delivery,
        **options,
    )
    for index, conference in enumerate(fake.data.conferences):
        if not (missed_every and index % missed_every == 0):
            fake.data.set_processing_state(conference["conference_sid"], "in_progress")
    return fake


async def drained(fake: FakeTwilio) -> None:
    """Return once the sink acknowledged every event the fake emitted so far."""
    assert fake.events is not None
    async with asyncio.timeout(PATIENCE):
        await fake.events.drain()


def _by_sid(records: Records) -> dict[str, Any]:
    # Events arrive in any order: participants are compared by SID, not by position.
    return {
        sid: (summary, {p["participant_sid"]: p for p in participants})
        for sid, (summary, participants) in records.items()
    }


async def assert_store_exact(spec: str, fake: FakeTwilio) -> None:
    """The store holds exactly what the fake's API serves, record for record."""
    assert _by_sid(await stored_records(spec)) == _by_sid(api_records(fake))


def signed_delivery(
    events: list[dict[str, Any]], url: str, *, token: str = TOKEN
) -> tuple[str, bytes, dict[str, str]]:
    """A delivery as Twilio sends it to ``url``: (URL with bodySHA256, body, headers)."""
    return signed_body(json.dumps(events).encode(), url, token=token)


def signed_body(body: bytes, url: str, *, token: str = TOKEN) -> tuple[str, bytes, dict[str, str]]:
    """Any body, signed as Twilio signs a delivery to ``url``."""
    signed = with_body_sha256(url, body)
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: compute_signature(signed, key=token),
    }
    return signed, body, headers


async def post(
    session: aiohttp.ClientSession, url: str, body: bytes, headers: Mapping[str, str]
) -> int:
    """POST a delivery; the status answered."""
    # A stream, not bytes: aiohttp warns about large bytes bodies (the oversized tests).
    async with session.post(url, data=io.BytesIO(body), headers=dict(headers)) as response:
        await response.read()
        return response.status


def summary_event(fake: FakeTwilio, index: int = 0) -> dict[str, Any]:
    """A ``.complete`` conference summary event of the fake's ``index``-th conference."""
    return {
        "specversion": "1.0",
        "type": "com.twilio.voice.insights.conference-summary.complete",
        "source": "/v1/Conferences",
        "id": f"EV{index:032x}",
        "time": "2025-06-01T08:00:00.000Z",
        "data": fake.data.conferences[index],
    }
