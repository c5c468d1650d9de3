"""W6 sync: a first sync against ``conference_reports``, incremental costs, loop stalls, report.

    python benchmarks/w6_sync.py            # 3 rounds, about 2 minutes on 2 cores
    python benchmarks/w6_sync.py --rounds 1

Same fake server child process as ``run.py`` (2,000 conferences x 5 participants, 20 ms per
response, 10% of conferences unsettled at first), same client settings for both contenders:

- **first sync**: ``client.sync(SQLiteStore)`` into a fresh store over the data's range,
  against ``client.conference_reports(...)`` collecting the same conferences with all their
  participants, alternating, medians over rounds. Target: sync <= 1.15x.
- **worst event-loop stall** during each: a task that sleeps 5 ms in a loop records the
  largest lateness (the store works on its own thread; this shows it never blocks the loop).
- **incremental request counts** (server-side counts): a re-sync with nothing new, a
  re-sync after Twilio settled everything, and one more after that, as shares of the first
  sync's requests (targets: <= 30%, <= 30%, <= 5%).
- **report over a store of 100,000 participant summaries**: the wall time of
  ``twilio-conf-insights report --db`` (a whole CLI process, offline).

Writes ``benchmarks/results/w6.json`` and prints a table.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _server import ServerInfo, ServerProcess

from twilio_conf_insights import InsightsClient
from twilio_conf_insights.sync import ConferenceRecord, SQLiteStore
from twilio_conf_insights.testing import FakeData

RESULTS = Path(__file__).resolve().parent / "results"
CONFERENCES = 2000
PARTICIPANTS = 5
LATENCY = 0.020
UNSETTLED_EVERY = 10
REPORT_CONFERENCES = 20_000  # x 5 participants = 100,000 participant summaries


class StallMeter:
    """Largest lateness of a 5 ms sleep loop: how long the event loop was kept busy.

    Also what explains it: the CPU the loop's thread used during that late tick (little
    CPU in a late tick: the loop waited, for the GIL or for a core), and the full cycle
    collections that ran meanwhile (how many, the longest in CPU milliseconds).
    """

    def __init__(self, tick: float = 0.005) -> None:
        self._tick = tick
        self.worst = 0.0
        self.worst_tick_cpu = 0.0
        self.full_collections = 0
        self.longest_full_collection = 0.0
        self._collection_started = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            start, cpu = loop.time(), time.thread_time()
            await asyncio.sleep(self._tick)
            late = loop.time() - start - self._tick
            if late > self.worst:
                self.worst, self.worst_tick_cpu = late, time.thread_time() - cpu

    def _on_collection(self, phase: str, info: dict[str, Any]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._collection_started = time.thread_time()
        else:
            self.full_collections += 1
            spent = time.thread_time() - self._collection_started
            self.longest_full_collection = max(self.longest_full_collection, spent)

    async def __aenter__(self) -> StallMeter:
        gc.callbacks.append(self._on_collection)
        self._task = asyncio.ensure_future(self._run())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        gc.callbacks.remove(self._on_collection)


def _client(info: ServerInfo) -> InsightsClient:
    return info.client()


def _span(info: ServerInfo) -> tuple[datetime, datetime]:
    now = datetime.fromisoformat(info.now)
    return now - timedelta(days=3, hours=1), now + timedelta(seconds=1)


async def _timed(
    work: Callable[[], Awaitable[int]], details: list[dict[str, float]] | None = None
) -> tuple[float, float, int]:
    async with StallMeter() as stall:
        start = time.perf_counter()
        count = await work()
        wall = time.perf_counter() - start
    if details is not None:
        details.append(
            {
                "stall_ms": stall.worst * 1000,
                "stall_tick_cpu_ms": stall.worst_tick_cpu * 1000,
                "full_collections": stall.full_collections,
                "longest_full_collection_ms": stall.longest_full_collection * 1000,
                "load": os.getloadavg()[0],
            }
        )
    return wall, stall.worst, count


async def _reports(info: ServerInfo) -> int:
    after, before = _span(info)
    async with _client(info) as client:
        count = 0
        async for report in client.conference_reports(created_after=after, created_before=before):
            assert report.ok, report.error
            count += 1
        return count


async def _sync(info: ServerInfo, path: Path) -> int:
    after, before = _span(info)
    async with _client(info) as client, SQLiteStore(path) as store:
        summary = await client.sync(store, created_after=after, created_before=before, now=before)
        assert summary.ok, summary.errors
        return summary.new + summary.updated + summary.skipped


async def first_sync(server: ServerProcess, rounds: int, workdir: Path) -> dict[str, Any]:
    info = server.info
    assert info is not None
    samples: dict[str, list[float]] = {
        k: [] for k in ("reports", "sync", "reports_stall", "sync_stall")
    }
    details: dict[str, list[dict[str, float]]] = {"reports": [], "sync": []}
    await _reports(info)  # warm-up, unrecorded
    for index in range(rounds):
        wall, stall, count = await _timed(lambda: _reports(info), details["reports"])
        assert count == CONFERENCES, count
        samples["reports"].append(wall)
        samples["reports_stall"].append(stall)
        path = workdir / f"first-{index}.db"
        wall, stall, count = await _timed(lambda: _sync(info, path), details["sync"])  # noqa: B023
        assert count == CONFERENCES, count
        samples["sync"].append(wall)
        samples["sync_stall"].append(stall)
    medians = {name: statistics.median(values) for name, values in samples.items()}
    return {
        "samples": samples,
        "medians": medians,
        "ratio": medians["sync"] / medians["reports"],
        "worst_sync_stall_ms": max(samples["sync_stall"]) * 1000,
        "worst_reports_stall_ms": max(samples["reports_stall"]) * 1000,
        "stalls": details,
    }


async def incremental(server: ServerProcess, workdir: Path) -> dict[str, Any]:
    info = server.info
    assert info is not None
    path = workdir / "incremental.db"
    counts: dict[str, int] = {}
    server.set_unsettled(UNSETTLED_EVERY)
    for step in ("first", "nothing_new"):
        server.reset_stats()
        await _sync(info, path)
        counts[step] = server.request_count()
    server.set_unsettled(0)  # Twilio settles everything
    for step in ("after_settling", "after_that"):
        server.reset_stats()
        await _sync(info, path)
        counts[step] = server.request_count()
    server.set_unsettled(UNSETTLED_EVERY)
    first = counts["first"]
    return {"requests": counts, "shares": {k: v / first for k, v in counts.items()}}


async def _fill_store(path: Path) -> int:
    data = FakeData(
        conferences=REPORT_CONFERENCES, participants_per_conference=PARTICIPANTS, seed=2
    )
    async with SQLiteStore(path) as store:
        batch: list[ConferenceRecord] = []
        for conference in data.conferences:
            sid = conference["conference_sid"]
            batch.append(ConferenceRecord(conference, data.participant_summaries[sid]))
            if len(batch) == 1000:
                await store.write(batch)
                batch = []
        await store.write(batch)
        return (await store.counts())["participant_summaries"]


def report_figure(workdir: Path) -> dict[str, Any]:
    path = workdir / "big.db"
    participants = asyncio.run(_fill_store(path))
    command = [
        sys.executable,
        "-m",
        "twilio_conf_insights",
        "report",
        "--db",
        str(path),
        "-f",
        "json",
    ]
    walls = []
    for _ in range(3):
        start = time.perf_counter()
        done = subprocess.run(command, capture_output=True, check=True)
        walls.append(time.perf_counter() - start)
    conferences = json.loads(done.stdout)
    return {
        "participant_summaries": participants,
        "seconds": walls,
        "median_seconds": statistics.median(walls),
        "report_keys": sorted(conferences)[:5],
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python benchmarks/w6_sync.py")
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        ServerProcess(
            conferences=CONFERENCES,
            participants_per_conference=PARTICIPANTS,
            seed=1,
            latency=LATENCY,
        ) as server,
    ):
        workdir = Path(tmp)
        server.set_unsettled(UNSETTLED_EVERY)
        first = asyncio.run(first_sync(server, options.rounds, workdir))
        steps = asyncio.run(incremental(server, workdir))
        report = report_figure(workdir)
    results = {"first_sync": first, "incremental": steps, "report_100k": report}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "w6.json").write_text(json.dumps(results, indent=2) + "\n")
    m = first["medians"]
    shares = steps["shares"]
    requests = steps["requests"]
    verdict = "PASS" if first["ratio"] <= 1.15 else "MISS"
    print(f"W6 first sync of {CONFERENCES} conferences x {PARTICIPANTS}, {LATENCY * 1000:.0f} ms:")
    print(
        f"  conference_reports {m['reports']:.2f}s   sync {m['sync']:.2f}s   "
        f"ratio {first['ratio']:.2f} (target <= 1.15: {verdict})"
    )
    print(
        f"  worst loop stall: sync {first['worst_sync_stall_ms']:.1f} ms, "
        f"conference_reports {first['worst_reports_stall_ms']:.1f} ms"
    )
    for name, rows in first["stalls"].items():
        for row in rows:
            print(
                f"    {name}: stall {row['stall_ms']:.1f} ms (loop thread's CPU in that tick "
                f"{row['stall_tick_cpu_ms']:.1f} ms), full collections "
                f"{row['full_collections']:.0f} (longest {row['longest_full_collection_ms']:.1f} ms"
                f" CPU), load {row['load']:.1f}"
            )
    for step, target in (("nothing_new", 0.30), ("after_settling", 0.30), ("after_that", 0.05)):
        ok = "PASS" if shares[step] <= target else "MISS"
        print(
            f"  {step}: {requests[step]} requests = {shares[step]:.1%} of "
            f"{requests['first']} (target <= {target:.0%}: {ok})"
        )
    print(
        f"  report --db over {report['participant_summaries']} participant summaries: "
        f"{report['median_seconds']:.2f}s (median of 3 CLI runs)"
    )


if __name__ == "__main__":
    main()
