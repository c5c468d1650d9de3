"""W7 workload: ``conference_reports`` against a server that caps requests in flight.

One run is one client doing ``reports`` full ``conference_reports`` passes concurrently,
counting every response by status through the client's hooks (the 429s included) and
every report that came back with ``error`` set (lost). Run as a script, it is the child
process of the shared-account run: it builds its client, prints ``ready``, waits for
``go`` on stdin, runs, and prints its result as one JSON line.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import json
import os
import sys
import time
from typing import Any

import attrs
from _server import ServerInfo

from twilio_conf_insights import ClientEvent, InsightsClient, ResponseReceived
from twilio_conf_insights.distributed import SharedBudget

__all__ = ["CapRun", "capped_run"]


@attrs.frozen
class CapRun:
    """What one client did against the capped server."""

    wall_s: float
    requests: int
    throttled: int
    reports: int
    lost: int
    #: The limiter's state at the end: limit and throttle events.
    final_limit: int
    throttle_events: int

    @property
    def throttled_share(self) -> float:
        return self.throttled / self.requests if self.requests else 0.0


def _client(
    env: dict[str, str], max_concurrency: int, hook: Any, budget: SharedBudget | None
) -> InsightsClient:
    sizing: dict[str, Any] = {"max_concurrency": max_concurrency}
    if budget is not None:
        sizing = {"limiter": budget}
    return ServerInfo.from_env(env).client(hooks=[hook], **sizing)


async def capped_run(
    env: dict[str, str],
    *,
    max_concurrency: int,
    passes: int = 1,
    page_size: int = 100,
    go: asyncio.Event | None = None,
    shared_budget: str | None = None,
) -> CapRun:
    """``passes`` concurrent ``conference_reports`` of one client; ``go`` gates the start.

    ``shared_budget``: a Redis URL; the client then takes its slots from the account's
    :class:`~twilio_conf_insights.distributed.SharedBudget` there (``max_concurrency`` its
    own most in flight).
    """
    statuses: collections.Counter[int | None] = collections.Counter()

    def count(event: ClientEvent) -> None:
        if isinstance(event, ResponseReceived):
            statuses[event.status] += 1

    async def one_pass(client: InsightsClient) -> tuple[int, int]:
        reports = lost = 0
        async with contextlib.aclosing(client.conference_reports(page_size=page_size)) as items:
            async for report in items:
                reports += 1
                lost += report.error is not None
        return reports, lost

    async with contextlib.AsyncExitStack() as stack:
        budget = None
        if shared_budget is not None:
            budget = SharedBudget(
                shared_budget, account_sid=env["BENCH_ACCOUNT_SID"], max_concurrency=max_concurrency
            )
            await stack.enter_async_context(budget)
        client = await stack.enter_async_context(_client(env, max_concurrency, count, budget))
        if go is not None:
            await go.wait()
        started = time.perf_counter()
        outcomes = await asyncio.gather(*(one_pass(client) for _ in range(passes)))
        wall = time.perf_counter() - started
        stats = client.stats()
    return CapRun(
        wall_s=wall,
        requests=sum(statuses.values()),
        throttled=statuses[429],
        reports=sum(reports for reports, _ in outcomes),
        lost=sum(lost for _, lost in outcomes),
        final_limit=stats.limit,
        throttle_events=stats.throttle_events,
    )


async def _child(options: argparse.Namespace) -> None:
    go = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def wait_for_go() -> None:
        await loop.run_in_executor(None, sys.stdin.readline)
        go.set()

    print("ready", flush=True)
    waiter = asyncio.create_task(wait_for_go())
    result = await capped_run(
        dict(os.environ),
        max_concurrency=options.max_concurrency,
        passes=options.passes,
        go=go,
        shared_budget=options.shared_budget,
    )
    await waiter
    print(json.dumps(attrs.asdict(result)), flush=True)


def _main() -> None:
    parser = argparse.ArgumentParser(description="one W7 client (child process)")
    parser.add_argument("--max-concurrency", type=int, required=True)
    parser.add_argument("--passes", type=int, default=1)
    parser.add_argument("--shared-budget", metavar="REDIS_URL", help="share the account's budget")
    asyncio.run(_child(parser.parse_args()))


if __name__ == "__main__":
    _main()
