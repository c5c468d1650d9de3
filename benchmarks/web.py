"""W9: the README's aiohttp.web recipe under inbound load, against the same app on twilio-python.

    python benchmarks/web.py            # 5 recorded rounds of 4,000 requests per app
    python benchmarks/web.py --quick    # 3 rounds of 1,000

Three processes besides this one's load generator: the fake Twilio (20 ms latency), the
recipe app (``tests/recipes/aiohttp_app.py``, served as its ``main()`` does) and the same
app calling twilio-python's asyncio client. All on 127.0.0.1. Each round drives both apps in
turn with the same bounded load (a fixed number of ``GET /conferences/{sid}`` over a fixed
number of keep-alive connections, and a time cap); the table shows medians over rounds.
Writes ``benchmarks/results/w9.json`` and ``w9.md``. See ``benchmarks/README.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import aiohttp
import attrs

sys.path.insert(0, str(Path(__file__).resolve().parent))

try:
    import psutil  # noqa: F401 - checked at start: the bench extra, with a clear message
    from _report import machine_info
    from _server import ServerInfo, ServerProcess, process_cpu_seconds
except ImportError as missing:
    raise SystemExit(
        f"the benchmarks need {missing.name!r}: pip install -e '.[bench]' (or nox -s bench)"
    ) from None

RESULTS = Path(__file__).resolve().parent / "results"
APP_CHILD = Path(__file__).resolve().with_name("_web_app.py")
APPS = ("sdk", "twilio-python")

#: The fake's data and latency: 200 conferences, 20 ms per response.
CONFERENCES = 200
LATENCY = 0.020


@attrs.frozen
class Load:
    """One round's load on one app."""

    rounds: int = 5
    requests: int = 4000
    #: Inbound connections (and so requests) at once; the SDK app's max_concurrency is 32 too.
    concurrency: int = 32
    #: A round stops sending new requests after this many seconds, whatever is left.
    time_cap: float = 120.0


FULL = Load()
QUICK = Load(rounds=3, requests=1000)


class AppProcess:
    """One web app child process (only ever the one it started)."""

    def __init__(self, which: str, server: ServerInfo) -> None:
        self.which = which
        self._env = os.environ | server.to_env()
        self._process: subprocess.Popen[str] | None = None
        self.port = 0

    def __enter__(self) -> Self:
        self._process = subprocess.Popen(
            [sys.executable, str(APP_CHILD), self.which],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=self._env,
        )
        assert self._process.stdout is not None
        stdout = self._process.stdout
        line: list[str] = []
        reader = threading.Thread(target=lambda: line.append(stdout.readline()), daemon=True)
        reader.start()
        reader.join(120)
        if not line or not line[0]:
            self.__exit__(None, None, None)
            raise RuntimeError(f"the {self.which} app did not start")
        self.port = int(json.loads(line[0])["port"])
        return self

    def cpu_seconds(self) -> float:
        """User plus system CPU time of the app process so far."""
        assert self._process is not None
        return process_cpu_seconds(self._process.pid)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()  # the app stops on end of input
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.terminate()
            process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


async def drive(port: int, sids: Sequence[str], load: Load) -> tuple[list[float], float, int]:
    """Send ``load.requests`` GETs over ``load.concurrency`` connections.

    Returns each request's latency in seconds, the wall time, and how many were not a 200.
    """
    latencies: list[float] = []
    failures = 0
    next_index = 0
    started = time.perf_counter()
    stop_at = started + load.time_cap

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal next_index, failures
        while next_index < load.requests and time.perf_counter() < stop_at:
            sid = sids[next_index % len(sids)]
            next_index += 1
            sent = time.perf_counter()
            async with session.get(f"/conferences/{sid}") as response:
                body = await response.read()
            latencies.append(time.perf_counter() - sent)
            if response.status != 200 or sid.encode() not in body:
                failures += 1

    connector = aiohttp.TCPConnector(limit=load.concurrency)
    async with aiohttp.ClientSession(f"http://127.0.0.1:{port}", connector=connector) as session:
        await asyncio.gather(*(worker(session) for _ in range(load.concurrency)))
    return latencies, time.perf_counter() - started, failures


def summarize(latencies: list[float], wall: float, cpu: float) -> dict[str, float]:
    """One round's figures."""
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": cuts[98] * 1000,
        "requests_per_s": len(latencies) / wall,
        "app_cpu_us_per_request": cpu / len(latencies) * 1e6,
    }


async def run_rounds(
    apps: dict[str, AppProcess], sids: Sequence[str], load: Load
) -> dict[str, dict[str, list[float]]]:
    """Alternate the apps in every round; an unrecorded warm-up round comes first."""
    samples: dict[str, dict[str, list[float]]] = {name: {} for name in apps}
    for round_number in range(-1, load.rounds):
        for name, app in apps.items():
            cpu = app.cpu_seconds()
            latencies, wall, failures = await drive(app.port, sids, load)
            cpu = app.cpu_seconds() - cpu
            if failures:
                raise RuntimeError(f"{name}: {failures} of {len(latencies)} requests failed")
            if round_number >= 0:
                for metric, value in summarize(latencies, wall, cpu).items():
                    samples[name].setdefault(metric, []).append(value)
            print(f"round {round_number + 1}: {name} done", file=sys.stderr, flush=True)
    return samples


ROWS = (
    ("p50_ms", "inbound p50 latency", "ms"),
    ("p99_ms", "inbound p99 latency", "ms"),
    ("requests_per_s", "throughput", "requests/s (higher is better)"),
    ("app_cpu_us_per_request", "app CPU per request", "µs"),
)


def report(
    samples: dict[str, dict[str, list[float]]], load: Load, machine: dict[str, Any]
) -> tuple[dict[str, Any], str]:
    """The JSON record and the Markdown table of a run."""
    medians = {
        name: {metric: statistics.median(values) for metric, values in metrics.items()}
        for name, metrics in samples.items()
    }
    lines = [
        f"W9: medians of {load.rounds} alternating rounds of {load.requests:,} requests over "
        f"{load.concurrency} connections, fake Twilio at {LATENCY * 1000:g} ms "
        f"({machine['date']}; commit {str(machine['git_commit'])[:10]}; "
        f"{machine['cpu_model']}, {machine['logical_cores']} cores; load average "
        f"{os.getloadavg()[0]:.1f} at the end).",
        "",
        "| metric | unit | sdk | twilio-python | SDK/twilio-python |",
        "|---|---|---:|---:|---:|",
    ]
    for metric, title, unit in ROWS:
        sdk, other = medians["sdk"][metric], medians["twilio-python"][metric]
        lines.append(f"| W9 {title} | {unit} | {sdk:,.1f} | {other:,.1f} | {sdk / other:.2f}x |")
    record = {
        "workload": "W9",
        "settings": attrs.asdict(load) | {"latency_s": LATENCY, "conferences": CONFERENCES},
        "samples": samples,
        "medians": medians,
        "machine": machine,
        "load_average_1m": os.getloadavg()[0],
    }
    return record, "\n".join(lines) + "\n"


def _write(directory: Path, name: str, text: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / name
    partial = directory / f"{name}.tmp"
    partial.write_text(text, encoding="utf-8")
    partial.replace(target)
    return target


def main(argv: Sequence[str] | None = None) -> int:
    """Run W9, print the table, write the results."""
    parser = argparse.ArgumentParser(prog="python benchmarks/web.py", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 rounds of 1,000 requests")
    parser.add_argument("--rounds", type=int, help="recorded rounds")
    parser.add_argument("--output", type=Path, default=RESULTS, help="directory for w9.*")
    options = parser.parse_args(argv)
    load = QUICK if options.quick else FULL
    if options.rounds is not None:
        load = attrs.evolve(load, rounds=options.rounds)
    warnings.simplefilter("error", DeprecationWarning)
    machine = machine_info()
    with ServerProcess(
        conferences=CONFERENCES, participants_per_conference=2, seed=1, latency=LATENCY
    ) as server:
        assert server.info is not None
        with AppProcess("sdk", server.info) as sdk, AppProcess("twilio-python", server.info) as tp:
            samples = asyncio.run(
                run_rounds({"sdk": sdk, "twilio-python": tp}, server.info.conference_sids, load)
            )
    record, table = report(samples, load, machine)
    print(table)
    _write(options.output, "w9.json", json.dumps(record, indent=2))
    _write(options.output, "w9.md", table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
