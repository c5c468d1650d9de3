"""Benchmarks: this SDK against a raw-aiohttp floor and twilio-python, on the same fake server.

    python benchmarks/run.py            # full run, about 3.5 minutes on 2 cores
    python benchmarks/run.py --quick    # fewer repetitions, about 70 seconds
    nox -s bench [-- --quick]

Prints a table of medians with the ratios SDK/floor and SDK/twilio-python and a PASS/MISS
line per target, and writes ``benchmarks/results/latest.json`` and ``latest.md``.
See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs

# Runs as a script (``python benchmarks/run.py``): the sibling modules are top-level imports.
sys.path.insert(0, str(Path(__file__).resolve().parent))

try:
    from _report import build_report, machine_info
    from _server import ServerProcess
    from _workloads import (
        CONTESTANTS,
        Samples,
        Settings,
        fetch_page,
        run_bulk,
        run_decode,
        run_first_item,
        run_memory,
        run_overhead,
    )
except ImportError as missing:  # twilio and psutil come with the bench extra only
    raise SystemExit(
        f"the benchmarks need {missing.name!r}: pip install -e '.[bench]' (or nox -s bench)"
    ) from None

RESULTS = Path(__file__).resolve().parent / "results"
WORKLOADS = ("W1", "W2", "W3", "W4", "W5")
CONTESTANT_NAMES = tuple(name for name, _ in CONTESTANTS)

FULL = Settings()
QUICK = Settings(
    rounds=3,
    overhead_requests=500,
    decode_seconds=0.2,
    memory_totals=(25_000, 100_000),
    memory_rounds=1,
    first_item_samples=5,
)

#: W1/W2/W5 data set: 2,000 conferences of exactly 5 participants each.
CONFERENCES = 2000
PARTICIPANTS_PER_CONFERENCE = 5
#: Server latency of W1 and W5, and of W2.
NETWORK_LATENCY = 0.020
OVERHEAD_LATENCY = 0.0


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python benchmarks/run.py",
        description="Benchmark the SDK against a raw-aiohttp floor and twilio-python.",
    )
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (~70 s)")
    parser.add_argument("--rounds", type=int, help="recorded rounds per workload")
    parser.add_argument(
        "--only",
        type=lambda text: [part.strip().upper() for part in text.split(",")],
        default=list(WORKLOADS),
        help="comma-separated subset of W1,W2,W3,W4,W5 (default: all)",
    )
    parser.add_argument(
        "--contestants",
        type=lambda text: tuple(part.strip() for part in text.split(",")),
        default=CONTESTANT_NAMES,
        help="comma-separated subset of floor,sdk,twilio-python (e.g. to profile one)",
    )
    parser.add_argument("--seed", type=int, default=1, help="fake data seed (default: 1)")
    parser.add_argument(
        "--output", type=Path, default=RESULTS, help="directory for latest.json and latest.md"
    )
    options = parser.parse_args(argv)
    unknown = sorted(set(options.only) - set(WORKLOADS))
    if unknown:
        parser.error(f"unknown workloads: {', '.join(unknown)}")
    strangers = sorted(set(options.contestants) - set(CONTESTANT_NAMES))
    if strangers:
        parser.error(f"unknown contestants: {', '.join(strangers)}")
    return options


@contextmanager
def _step(title: str) -> Iterator[None]:
    print(f"{title} ...", file=sys.stderr, flush=True)
    started = time.perf_counter()
    yield
    print(f"{title}: {time.perf_counter() - started:.1f}s", file=sys.stderr, flush=True)


def _run(options: argparse.Namespace, settings: Settings) -> tuple[Samples, dict[str, Any]]:
    samples: Samples = {}
    notes: dict[str, Any] = {}
    only = set(options.only)
    if only & {"W1", "W2", "W5"}:
        with (
            _step("fake server: 2,000 conferences"),
            ServerProcess(
                conferences=CONFERENCES,
                participants_per_conference=PARTICIPANTS_PER_CONFERENCE,
                seed=options.seed,
                latency=NETWORK_LATENCY,
            ) as server,
        ):
            assert server.info is not None
            notes["bulk_server"] = {
                "conferences": len(server.info.conference_sids),
                "participants": server.info.participants,
            }
            if "W1" in only:
                with _step("W1 bulk"):
                    server.set_latency(NETWORK_LATENCY)
                    samples |= asyncio.run(run_bulk(server.info, settings, server.cpu_seconds))
                    server.reset_stats()
            if "W5" in only:
                with _step("W5 time to first item"):
                    server.set_latency(NETWORK_LATENCY)
                    samples |= asyncio.run(run_first_item(server.info, settings, NETWORK_LATENCY))
                    server.reset_stats()
            if "W2" in only:
                with _step("W2 request overhead"):
                    server.set_latency(OVERHEAD_LATENCY)
                    samples |= asyncio.run(run_overhead(server.info, settings))
                    server.reset_stats()
    page: bytes | None = None
    if only & {"W3", "W4"}:
        largest = max(settings.memory_totals)
        with (
            _step(f"fake server: one conference of {largest:,} participants"),
            ServerProcess(
                conferences=1,
                participants_per_conference=largest,
                seed=options.seed,
                latency=0.0,
            ) as server,
        ):
            assert server.info is not None
            conference = server.info.conference_sids[0]
            if "W3" in only:
                page = asyncio.run(fetch_page(server.info, conference, 1000))
            if "W4" in only:
                with _step("W4 streaming memory"):
                    samples |= run_memory(server.info, conference, settings)
    if page is not None:
        # Run with no server alive: decoding is pure CPU and should have the machine alone.
        with _step("W3 decode"):
            decoded, notes["w3"] = run_decode(page, settings)
            samples |= decoded
    return samples, notes


def _write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    partial = directory / f"{name}.tmp"
    partial.write_text(text, encoding="utf-8")
    partial.replace(target)
    return target


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected workloads, print the table, write the results."""
    options = _parse(argv)
    settings = QUICK if options.quick else FULL
    if options.rounds is not None:
        settings = attrs.evolve(settings, rounds=options.rounds)
    settings = attrs.evolve(settings, contestants=options.contestants)
    # A deprecation inside any contestant would distort its timings: surface it loudly.
    warnings.simplefilter("error", DeprecationWarning)
    machine = machine_info()  # before the run: the commit and versions actually measured
    started = time.perf_counter()
    samples, notes = _run(options, settings)
    notes["workloads"] = sorted(options.only)
    notes["elapsed_s"] = round(time.perf_counter() - started, 1)
    report = build_report(
        samples,
        settings={**attrs.asdict(settings), "quick": options.quick, "seed": options.seed},
        memory_totals=settings.memory_totals,
        notes=notes,
        machine=machine,
    )
    print(report.console())
    json_path = _write(options.output, "latest.json", json.dumps(report.to_json(), indent=2))
    md_path = _write(options.output, "latest.md", report.markdown())
    print(f"\nwrote {json_path} and {md_path} ({notes['elapsed_s']}s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
