"""W8: a backfill of many subaccounts into PostgreSQL, one process vs several workers.

    python benchmarks/w8_distributed.py [--subaccounts 200 --per-subaccount 50 --workers 3]
    python benchmarks/w8_distributed.py --subaccounts 60 --cap 16   # one account's limit

The fake (20 ms per response) runs in a process of its own; Redis and PostgreSQL are
Debian's servers started on loopback in temp dirs (as the tests do). Both runs sync the
same range into an empty database; the two stores are compared record by record. Results
go to ``benchmarks/results/w8.json``.

With ``--cap N`` the fake answers 429 above N requests in flight on the account (Twilio's
concurrency limit) for both runs: the one process is tuned by hand to the limit
(``max_concurrency=N``, adaptive limiter off), the workers keep the defaults (with them,
the shared budget: ``--worker-flag=--no-shared-budget`` for one limiter each) and must find
the limit themselves. The targets (at most 2% of requests answered 429, the workers' wall
at most 1.1x the tuned process's) get a PASS or MISS each; results go to
``benchmarks/results/w8-capped.json``.

``--workers 3,6`` runs one process and then 3 workers, then one process and 6 workers.
``--kill-one-after S`` SIGKILLs one worker S seconds into each workers' run and watches the
shared budget in Redis: when the killed worker's leases are given back (they expire, as
nothing renews them) and when the others hold as many as the fleet did before. Redis syncs
its append-only file every second (its own default) rather than on every write as in the
tests.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# Runs as a script: the sibling modules and the tests' server fixtures are top-level imports.
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _server import ServerProcess, process_cpu_seconds  # noqa: E402
from redis.asyncio import Redis  # noqa: E402

from tests.servers import PostgresServer, RedisServer  # noqa: E402
from tests.store_fixtures import fresh_database, stored_records  # noqa: E402
from twilio_conf_insights import ThrottlePolicy  # noqa: E402
from twilio_conf_insights.distributed import SigningKey, sync_with_workers  # noqa: E402
from twilio_conf_insights.distributed._budget_redis import BudgetKeys  # noqa: E402
from twilio_conf_insights.sync import open_store  # noqa: E402

SEED = 8
# Workers refuse units whose "now" is far from their clock, or whose windows Twilio no
# longer keeps: the data leads up to the current hour.
NOW = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
#: The fake gives its subaccounts about this share of the conferences between them.
SUBACCOUNT_SHARE = 0.2
WINDOW = timedelta(days=1)
#: Issue targets under a concurrency cap: the share of requests answered 429, and the
#: workers' wall against one process tuned to the cap.
THROTTLED_SHARE = 0.02
WALL_RATIO = 1.10


class _Worker:
    """A ``worker`` subprocess; its stderr is drained so that it never blocks on a full pipe."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.log: list[str] = []
        self._drain: asyncio.Task[None] | None = None
        #: Its CPU once ready: start-up (imports, connections), not counted as the run's.
        self.cpu_at_ready = 0.0

    @classmethod
    async def start(
        cls, env: dict[str, str], broker: str, db: str, flags: list[str], profile: Path | None
    ) -> _Worker:
        python = [sys.executable]
        if profile is not None:  # cProfile writes it when the worker exits on SIGTERM
            python += ["-m", "cProfile", "-o", str(profile)]
        process = await asyncio.create_subprocess_exec(
            *python, "-m", "twilio_conf_insights", "worker", "--broker", broker,
            "--db", db, *flags, env=env, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        worker = cls(process)
        assert process.stderr is not None
        while not (line := await process.stderr.readline()).startswith(b"worker ready"):
            if not line:  # end of its stderr: the worker exited before it was ready
                code = await process.wait()
                raise RuntimeError(f"worker exited ({code}) before ready: {''.join(worker.log)}")
            worker.log.append(line.decode(errors="replace"))
        worker._drain = asyncio.create_task(worker._read())
        worker.cpu_at_ready = worker.cpu_seconds()
        return worker

    async def _read(self) -> None:
        assert self.process.stderr is not None
        while line := await self.process.stderr.readline():
            self.log.append(line.decode(errors="replace"))

    def cpu_seconds(self) -> float:
        """User plus system CPU time of the worker so far (start-up included).

        A worker already gone (``--kill-one-after``) reads as its CPU at ready: what it
        spent before it was killed is not known any more.
        """
        import psutil

        if self.process.returncode is not None:
            return self.cpu_at_ready
        try:
            return process_cpu_seconds(self.process.pid)
        except psutil.NoSuchProcess:
            return self.cpu_at_ready

    async def stop(self) -> None:
        if self.process.returncode is None:
            self.process.terminate()
        await self.process.wait()
        if self._drain is not None:
            await self._drain


class _CpuMeter:
    """CPU spent during a run: the fake's, the workers', and the whole machine's busy share.

    On 2 cores shared with the fake, PostgreSQL and Redis, a fleet's wall can be set by CPU
    rather than by the account's cap: these figures tell the two apart.
    """

    def __init__(self, fake: ServerProcess) -> None:
        import psutil

        self._psutil = psutil
        self._fake = fake
        self._fake_before = fake.cpu_seconds()
        self._own_before = time.process_time()
        self._machine_before = psutil.cpu_times()
        self._started = time.perf_counter()

    def read(self, workers: Sequence[_Worker] = ()) -> dict[str, float]:
        """The figures so far; call it before the workers exit (their CPU is read live).

        ``workers_s`` counts their CPU since each was ready, idle time before the run
        included (a killed worker's not at all); ``workers_start_up_s`` what they spent
        getting ready.
        """
        machine = self._psutil.cpu_times()
        wall = time.perf_counter() - self._started
        busy = sum(machine) - machine.idle - machine.iowait
        busy_before = sum(self._machine_before) - self._machine_before.idle
        busy_before -= self._machine_before.iowait
        figures = {
            "fake_s": round(self._fake.cpu_seconds() - self._fake_before, 2),
            "this_process_s": round(time.process_time() - self._own_before, 2),
            "machine_busy_share": round((busy - busy_before) / (wall * (os.cpu_count() or 1)), 3),
        }
        if workers:
            spent = sum(w.cpu_seconds() - w.cpu_at_ready for w in workers)
            figures["workers_s"] = round(spent, 2)
            figures["workers_start_up_s"] = round(sum(w.cpu_at_ready for w in workers), 2)
        return figures


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


async def _watch_kill(
    redis_url: str, account: str, worker: _Worker, after: float
) -> dict[str, Any]:
    """SIGKILL ``worker`` ``after`` seconds in; time until its leases are back and in use."""
    keys = BudgetKeys.for_account(account).all
    await asyncio.sleep(after)
    pid = worker.process.pid
    async with Redis.from_url(redis_url) as redis:

        async def held() -> dict[str, int]:
            raw = await redis.hgetall(keys[1])
            return {_text(k): int(v) for k, v in raw.items()}

        before = await held()
        mine = {m: n for m, n in before.items() if m.startswith(f"{pid}-")}
        in_flight_before = await redis.zcard(keys[0])
        worker.process.kill()
        killed = time.perf_counter()
        back = used = None
        samples = []
        while time.perf_counter() - killed < 15:
            now = await held()
            in_flight = await redis.zcard(keys[0])
            others = sum(n for m, n in now.items() if not m.startswith(f"{pid}-"))
            samples.append((round(time.perf_counter() - killed, 3), others, in_flight))
            if back is None and not any(m.startswith(f"{pid}-") for m in now):
                back = time.perf_counter() - killed
            if back is not None and used is None and others >= in_flight_before:
                used = time.perf_counter() - killed
                break
            await asyncio.sleep(0.02)
    return {
        "killed_after_s": after,
        "killed_leases": sum(mine.values()),
        "fleet_in_flight_before": in_flight_before,
        "leases_back_after_s": None if back is None else round(back, 3),
        "others_hold_as_many_after_s": None if used is None else round(used, 3),
        "samples (s, others' leases, in flight)": samples[:: max(1, len(samples) // 40)],
    }


async def _one_process(
    fake: ServerProcess, postgres: PostgresServer, options: argparse.Namespace, common: Any
) -> tuple[dict[str, Any], str]:
    """``client.sync`` in this process: defaults, or under a cap tuned by hand to it."""
    info = fake.info
    assert info is not None
    tuned: dict[str, Any] = {}
    if options.cap:
        tuned = {"max_concurrency": options.cap, "throttle": ThrottlePolicy(enabled=False)}
    db = await fresh_database(postgres)
    fake.reset_stats()
    async with info.client(**tuned) as client:
        store = await open_store(db)
        cpu = _CpuMeter(fake)
        started = time.perf_counter()
        summary = await client.sync(store, created_after=NOW - timedelta(days=4), **common)
        wall = time.perf_counter() - started
        spent = cpu.read()
        await store.aclose()
    result = {
        "wall_s": round(wall, 2),
        "cpu": spent,
        "requests": fake.request_count(),
        "throttled": fake.throttled_count(),
        "summary": summary.line(),
    }
    return result, db


async def _workers(
    fake: ServerProcess,
    postgres: PostgresServer,
    redis: RedisServer,
    options: argparse.Namespace,
    common: Any,
    count: int,
) -> tuple[dict[str, Any], str]:
    """``count`` worker processes fed by ``sync_with_workers``, the same range."""
    info = fake.info
    assert info is not None
    db = await fresh_database(postgres)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")}
    env |= {
        "TWILIO_ACCOUNT_SID": info.account_sid,
        "TWILIO_AUTH_TOKEN": info.auth_token,
        "TWILIO_INSIGHTS_BASE_URL": info.origin,
        "TWILIO_API_BASE_URL": info.origin,
    }
    flags = list(options.worker_flag)
    if options.kill_one_after is not None:
        flags += ["--redeliver-after", "10s"]  # the killed worker's unit comes back soon
    async with Redis.from_url(redis.url) as client:
        # Every fleet starts from nothing learned: no earlier run's limit in the budget.
        await client.delete(*BudgetKeys.for_account(info.account_sid).all)
    profiles = options.profile_workers
    workers = [
        await _Worker.start(
            env, redis.url, db, flags, profiles / f"worker-{count}-{n}.prof" if profiles else None
        )
        for n in range(count)
    ]
    kill = None
    try:
        fake.reset_stats()
        store = await open_store(db)
        if options.kill_one_after is not None:
            kill = asyncio.create_task(
                _watch_kill(redis.url, info.account_sid, workers[0], options.kill_one_after)
            )
        cpu = _CpuMeter(fake)
        scripts_before = await _script_calls(redis.url)
        started = time.perf_counter()
        summary = await sync_with_workers(
            store,
            redis.url,
            signing_key=SigningKey.from_secret(info.auth_token, account_sid=info.account_sid),
            filters={"created_after": NOW - timedelta(days=4)},
            **common,
        )
        wall = time.perf_counter() - started
        spent = cpu.read(workers)
        scripts = await _script_calls(redis.url) - scripts_before
        await store.aclose()
    finally:
        for worker in workers:
            await worker.stop()
    result: dict[str, Any] = {
        "wall_s": round(wall, 2),
        "cpu": spent,
        "requests": fake.request_count(),
        "throttled": fake.throttled_count(),
        "summary": summary.line(),
        "budget_script_calls_per_request": round(scripts / max(1, fake.request_count()), 2),
        "budget_fallbacks_logged": sum(
            "shared budget" in line and "unavailable" in line for w in workers for line in w.log
        ),
    }
    if kill is not None:
        result["killed_worker"] = await kill
    return result, db


async def _script_calls(redis_url: str) -> int:
    """The scripts Redis has run so far (the shared budget's calls: nothing else runs any)."""
    async with Redis.from_url(redis_url) as client:
        stats = await client.info("commandstats")
    calls = (stats.get(f"cmdstat_{name}", {}).get("calls", 0) for name in ("evalsha", "eval"))
    return sum(int(count) for count in calls)


async def _run(options: argparse.Namespace) -> dict[str, Any]:
    postgres = PostgresServer()
    # Redis's default sync of its append-only file (every second), as most servers run:
    # the tests' "always" makes every write of the budget wait for the disk.
    redis = RedisServer(appendfsync="everysec")
    postgres.start()
    redis.start()
    fake = ServerProcess(
        conferences=int(options.subaccounts * options.per_subaccount / SUBACCOUNT_SHARE),
        participants_per_conference=5,
        seed=SEED,
        latency=options.latency_ms / 1000,
        subaccounts=options.subaccounts,
        now=NOW.isoformat(),
        # Every participant built before the first run: built on first access, they were
        # paid for by whichever run came first (the one process), flattering the workers.
        prebuild=True,
    )
    fake.start()
    if options.cap:
        fake.set_cap(options.cap, options.retry_after)
    common = {
        "window": WINDOW,
        "subaccounts": [f"AC{i:032x}" for i in range(1, options.subaccounts + 1)],
        "now": NOW,
    }
    results: dict[str, Any] = {"runs": []}
    try:
        for _ in range(options.rounds):
            for count in options.workers:
                # One process first, then the workers, for every fleet size: the ratio
                # compares runs made one after the other, under the same load of the machine.
                single, single_db = await _one_process(fake, postgres, options, common)
                print("one process:", single, flush=True)
                many, many_db = await _workers(fake, postgres, redis, options, common, count)
                print(f"{count} workers:", many, flush=True)
                same = await stored_records(single_db) == await stored_records(many_db)
                results["runs"].append(
                    {
                        "workers": count,
                        "one_process": single,
                        "many": many,
                        "stores_equal": same,
                        "ratio_workers_to_one": round(many["wall_s"] / single["wall_s"], 3),
                    }
                )
    finally:
        fake.stop()
        postgres.close()
        redis.close()
    results["stores_equal"] = all(run["stores_equal"] for run in results["runs"])
    if options.cap:
        results["targets"] = [
            verdict
            for count in options.workers
            for verdict in _verdicts([r for r in results["runs"] if r["workers"] == count], count)
        ]
    return results


def _verdicts(runs: list[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    """The targets, on the medians over rounds of the 429 share and the wall ratio."""
    shares = [r["many"]["throttled"] / r["many"]["requests"] for r in runs]
    ratios = [r["ratio_workers_to_one"] for r in runs]
    share, ratio = statistics.median(shares), statistics.median(ratios)
    listed = ", ".join(f"{x:.2f}x" for x in ratios)
    return [
        {
            "target": f"{count} workers: <= {THROTTLED_SHARE:.0%} of requests answered 429",
            "observed": f"{share:.1%} (median of {', '.join(f'{x:.1%}' for x in shares)})",
            "verdict": "PASS" if share <= THROTTLED_SHARE else "MISS",
        },
        {
            "target": f"{count} workers: wall <= {WALL_RATIO}x one tuned process",
            "observed": f"{ratio:.2f}x (median of {listed})",
            "verdict": "PASS" if ratio <= WALL_RATIO else "MISS",
        },
        {
            "target": f"{count} workers: stores exact",
            "observed": f"{sum(r['stores_equal'] for r in runs)} of {len(runs)} equal",
            "verdict": "PASS" if all(r["stores_equal"] for r in runs) else "MISS",
        },
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subaccounts", type=int, default=200)
    parser.add_argument("--per-subaccount", type=int, default=50)
    parser.add_argument(
        "--workers",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[3],
        help="worker counts, comma-separated: one run (one process, then the workers) each",
    )
    parser.add_argument(
        "--worker-flag",
        action="append",
        default=[],
        metavar="FLAG",
        help="passed to every worker (repeatable), e.g. --worker-flag=--no-shared-budget",
    )
    parser.add_argument(
        "--kill-one-after",
        type=float,
        metavar="SECONDS",
        help="SIGKILL one worker this long into each workers' run; report when its leases "
        "came back and when the others held as many",
    )
    parser.add_argument(
        "--profile-workers",
        type=Path,
        metavar="DIR",
        help="run each worker under cProfile, writing DIR/worker-COUNT-N.prof",
    )
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--rounds", type=int, default=1, help="repeat the whole sequence")
    parser.add_argument(
        "--cap", type=int, help="answer 429 above this many requests in flight (default: none)"
    )
    parser.add_argument("--retry-after", help="Retry-After of the cap's 429s (default: none)")
    parser.add_argument("--output", type=Path, help="default: results/w8.json, or w8-capped.json")
    options = parser.parse_args(argv)
    if options.cap is not None and options.cap < 1:
        parser.error(f"--cap must be at least 1, got {options.cap}")
    if options.retry_after is not None and options.cap is None:
        parser.error("--retry-after needs --cap (only the cap's 429s carry it)")
    if options.output is None:
        name = "w8-capped.json" if options.cap else "w8.json"
        options.output = ROOT / "benchmarks" / "results" / name
    results = asyncio.run(_run(options))
    settings = {
        k: str(v) if isinstance(v, Path) else v  # --profile-workers
        for k, v in vars(options).items()
        if k != "output"
    }
    results["settings"] = settings | {"window": "1d", "cpus": os.cpu_count()}
    results["load_average_after"] = os.getloadavg()[0]
    options.output.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    for target in results.get("targets", []):
        print(f"{target['verdict']}  {target['target']}: {target['observed']}")
    return 0 if results["stores_equal"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
