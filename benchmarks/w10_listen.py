"""W10 real time: how fresh the store is with ``listen``, how much it takes, and polling beside it.

    python benchmarks/w10_listen.py                 # about 4 minutes on 2 cores
    python benchmarks/w10_listen.py --quick         # about 1.5 minutes
    python benchmarks/w10_listen.py --only freshness --stores sqlite

Two processes on 127.0.0.1 share the machine's cores: the ``twilio-conf-insights listen``
command (a child process, exactly as users run it) and this runner, which holds the fake
Twilio emitting signed Event Streams deliveries to it and a reader thread watching the store.

- **Freshness**: the fake settles conferences at a steady pace (3 participants each, so 4
  events: the conference summary's ``.complete`` and one per participant) to reach 200
  events/s. For each conference, from the moment the fake emits its ``.complete`` event
  (queued for delivery) to the moment its row is readable in the store by another
  connection (polled every 2 ms; the poll's own time is included): p50, p99, max. On SQLite
  and on PostgreSQL (a server of the tests' kind: a temporary cluster, ``fsync=off``).
  Target: p99 <= 250 ms on SQLite.
- **Throughput**: the same at rising rates, 10 s each into a fresh store; a rate is
  sustained when the fake emitted at least 95% of it, every event was acknowledged within
  2 s after the last one was emitted, and p99 freshness stayed under 1 s (a listener
  falling behind grows a backlog, and freshness with it). The highest sustained rate is
  reported (target: >= 1,000 events/s), with the listener's CPU seconds per 1,000 events.
- **Polling beside it**: the W6 fake server (2,000 conferences x 5 participants over 3 days,
  20 ms per response, 10% unsettled) in its child process; the duration of a cold sync and
  of a sync with nothing new (median of 3). A sync every N minutes leaves a conference
  stale N/2 + that duration on average, N + that duration at worst.

The machine is shared: the load average (1 minute) is recorded before and after each run.
Writes ``benchmarks/results/w10.json`` and ``w10.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import os
import queue
import re
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import psutil

ROOT = Path(__file__).resolve().parent.parent
# Runs as a script: the sibling modules and the tests' server fixtures are top-level imports.
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _server import ServerProcess  # noqa: E402

from tests.servers import PostgresServer  # noqa: E402
from tests.store_fixtures import fresh_database  # noqa: E402
from twilio_conf_insights.sync import SQLiteStore  # noqa: E402
from twilio_conf_insights.testing import EventDelivery, FakeTwilio  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
TOKEN = "w10-benchmark-auth-token-0123456"
PARTICIPANTS = 3
EVENTS_PER_CONFERENCE = 1 + PARTICIPANTS
FRESHNESS_RATE = 200.0
SUSTAINED_P99 = 1.0
DRAIN_GRACE = 2.0
POLL_EVERY = 0.002
#: How the fake delivers: Twilio's own batching is not documented; these are the fake's
#: defaults but for four deliveries in flight.
DELIVERY = EventDelivery(concurrency=4, initial_backoff=0.05, max_backoff=0.5)
_READY = re.compile(r"^listen: ready on (http://\S+), ")


def load() -> float:
    """The 1-minute load average."""
    return os.getloadavg()[0]


# -- the listener child process -------------------------------------------------------------


@contextlib.contextmanager
def listener(spec: str) -> Iterator[tuple[str, psutil.Process, list[str]]]:
    """``listen --db spec`` on a free port: (its events URL, its process, its last lines)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")}
    env["TWILIO_AUTH_TOKEN"] = TOKEN
    command = [sys.executable, "-m", "twilio_conf_insights", "listen", "--db", spec, "--port", "0"]
    process = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stderr is not None
    found = _READY.match(process.stderr.readline())
    if found is None:
        process.kill()
        raise RuntimeError(f"the listener did not start: {process.communicate()}")
    last: list[str] = []
    try:
        yield found.group(1), psutil.Process(process.pid), last
    finally:
        process.send_signal(signal.SIGINT)
        out, _ = process.communicate(timeout=60)
        last.extend(out.splitlines())


# -- reading the store while it is written --------------------------------------------------


class Watcher(threading.Thread):
    """A reader thread: when each emitted conference's row becomes readable in the store."""

    def __init__(self, spec: str) -> None:
        super().__init__(daemon=True)
        self._spec = spec
        self._emitted: queue.SimpleQueue[tuple[str, float]] = queue.SimpleQueue()
        self._halt = threading.Event()
        self._last_emitted = threading.Event()
        #: Set once every emitted conference was seen, after :meth:`all_emitted`.
        self.caught_up = threading.Event()
        self.freshness: dict[str, float] = {}
        self.pending: dict[str, float] = {}

    def emitted(self, sid: str, at: float) -> None:
        """The fake emitted this conference's ``.complete`` at ``at`` (perf_counter)."""
        self._emitted.put((sid, at))

    def all_emitted(self) -> None:
        """No more conferences will be emitted: :attr:`caught_up` is set once all are seen."""
        self._last_emitted.set()

    def _take(self) -> None:
        while True:
            try:
                sid, at = self._emitted.get_nowait()
            except queue.Empty:
                return
            self.pending[sid] = at

    def _seen(self, sids: list[str]) -> None:
        now = time.perf_counter()
        for sid in sids:
            self.freshness[sid] = now - self.pending.pop(sid)

    def _check(self) -> None:
        if self._last_emitted.is_set() and not self.pending and self._emitted.empty():
            self.caught_up.set()

    def run(self) -> None:
        if self._spec.startswith("postgresql://"):
            asyncio.run(self._watch_postgres())
        else:
            self._watch_sqlite()

    def _watch_sqlite(self) -> None:
        uri = f"{Path(self._spec).absolute().as_uri()}?mode=ro"
        with contextlib.closing(sqlite3.connect(uri, uri=True)) as db:
            while not self._halt.is_set():
                self._take()
                if self.pending:
                    marks = ",".join("?" * len(self.pending))
                    sql = (
                        f"SELECT conference_sid FROM conferences WHERE conference_sid IN ({marks})"
                    )
                    self._seen([row[0] for row in db.execute(sql, list(self.pending))])
                self._check()
                time.sleep(POLL_EVERY)

    async def _watch_postgres(self) -> None:
        conn = await asyncpg.connect(self._spec)
        try:
            while not self._halt.is_set():
                self._take()
                if self.pending:
                    rows = await conn.fetch(
                        "SELECT conference_sid FROM conferences WHERE conference_sid = ANY($1)",
                        list(self.pending),
                    )
                    self._seen([row[0] for row in rows])
                self._check()
                await asyncio.sleep(POLL_EVERY)
        finally:
            await conn.close()

    def stop(self) -> None:
        """Stop watching."""
        self._halt.set()
        self.join()


# -- one paced run --------------------------------------------------------------------------


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


async def paced(spec: str, rate: float, seconds: float, seed: int) -> dict[str, Any]:
    """Emit ``rate`` events/s for ``seconds`` into a listener writing ``spec``; what it took."""
    per_second = rate / EVENTS_PER_CONFERENCE
    conferences = math.ceil(per_second * seconds) + 1
    with listener(spec) as (url, process, last):
        fake = FakeTwilio(
            conferences=conferences,
            participants_per_conference=PARTICIPANTS,
            seed=seed,
            auth_token=TOKEN,
            event_sink=url,
            event_delivery=DELIVERY,
        )
        sids = [c["conference_sid"] for c in fake.data.conferences]
        for sid in sids:
            fake.data.set_processing_state(sid, "in_progress")
            _ = fake.data.participant_summaries[sid]  # built now, not while pacing
        watcher = Watcher(spec)
        load_before = load()
        cpu_before = process.cpu_times()
        runner_before = time.process_time()
        async with fake:
            assert fake.events is not None
            watcher.start()
            start = time.perf_counter()
            settled = 0
            while (elapsed := time.perf_counter() - start) < seconds:
                due = min(conferences, math.floor(per_second * elapsed) + 1)
                while settled < due:
                    sid = sids[settled]
                    watcher.emitted(sid, time.perf_counter())
                    fake.data.processing.settle(sid)  # its events are emitted here
                    settled += 1
                await asyncio.sleep(0.002)
            emitting = time.perf_counter() - start
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(60):
                    await fake.events.drain()
            drained_after = time.perf_counter() - start - emitting
            watcher.all_emitted()
            await asyncio.to_thread(watcher.caught_up.wait, 10.0)
            watcher.stop()
            cpu = process.cpu_times()
            runner_cpu = time.process_time() - runner_before
            events = fake.events.emitted
            failed = sum(not attempt.ok for attempt in fake.events.attempts)
    values = list(watcher.freshness.values())
    cpu_seconds = (cpu.user + cpu.system) - (cpu_before.user + cpu_before.system)
    return {
        "target_events_per_s": rate,
        "emitted_events_per_s": events / emitting,
        "events": events,
        "conferences": settled,
        "seen": len(values),
        "unseen": len(watcher.pending),
        "failed_deliveries": failed,
        "drained_after_s": drained_after,
        "freshness_ms": {
            "p50": statistics.median(values) * 1000 if values else None,
            "p99": _percentile(values, 0.99) * 1000 if values else None,
            "max": max(values) * 1000 if values else None,
        },
        "listener_cpu_s_per_1000_events": cpu_seconds / events * 1000 if events else None,
        "runner_cpu_s_per_1000_events": runner_cpu / events * 1000 if events else None,
        "listener_last_line": last[-1] if last else "",
        "load_before": load_before,
        "load_after": load(),
    }


def sustained(run: dict[str, Any]) -> bool:
    """Whether a run kept up with its rate (see the module documentation)."""
    p99 = run["freshness_ms"]["p99"]
    return (
        run["emitted_events_per_s"] >= 0.95 * run["target_events_per_s"]
        and run["drained_after_s"] <= DRAIN_GRACE
        and run["unseen"] == 0
        and p99 is not None
        and p99 <= SUSTAINED_P99 * 1000
    )


@contextlib.asynccontextmanager
async def store_specs(kind: str, workdir: Path, count: int) -> AsyncIterator[Iterator[str]]:
    """``count`` fresh stores of ``kind``, one per ``next()``."""
    if kind == "sqlite":
        yield iter([str(workdir / f"w10-{n}.db") for n in range(count)])
        return
    server = PostgresServer()
    try:
        server.start()
        yield iter([await fresh_database(server) for _ in range(count)])
    finally:
        server.close()


# -- polling beside it ----------------------------------------------------------------------


async def _sync_seconds(server: ServerProcess, path: Path) -> float:
    info = server.info
    assert info is not None
    now = datetime.fromisoformat(info.now)
    after, before = now - timedelta(days=3, hours=1), now + timedelta(seconds=1)
    async with (
        info.client() as client,
        SQLiteStore(path) as store,
    ):
        start = time.perf_counter()
        summary = await client.sync(store, created_after=after, created_before=before, now=before)
        assert summary.ok, summary.errors
        return time.perf_counter() - start


def polling(workdir: Path, rounds: int) -> dict[str, Any]:
    """Durations of a cold sync and of a sync with nothing new (W6's fake and settings)."""
    cold: list[float] = []
    again: list[float] = []
    load_before = load()
    with ServerProcess(
        conferences=2000, participants_per_conference=5, seed=1, latency=0.020
    ) as server:
        server.set_unsettled(10)
        for index in range(rounds):
            path = workdir / f"poll-{index}.db"
            cold.append(asyncio.run(_sync_seconds(server, path)))
            again.append(asyncio.run(_sync_seconds(server, path)))
    resync = statistics.median(again)
    return {
        "cold_sync_s": statistics.median(cold),
        "resync_s": resync,
        "samples": {"cold": cold, "resync": again},
        "staleness_s": {
            f"every {minutes} min": {"mean": minutes * 30 + resync, "worst": minutes * 60 + resync}
            for minutes in (1, 5, 15, 60)
        },
        "load_before": load_before,
        "load_after": load(),
    }


# -- the run --------------------------------------------------------------------------------


async def measure(kinds: list[str], parts: set[str], workdir: Path, quick: bool) -> dict[str, Any]:
    """Freshness on each store kind, then throughput on SQLite."""
    results: dict[str, Any] = {"freshness": {}, "throughput": {}}
    seconds = 10.0 if quick else 30.0
    steps = (500, 1000, 2000) if quick else (500, 1000, 1500, 2000, 3000, 4000, 5000, 6000, 8000)
    for kind in kinds:
        async with store_specs(kind, workdir, 1 + len(steps)) as specs:
            if "freshness" in parts:
                run = await paced(next(specs), FRESHNESS_RATE, seconds, seed=21)
                results["freshness"][kind] = run
                _show(f"freshness {kind}", run)
            if "throughput" in parts:
                runs = []
                for rate in steps:
                    run = await paced(next(specs), float(rate), 10.0, seed=rate)
                    run["sustained"] = sustained(run)
                    runs.append(run)
                    _show(f"throughput {kind} {rate}/s", run)
                    if not run["sustained"]:
                        break
                best = max((r["target_events_per_s"] for r in runs if r["sustained"]), default=0)
                results["throughput"][kind] = {"steps": runs, "highest_sustained": best}
    return results


def _show(title: str, run: dict[str, Any]) -> None:
    f = run["freshness_ms"]
    print(
        f"{title}: emitted {run['emitted_events_per_s']:.0f} events/s, "
        f"p50 {f['p50']:.1f} ms, p99 {f['p99']:.1f} ms, max {f['max']:.1f} ms, "
        f"drained +{run['drained_after_s']:.2f} s, unseen {run['unseen']}, "
        f"CPU s/1000 events: listener {run['listener_cpu_s_per_1000_events']:.3f}, "
        f"fake and reader {run['runner_cpu_s_per_1000_events']:.3f}, "
        f"load {run['load_before']:.1f}->{run['load_after']:.1f}"
        + (f", sustained {run['sustained']}" if "sustained" in run else ""),
        flush=True,
    )


def markdown(results: dict[str, Any]) -> str:
    """The tables of ``results`` (for the README)."""
    lines: list[str] = []
    if results.get("freshness"):
        lines += [
            "| freshness at 200 events/s | p50 | p99 | max | load average |",
            "|---|---|---|---|---|",
        ]
    for kind, run in results.get("freshness", {}).items():
        f = run["freshness_ms"]
        lines.append(
            f"| {kind} | {f['p50']:.0f} ms | {f['p99']:.0f} ms | {f['max']:.0f} ms | "
            f"{run['load_before']:.1f}-{run['load_after']:.1f} |"
        )
    for kind, found in results.get("throughput", {}).items():
        lines += [
            *([""] if lines else []),
            f"| throughput ({kind}) | emitted | p50 | p99 | CPU / 1,000 events: listener "
            "| fake + reader | sustained | load average |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for run in found["steps"]:
            f = run["freshness_ms"]
            lines.append(
                f"| {run['target_events_per_s']:.0f}/s | {run['emitted_events_per_s']:.0f}/s "
                f"| {f['p50']:.0f} ms | {f['p99']:.0f} ms "
                f"| {run['listener_cpu_s_per_1000_events']:.2f} s "
                f"| {run['runner_cpu_s_per_1000_events']:.2f} s "
                f"| {'yes' if run['sustained'] else 'no'} "
                f"| {run['load_before']:.1f}-{run['load_after']:.1f} |"
            )
    poll = results.get("polling")
    if poll:
        lines += [
            *([""] if lines else []),
            f"| polling: a sync every N minutes (re-sync {poll['resync_s']:.2f} s, "
            f"cold sync {poll['cold_sync_s']:.2f} s) | mean staleness | worst |",
            "|---|---|---|",
        ]
        for label, stale in poll["staleness_s"].items():
            lines.append(f"| {label} | {stale['mean']:.0f} s | {stale['worst']:.0f} s |")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Run W10 and write its results."""
    parser = argparse.ArgumentParser(prog="python benchmarks/w10_listen.py")
    parser.add_argument("--quick", action="store_true", help="shorter runs, fewer rates")
    parser.add_argument("--stores", default="sqlite,postgres", help="sqlite,postgres")
    parser.add_argument(
        "--only", default="freshness,throughput,polling", help="freshness,throughput,polling"
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    options = parser.parse_args()
    parts = set(options.only.split(","))
    kinds = [kind for kind in options.stores.split(",") if kind]
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        results = asyncio.run(measure(kinds, parts, workdir, options.quick))
        if "polling" in parts:
            results["polling"] = polling(workdir, 1 if options.quick else 3)
    results["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    options.output.mkdir(parents=True, exist_ok=True)
    (options.output / "w10.json").write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    (options.output / "w10.md").write_text(table)
    print(table)
    for kind, run in results["freshness"].items():
        if kind == "sqlite":
            p99 = run["freshness_ms"]["p99"]
            print(
                f"target p99 <= 250 ms at 200 events/s (SQLite): {'PASS' if p99 <= 250 else 'MISS'}"
            )
    for kind, found in results["throughput"].items():
        best = found["highest_sustained"]
        verdict = "PASS" if best >= 1000 else "MISS"
        print(f"target >= 1,000 events/s sustained ({kind}): {best:.0f}/s, {verdict}")


if __name__ == "__main__":
    main()
