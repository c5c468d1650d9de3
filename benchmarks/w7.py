"""W7: throughput under Twilio's per-account concurrency limit.

    python benchmarks/w7.py                    # caps 8/16/32 and the shared account, 3 rounds
    python benchmarks/w7.py --rounds 20        # "run W7 twenty times": lost reports summed
    python benchmarks/w7.py --retry-after 1    # the server's 429s carry Retry-After: 1
    python benchmarks/w7.py --caps "" --shared-budget   # the three clients share a budget

The fake answers 429 (error 20429) above ``cap`` requests in flight, with 20 ms latency,
and serves 600 conferences of 5 participant summaries (``conference_reports`` with
``page_size=100``: 606 requests without retries). For every cap, each round runs the SDK
at ``max_concurrency=64`` (adaptive) and the SDK tuned by hand to the cap, alternating.
The shared-account run starts three client processes at ``max_concurrency=64`` against one
cap of 24, and one tuned client (``max_concurrency=24``) doing the same total work (three
passes at once). Prints medians and target verdicts; writes ``results/w7.json`` and
``results/w7.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _capped import CapRun, capped_run
from _server import ServerInfo, ServerProcess

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.servers import RedisServer

RESULTS = Path(__file__).resolve().parent / "results"
_CHILD = Path(__file__).resolve().with_name("_capped.py")
CONFERENCES = 600
PARTICIPANTS_PER_CONFERENCE = 5
LATENCY = 0.020
UNTUNED = 64
SHARED_CAP = 24
SHARED_CLIENTS = 3
#: Targets of the issue.
WALL_RATIO = 1.15
SHARED_WALL_RATIO = 1.2
FAIRNESS = 1.3
THROTTLED_SHARE = 0.05


def _median(runs: Sequence[CapRun], field: str) -> float:
    return statistics.median(float(getattr(run, field)) for run in runs)


def _share(runs: Sequence[CapRun]) -> float:
    return statistics.median(run.throttled_share for run in runs)


async def _caps(info: ServerInfo, server: ServerProcess, options: argparse.Namespace) -> Any:
    env = info.to_env()
    rows = []
    for cap in options.caps:
        server.set_cap(cap, options.retry_after)
        tuned: list[CapRun] = []
        adaptive: list[CapRun] = []
        await capped_run(env, max_concurrency=cap)  # warm-up, unrecorded
        for _ in range(options.rounds):
            tuned.append(await capped_run(env, max_concurrency=cap))
            adaptive.append(await capped_run(env, max_concurrency=UNTUNED))
        ratio = _median(adaptive, "wall_s") / _median(tuned, "wall_s")
        rows.append(
            {
                "cap": cap,
                "tuned": [attrs.asdict(run) for run in tuned],
                "adaptive": [attrs.asdict(run) for run in adaptive],
                "tuned_wall_s": _median(tuned, "wall_s"),
                "adaptive_wall_s": _median(adaptive, "wall_s"),
                "wall_ratio": ratio,
                "tuned_requests": _median(tuned, "requests"),
                "adaptive_requests": _median(adaptive, "requests"),
                "adaptive_throttled_share": _share(adaptive),
                "adaptive_throttled_share_max": max(run.throttled_share for run in adaptive),
                "lost": sum(run.lost for run in [*tuned, *adaptive]),
                "reports": sum(run.reports for run in [*tuned, *adaptive]),
            }
        )
        print(
            f"cap {cap:>2}: tuned {rows[-1]['tuned_wall_s']:.2f}s, "
            f"max_concurrency={UNTUNED} {rows[-1]['adaptive_wall_s']:.2f}s ({ratio:.2f}x), "
            f"429s {rows[-1]['adaptive_throttled_share']:.1%}, lost {rows[-1]['lost']}",
            file=sys.stderr,
            flush=True,
        )
    return rows


def _children(
    env: dict[str, str],
    max_concurrency: int,
    passes: int,
    count: int,
    shared_budget: str | None = None,
) -> list[Any]:
    """Start ``count`` client processes, release them at once, return results and the wall."""
    command = [sys.executable, str(_CHILD), "--max-concurrency", str(max_concurrency)]
    command += ["--passes", str(passes)]
    if shared_budget is not None:
        command += ["--shared-budget", shared_budget]
    children = [
        subprocess.Popen(
            command,
            env={**os.environ, **env},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    try:
        for child in children:
            assert child.stdout is not None
            if child.stdout.readline().strip() != "ready":
                raise RuntimeError("a W7 client process did not start")
        started = time.perf_counter()
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        results = []
        for child in children:
            out, _ = child.communicate(timeout=600)
            results.append(CapRun(**json.loads(out.strip().splitlines()[-1])))
        return [time.perf_counter() - started, results]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()


def _shared(info: ServerInfo, server: ServerProcess, options: argparse.Namespace) -> Any:
    server.set_cap(SHARED_CAP, options.retry_after)
    env = info.to_env()
    rounds = []
    redis = None
    if options.shared_budget:
        redis = RedisServer(appendfsync="everysec")
        redis.start()
    try:
        for _ in range(options.rounds):
            rounds.append(_shared_round(env, options, None if redis is None else redis.url))
    finally:
        if redis is not None:
            redis.close()
    return {
        "rounds": rounds,
        "wall_ratio": statistics.median(r["wall_ratio"] for r in rounds),
        "fairness": statistics.median(r["fairness"] for r in rounds),
        "throttled_share": statistics.median(r["throttled_share"] for r in rounds),
        "lost": sum(r["lost"] for r in rounds),
    }


def _shared_round(env: dict[str, str], options: argparse.Namespace, redis: str | None) -> Any:
    """One tuned client doing the three passes, then the three clients at once."""
    tuned_wall, tuned = _children(env, SHARED_CAP, SHARED_CLIENTS, 1)
    wall, clients = _children(
        env, options.shared_max_concurrency, 1, SHARED_CLIENTS, shared_budget=redis
    )
    walls = [run.wall_s for run in clients]
    requests = sum(run.requests for run in clients)
    result = {
        "tuned_wall_s": tuned[0].wall_s,
        "aggregate_wall_s": max(walls),
        "wall_ratio": max(walls) / tuned[0].wall_s,
        "fairness": max(walls) / min(walls),
        "throttled_share": sum(run.throttled for run in clients) / requests,
        "lost": sum(run.lost for run in [*clients, *tuned]),
        "clients": [attrs.asdict(run) for run in clients],
        "process_wall_s": [tuned_wall, wall],
    }
    print(
        f"shared cap {SHARED_CAP}: tuned {tuned[0].wall_s:.2f}s, three clients "
        f"{max(walls):.2f}s ({result['wall_ratio']:.2f}x), slowest/fastest "
        f"{result['fairness']:.2f}, 429s {result['throttled_share']:.1%}",
        file=sys.stderr,
        flush=True,
    )
    return result


def _verdicts(caps: list[Any], shared: Any | None) -> list[tuple[str, str, bool]]:
    lines = []
    for row in caps:
        lines.append(
            (
                f"cap {row['cap']}: wall <= {WALL_RATIO}x tuned",
                f"{row['wall_ratio']:.2f}x ({row['adaptive_wall_s']:.2f}s vs "
                f"{row['tuned_wall_s']:.2f}s)",
                row["wall_ratio"] <= WALL_RATIO,
            )
        )
        lines.append(
            (
                f"cap {row['cap']}: <= {THROTTLED_SHARE:.0%} of requests answered 429",
                f"{row['adaptive_throttled_share']:.1%} "
                f"(max {row['adaptive_throttled_share_max']:.1%}, "
                f"{row['adaptive_requests']:.0f} requests vs {row['tuned_requests']:.0f} tuned)",
                row["adaptive_throttled_share"] <= THROTTLED_SHARE,
            )
        )
    lost = sum(row["lost"] for row in caps) + (shared["lost"] if shared else 0)
    reports = sum(row["reports"] for row in caps)
    lines.append(("no report lost", f"{lost} lost of {reports:,} reports", lost == 0))
    if shared is not None:
        lines.append(
            (
                f"shared cap {SHARED_CAP}: aggregate wall <= {SHARED_WALL_RATIO}x one tuned client",
                f"{shared['wall_ratio']:.2f}x",
                shared["wall_ratio"] <= SHARED_WALL_RATIO,
            )
        )
        lines.append(
            (
                f"shared cap {SHARED_CAP}: slowest client <= {FAIRNESS}x the fastest",
                f"{shared['fairness']:.2f}x",
                shared["fairness"] <= FAIRNESS,
            )
        )
        lines.append(
            (
                f"shared cap {SHARED_CAP}: <= {THROTTLED_SHARE:.0%} 429s",
                f"{shared['throttled_share']:.1%}",
                shared["throttled_share"] <= THROTTLED_SHARE,
            )
        )
    return lines


def _markdown(caps: list[Any], verdicts: list[tuple[str, str, bool]], header: str) -> str:
    out = [
        header,
        "",
        "| cap | tuned wall | max_concurrency=64 wall | ratio | requests "
        "(tuned / 64) | 429s at 64 |",
        "|---|---|---|---|---|---|",
    ]
    for row in caps:
        out.append(
            f"| {row['cap']} | {row['tuned_wall_s']:.2f} s | {row['adaptive_wall_s']:.2f} s | "
            f"{row['wall_ratio']:.2f}x | {row['tuned_requests']:.0f} / "
            f"{row['adaptive_requests']:.0f} | {row['adaptive_throttled_share']:.1%} |"
        )
    out += ["", "| target | observed | verdict |", "|---|---|---|"]
    out += [f"| {name} | {seen} | {'PASS' if ok else 'MISS'} |" for name, seen, ok in verdicts]
    return "\n".join(out) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    """Run W7, print the verdicts, write the results."""
    parser = argparse.ArgumentParser(prog="python benchmarks/w7.py", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3, help="recorded rounds (default 3)")
    parser.add_argument(
        "--caps",
        type=lambda text: [int(part) for part in text.split(",") if part.strip()],
        default=[8, 16, 32],
        help="comma-separated caps (default 8,16,32; empty: only the shared-account run)",
    )
    parser.add_argument("--retry-after", help="Retry-After header of the 429s (default: none)")
    parser.add_argument("--no-shared", action="store_true", help="skip the shared-account run")
    parser.add_argument(
        "--shared-max-concurrency",
        type=int,
        default=UNTUNED,
        metavar="N",
        help=f"max_concurrency of the shared run's three clients (default {UNTUNED}; "
        f"{SHARED_CAP // SHARED_CLIENTS}: each pinned to its fair share, the reference)",
    )
    parser.add_argument(
        "--shared-budget",
        action="store_true",
        help="the shared run's three clients share one SharedBudget (a Redis started here)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--output", type=Path, default=RESULTS)
    options = parser.parse_args(argv)
    started = time.perf_counter()
    with ServerProcess(
        conferences=CONFERENCES,
        participants_per_conference=PARTICIPANTS_PER_CONFERENCE,
        seed=options.seed,
        latency=LATENCY,
    ) as server:
        assert server.info is not None
        caps = asyncio.run(_caps(server.info, server, options))
        shared = None if options.no_shared else _shared(server.info, server, options)
    verdicts = _verdicts(caps, shared)
    for name, seen, ok in verdicts:
        print(f"{'PASS' if ok else 'MISS'}  {name}: {seen}")
    header = (
        f"W7, {options.rounds} rounds, Retry-After: {options.retry_after or 'none'}, "
        f"load average at start {os.getloadavg()[0]:.1f}, {time.perf_counter() - started:.0f}s"
    )
    suffix = "" if options.retry_after is None else "-retry-after"
    if options.shared_max_concurrency != UNTUNED:
        suffix += f"-shared-{options.shared_max_concurrency}"
    if options.shared_budget:
        suffix += "-shared-budget"
    options.output.mkdir(parents=True, exist_ok=True)
    (options.output / f"w7{suffix}.json").write_text(
        json.dumps({"caps": caps, "shared": shared, "verdicts": verdicts}, indent=2),
        encoding="utf-8",
    )
    (options.output / f"w7{suffix}.md").write_text(
        _markdown(caps, verdicts, header), encoding="utf-8"
    )
    print(header)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
