"""How soon a client takes up capacity given back: a cap raised while it runs at the old one.

One client (``max_concurrency=32``, the default ``ThrottlePolicy``) fetches conference
summaries without end from a FakeTwilio that answers 429 above 4 requests in flight. After
``--hold`` seconds at that cap (long enough for failed probes to lengthen the client's
hold) the cap is raised to 12, and the time until the client's limit first reaches 12 is
measured from its ``ThrottleChanged`` events. ``--hold 0`` raises the cap as soon as the
client has found the first one. The README's claim: "capacity another service gave back is
taken up within a second, or within about three after a run of failed probes".

Run: ``python benchmarks/given_back.py [--rounds 5] [--hold 2]``. The fake runs in this
process (a few hundred requests a second: the time measured is the limiter's, its holds
of 0.15-1.2 s, not the server's).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import statistics
import time

from twilio_conf_insights import ClientEvent, InsightsClient, ThrottleChanged
from twilio_conf_insights.testing import ConcurrencyCap, FakeTwilio

OLD_CAP = 4
NEW_CAP = 12


async def one_round(hold: float) -> float:
    """Seconds from raising the cap to the client's limit first reaching the new cap."""
    async with FakeTwilio(conferences=50, participants_per_conference=1, seed=11) as fake:
        fake.concurrency_cap = ConcurrencyCap(OLD_CAP)
        fake.latency = 0.01
        reached = asyncio.Event()
        found = asyncio.Event()
        raised_cap = asyncio.Event()

        def hook(event: ClientEvent) -> None:
            if isinstance(event, ThrottleChanged):
                if event.stats.ceiling == OLD_CAP:
                    found.set()
                if raised_cap.is_set() and event.stats.limit >= NEW_CAP:
                    reached.set()

        sids = [c["conference_sid"] for c in fake.data.conferences]
        async with InsightsClient(
            fake.account_sid,
            fake.auth_token,
            insights_base_url=fake.insights_base_url,
            max_concurrency=32,
            hooks=[hook],
        ) as client:

            async def fetch_forever() -> None:
                async for _ in client.conferences.fetch_many(itertools.cycle(sids)):
                    pass

            running = asyncio.create_task(fetch_forever())
            try:
                await asyncio.wait_for(found.wait(), 60)
                await asyncio.sleep(hold)
                raised = time.perf_counter()
                fake.concurrency_cap = ConcurrencyCap(NEW_CAP)
                raised_cap.set()
                await asyncio.wait_for(reached.wait(), 60)
                return time.perf_counter() - raised
            finally:
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await running


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--hold", type=float, default=2.0, help="seconds at the old cap")
    args = parser.parse_args()
    times = [await one_round(args.hold) for _ in range(args.rounds)]
    print(
        f"cap {OLD_CAP} -> {NEW_CAP} after {args.hold:g}s at {OLD_CAP}: limit reached {NEW_CAP}"
        f" in median {statistics.median(times):.2f}s"
        f" (min {min(times):.2f}s, max {max(times):.2f}s, {args.rounds} rounds)"
    )


if __name__ == "__main__":
    asyncio.run(main())
