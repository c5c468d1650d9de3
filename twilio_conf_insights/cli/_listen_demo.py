"""``--demo listen``: the listener on loopback, and a fake Twilio delivering to it, offline.

The fake (the testing package's :class:`~twilio_conf_insights.testing.FakeTwilio`, with no
seeded conferences) starts ``--count`` conferences, two a second, and settles each one
1 to 4 seconds after it started. Its Event Streams deliver each start (``.partial``) and
each settling (``.complete`` and every participant's) to the listener, signed, batched,
and as Twilio may: some events twice, some batches shuffled with a stale ``.partial`` after
its ``.complete``, some events of unrelated types. A line shows each conference arriving
and settling in the store; the demo stops once every one settled and every delivery was
acknowledged (or on Ctrl-C).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from datetime import UTC, datetime
from typing import TextIO

from ..eventstreams import Delivery
from ..sync import Store, open_store
from ..testing import EventDelivery, FakeTwilio
from ..testing._traffic import ConferenceTraffic
from ._client import DEMO_SEED
from ._exit import EXIT_OK
from ._listener import BUSY_TIMEOUT, ready_line, serve
from ._options import PROG
from ._runtime import Runtime
from ._signals import stop_requested

__all__ = ["listen_demo"]

#: What the demo's fake does to its deliveries, as Twilio may.
DEMO_DELIVERY = EventDelivery(
    duplicates=0.2, out_of_order=0.3, unrelated=0.2, seed=DEMO_SEED, initial_backoff=0.2
)


class Progress:
    """Prints each conference as it arrives in the store and as it settles there."""

    def __init__(self, store: Store, stream: TextIO) -> None:
        self._store = store
        self._stream = stream
        self.arrived: set[str] = set()
        self.settled: set[str] = set()
        self._participants: dict[str, set[str]] = {}
        self.changed = asyncio.Event()

    def _print(self, text: str) -> None:
        self._stream.write(text + "\n")
        self._stream.flush()

    async def __call__(self, delivery: Delivery) -> None:
        """After each committed delivery: say what arrived, and what is settled now."""
        touched: list[str] = []
        for record in delivery.conferences:
            sid = record.summary.conference_sid or ""
            touched.append(sid)
            if sid not in self.arrived:
                self.arrived.add(sid)
                state = record.summary.processing_state
                self._print(f"  {sid}  arrived  ({record.event.type}: {state})")
        for participant in delivery.participants:
            sid = participant.summary.conference_sid or ""
            touched.append(sid)
            self._participants.setdefault(sid, set()).add(participant.summary.participant_sid or "")
        for sid in sorted(await self._store.settled(set(touched)) - self.settled):
            self.settled.add(sid)
            count = len(self._participants.get(sid, ()))
            self._print(f"  {sid}  settled  (complete, with {count} participant summaries)")
        self.changed.set()


async def listen_demo(runtime: Runtime, *, db: str, path: str, port: int, count: int) -> int:
    """``--demo listen --db PATH``: see the module documentation."""
    token = secrets.token_hex(16)  # the fake signs with it, the listener checks with it
    store = await open_store(db, busy_timeout=BUSY_TIMEOUT)
    progress = Progress(store, runtime.stdout)
    async with contextlib.aclosing(store):
        with stop_requested() as stop:
            async with serve(
                store,
                token=token,
                path=path,
                public_base=None,
                host="127.0.0.1",
                port=port,
                then=progress,
            ) as served:
                print(ready_line(served, served.url, db), file=runtime.stderr, flush=True)
                fake = FakeTwilio(
                    conferences=0,
                    participants_per_conference=(2, 5),
                    seed=DEMO_SEED,
                    auth_token=token,
                    now=datetime.now(UTC),
                    event_sink=served.url,
                    event_delivery=DEMO_DELIVERY,
                )
                traffic = ConferenceTraffic(fake.data, count=count, seed=DEMO_SEED)
                runtime.stdout.write(
                    f"demo: a fake Twilio starts {count} conferences and delivers their "
                    "Event Streams here (some events twice, out of order, or of other types)\n"
                )
                async with fake:
                    await _until_settled(traffic, progress, fake, stop)
    runtime.stdout.write(f"listen: {served.line()}\n")
    if progress.settled >= set(traffic.started):
        runtime.stdout.write(
            f"demo: {len(progress.settled)} conferences settled in {db}; "
            f"try {PROG} report --db {db}\n"
        )
    return EXIT_OK


async def _until_settled(
    traffic: ConferenceTraffic, progress: Progress, fake: FakeTwilio, stop: asyncio.Event
) -> None:
    """Run the traffic; return once all of it settled and was acknowledged, or on a signal."""

    async def settled() -> None:
        await traffic.run()
        while not progress.settled >= set(traffic.started):
            progress.changed.clear()
            await progress.changed.wait()
        assert fake.events is not None
        await fake.events.drain()  # duplicates and unrelated events still on their way

    work = asyncio.ensure_future(settled())
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({work, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (work, stopping):
            task.cancel()
        await asyncio.gather(work, stopping, return_exceptions=True)
    if work.done() and not work.cancelled():
        work.result()  # its error, if it failed
