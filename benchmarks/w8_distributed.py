"""W8: a backfill of many subaccounts into PostgreSQL, one process vs several workers.

    python benchmarks/w8_distributed.py [--subaccounts 200 --per-subaccount 50 --workers 3]
    python benchmarks/w8_distributed.py --subaccounts 60 --cap 16   # one account's limit

The fake (20 ms per response) runs in a process of its own; Redis and PostgreSQL are
Debian's servers started on loopback in temp dirs (as the tests do). Both runs sync the
same range into an empty database; the two stores are compared record by record. Results
go to ``benchmarks/results/w8.json``.

With ``--cap N`` the fake answers 429 above N requests in flight on the account (Twilio's
concurrency limit) for both runs: the one process is tuned by hand to the limit
(``max_concurrency=N``, adaptive limiter off), the workers keep the defaults and must find
the limit themselves. The targets (at most 5% of requests answered 429, the workers' wall
at most 1.2x the tuned process's) get a PASS or MISS each; results go to
``benchmarks/results/w8-capped.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
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

from _server import ServerProcess  # noqa: E402

from tests.servers import PostgresServer, RedisServer  # noqa: E402
from tests.store_fixtures import fresh_database, stored_records  # noqa: E402
from twilio_conf_insights import InsightsClient, ThrottlePolicy  # noqa: E402
from twilio_conf_insights.distributed import SigningKey, sync_with_workers  # noqa: E402
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
THROTTLED_SHARE = 0.05
WALL_RATIO = 1.2


async def _worker(env: dict[str, str], broker: str, db: str) -> Any:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "twilio_conf_insights", "worker", "--broker", broker, "--db", db,
        env=env, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stderr is not None
    while not (await process.stderr.readline()).startswith(b"worker ready"):
        if process.returncode is not None:
            raise RuntimeError("worker did not start")
    return process


async def _run(options: argparse.Namespace) -> dict[str, Any]:
    postgres, redis = PostgresServer(), RedisServer()
    postgres.start()
    redis.start()
    fake = ServerProcess(
        conferences=int(options.subaccounts * options.per_subaccount / SUBACCOUNT_SHARE),
        participants_per_conference=5,
        seed=SEED,
        latency=options.latency_ms / 1000,
        subaccounts=options.subaccounts,
        now=NOW.isoformat(),
        prebuild=False,
    )
    info = fake.start()
    if options.cap:
        fake.set_cap(options.cap, options.retry_after)
    base, account, token = info.origin, info.account_sid, info.auth_token
    subaccounts = [f"AC{i:032x}" for i in range(1, options.subaccounts + 1)]
    results: dict[str, Any] = {}
    try:
        common = {
            "window": WINDOW,
            "subaccounts": subaccounts,
            "now": NOW,
        }
        created_after = NOW - timedelta(days=4)

        # One process: the client's defaults (adaptive limit, up to 32 in flight), or under
        # a cap the client tuned by hand to it, as someone who knew the limit would run it.
        tuned: dict[str, Any] = {}
        if options.cap:
            tuned = {"max_concurrency": options.cap, "throttle": ThrottlePolicy(enabled=False)}
        single_db = await fresh_database(postgres)
        fake.reset_stats()
        async with InsightsClient(
            account, token, insights_base_url=base, api_base_url=base, **tuned
        ) as client:
            store = await open_store(single_db)
            started = time.perf_counter()
            single = await client.sync(store, created_after=created_after, **common)  # type: ignore[arg-type]
            single_wall = time.perf_counter() - started
            await store.aclose()
        results["one_process"] = {
            "wall_s": round(single_wall, 2),
            "requests": fake.request_count(),
            "throttled": fake.throttled_count(),
            "summary": single.line(),
        }
        print("one process:", results["one_process"], flush=True)

        # N worker processes on the same machine, the same range.
        workers_db = await fresh_database(postgres)
        env = {k: v for k, v in os.environ.items() if not k.startswith("TWILIO_")}
        env |= {
            "TWILIO_ACCOUNT_SID": account,
            "TWILIO_AUTH_TOKEN": token,
            "TWILIO_INSIGHTS_BASE_URL": base,
            "TWILIO_API_BASE_URL": base,
        }
        workers = [await _worker(env, redis.url, workers_db) for _ in range(options.workers)]
        try:
            fake.reset_stats()
            store = await open_store(workers_db)
            started = time.perf_counter()
            many = await sync_with_workers(
                store,
                redis.url,
                signing_key=SigningKey.from_secret(token, account_sid=account),
                filters={"created_after": created_after},
                **common,  # type: ignore[arg-type]
            )
            many_wall = time.perf_counter() - started
            await store.aclose()
        finally:
            for process in workers:
                process.terminate()
                await process.wait()
        results[f"{options.workers}_workers"] = {
            "wall_s": round(many_wall, 2),
            "requests": fake.request_count(),
            "throttled": fake.throttled_count(),
            "summary": many.line(),
        }
        print(f"{options.workers} workers:", results[f"{options.workers}_workers"], flush=True)
        same = await stored_records(single_db) == await stored_records(workers_db)
        results["stores_equal"] = same
        results["conferences"] = single.conferences
        results["ratio_workers_to_one"] = round(many_wall / single_wall, 3)
        if options.cap:
            workers_result = results[f"{options.workers}_workers"]
            results["targets"] = _verdicts(workers_result, many_wall / single_wall)
    finally:
        fake.stop()
        postgres.close()
        redis.close()
    return results


def _verdicts(workers: dict[str, Any], ratio: float) -> list[dict[str, Any]]:
    share = workers["throttled"] / workers["requests"]
    return [
        {
            "target": f"<= {THROTTLED_SHARE:.0%} of the workers' requests answered 429",
            "observed": f"{share:.1%} ({workers['throttled']} of {workers['requests']})",
            "verdict": "PASS" if share <= THROTTLED_SHARE else "MISS",
        },
        {
            "target": f"workers' wall <= {WALL_RATIO}x one tuned process",
            "observed": f"{ratio:.2f}x",
            "verdict": "PASS" if ratio <= WALL_RATIO else "MISS",
        },
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subaccounts", type=int, default=200)
    parser.add_argument("--per-subaccount", type=int, default=50)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--latency-ms", type=float, default=20.0)
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
    settings = {k: v for k, v in vars(options).items() if k != "output"}
    results["settings"] = settings | {"window": "1d", "cpus": os.cpu_count()}
    options.output.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))
    return 0 if results["stores_equal"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
