"""What the shared budget costs a request: Redis round trips, in microseconds.

    python benchmarks/budget_cost.py [--requests 5000]

Starts Debian's ``redis-server`` on loopback (as the tests do, but syncing its append-only
file every second, Redis's default, unless ``--appendfsync always``) and measures, in one
process:

* ``PING``: one bare Redis round trip, the floor;
* the ``acquire`` and ``release`` scripts called directly (one lease each), and a release
  that hands its lease on (release + acquire in one call);
* a request's whole path through a budget member (``BudgetMember.acquire``, then
  ``release`` in the background), one request at a time: the latency a request waits for
  its lease, and the CPU the process spends per request;
* the same with 16 requests at once (the steady state of a busy worker alone in the budget:
  every release keeps its lease for the next request, without a call, within its quota);
* for comparison, the process-local ``AdaptiveLimiter``'s acquire and release.

Prints a table and writes ``benchmarks/results/budget_cost.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from redis.asyncio import Redis  # noqa: E402

from tests.servers import RedisServer  # noqa: E402
from twilio_conf_insights import AdaptiveLimiter, Outcome, ThrottlePolicy  # noqa: E402
from twilio_conf_insights.distributed._budget_redis import BudgetKeys, RedisLeases  # noqa: E402
from twilio_conf_insights.distributed._fleet import FleetLaw  # noqa: E402
from twilio_conf_insights.distributed._member import BudgetMember  # noqa: E402

ACCOUNT = "AC" + "b" * 32


async def _timed(count: int, step: Callable[[], Awaitable[Any]]) -> dict[str, float]:
    """Median and p99 wall time of ``step`` in µs, and CPU µs per step."""
    samples = []
    cpu = time.process_time()
    for _ in range(count):
        started = time.perf_counter()
        await step()
        samples.append((time.perf_counter() - started) * 1e6)
    cpu = (time.process_time() - cpu) * 1e6 / count
    samples.sort()
    return {
        "median_us": statistics.median(samples),
        "p99_us": samples[int(0.99 * (len(samples) - 1))],
        "cpu_us": cpu,
    }


async def _scripts(redis: Redis, count: int) -> dict[str, Any]:
    law = FleetLaw(64, ThrottlePolicy(enabled=False))
    leases = RedisLeases(
        redis, BudgetKeys.for_account(ACCOUNT), "bench", law, lease_ttl=30, wait_ttl=1
    )
    held: list[str] = []

    async def acquire() -> None:
        held.extend(g.lease for g in (await leases.acquire(1)).grants)

    async def release() -> None:
        await leases.release(held.pop())

    async def hand_off() -> None:
        reply = await leases.release(held.pop(), count=1)
        held.extend(g.lease for g in reply.grants)

    results = {"ping": await _timed(count, redis.ping)}
    acquired = []
    released = []
    for _ in range(count):  # alternate, so that each finds one lease held
        acquired.append(await _timed(1, acquire))
        released.append(await _timed(1, release))
    results["acquire script"] = _merge(acquired)
    results["release script"] = _merge(released)
    await acquire()
    results["release + acquire (hand-off)"] = await _timed(count, hand_off)
    await release()
    return results


def _merge(runs: list[dict[str, float]]) -> dict[str, float]:
    walls = sorted(run["median_us"] for run in runs)
    return {
        "median_us": statistics.median(walls),
        "p99_us": walls[int(0.99 * (len(walls) - 1))],
        "cpu_us": statistics.fmean(run["cpu_us"] for run in runs),
    }


async def _member(redis: Redis, count: int) -> dict[str, Any]:
    member = BudgetMember(redis, ACCOUNT, max_concurrency=64, policy=ThrottlePolicy())
    await member.start()
    try:

        async def one_request() -> None:
            grant = await member.acquire()
            member.release(grant, ok=True)

        alone = await _timed(count, one_request)
        # 16 at once: what a busy worker pays per request.
        done = 0
        cpu = time.process_time()
        started = time.perf_counter()

        async def loop() -> None:
            nonlocal done
            while done < count:
                grant = await member.acquire()
                await asyncio.sleep(0)  # the request: other requests run meanwhile
                member.release(grant, ok=True)
                done += 1

        await asyncio.gather(*(loop() for _ in range(16)))
        wall = time.perf_counter() - started
        busy = {
            "requests_per_s": done / wall,
            "cpu_us": (time.process_time() - cpu) * 1e6 / done,
            "wall_us_per_request": wall * 1e6 / done,
        }
    finally:
        await member.aclose()
    return {"one request at a time": alone, "16 at once": busy}


async def _local(count: int) -> dict[str, float]:
    limiter = AdaptiveLimiter(64)

    async def one_request() -> None:
        slot = await limiter.acquire()
        slot.release(Outcome.SUCCEEDED)

    return await _timed(count, one_request)


async def _run(count: int, appendfsync: str) -> dict[str, Any]:
    server = RedisServer(appendfsync=appendfsync)
    server.start()
    try:
        async with Redis.from_url(server.url) as redis:
            await redis.ping()
            results = await _scripts(redis, count)
            results |= await _member(redis, count)
        results["AdaptiveLimiter acquire + release"] = await _local(count)
    finally:
        server.close()
    return results


def main(argv: list[str] | None = None) -> int:
    """Measure, print, write the results."""
    parser = argparse.ArgumentParser(prog="python benchmarks/budget_cost.py", description=__doc__)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument(
        "--appendfsync",
        choices=["everysec", "always"],
        default="everysec",
        help="Redis's append-only file sync (default everysec, Redis's own default; always: "
        "every write waits for the disk, as the tests' servers do)",
    )
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks" / "results")
    options = parser.parse_args(argv)
    results = asyncio.run(_run(options.requests, options.appendfsync))
    for name, figures in results.items():
        shown = ", ".join(f"{key} {value:,.1f}" for key, value in figures.items())
        print(f"{name}: {shown}")
    options.output.mkdir(parents=True, exist_ok=True)
    name = "budget_cost.json" if options.appendfsync == "everysec" else "budget_cost-fsync.json"
    (options.output / name).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
