"""W11: ``report --db`` and ``export --db`` over a year-sized store, against hand-written SQL.

    python benchmarks/w11_report.py                      # everything: about 25 minutes
    python benchmarks/w11_report.py --sizes 200000 --stores sqlite --no-export   # ~2 minutes

The stores (``w11_stores.py``: 5 participant summaries per conference, built once and
cached outside the checkout) hold 200,000 and 1,000,000 participant summaries, in SQLite
and in PostgreSQL (Debian's server, started on loopback for the run). Every job is a whole
process (``python -m twilio_conf_insights ...``), timed from start to exit; its peak RSS
and CPU time come from ``wait4``.

- **Anchor**: ``w11_anchor.py``, the report's JSON written by hand over the SQLite store
  (``->>`` for each needed value, percentiles in Python). Its output must equal
  ``report --db -f json``'s, so both do the same work.
- **200,000, SQLite**: anchor, ``report -f json``, ``report -f table``, ``report --html``
  take turns, ``--rounds`` rounds after an unrecorded warm-up round; medians. Target: each
  report within 1.5x the anchor's wall.
- **1,000,000, SQLite and PostgreSQL**: the three reports, ``--big-rounds`` rounds. Targets:
  wall <= 15 s and peak RSS <= 400 MB. The anchor runs too, for comparison.
- **export**: ``export --db --with-participants -o FILE.jsonl`` once per store and size
  (no target; reported).

Results go to ``benchmarks/results/w11.json`` and ``w11.md``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from w11_stores import DEFAULT_CACHE, postgres_cluster, postgres_store, sqlite_store  # noqa: E402

RESULTS = HERE / "results"
ANCHOR = HERE / "w11_anchor.py"
RATIO = 1.5
BIG_WALL = 15.0
BIG_RSS_MB = 400.0
REPORTS = {
    "report json": ["-f", "json"],
    "report table": ["-f", "table"],
    "report html": ["--html", "{html}"],
}


def measure(argv: Sequence[str], stdout: Path) -> dict[str, float]:
    """Run ``argv`` to the end; its wall time, CPU time, peak RSS, and the load average.

    ``load`` is the 1-minute load average when it ended: on a shared machine, what the
    wall time is to be read against.
    """
    with stdout.open("wb") as sink:
        started = time.perf_counter()
        process = subprocess.Popen(argv, stdout=sink, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
    assert process.stderr is not None
    errors = process.stderr.read().decode()
    process.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {errors}")
    return {
        "wall": wall,
        "cpu": usage.ru_utime + usage.ru_stime,
        "rss_mb": usage.ru_maxrss / 1024,
        "load": os.getloadavg()[0],
    }


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "twilio_conf_insights", *args]


def _job(name: str, spec: str, work: Path) -> list[str]:
    if name == "anchor":
        return [sys.executable, str(ANCHOR), spec]
    if name == "export":
        return _cli("export", "--db", spec, "--with-participants", "-o", str(work / "x.jsonl"))
    options = [option.format(html=work / "report.html") for option in REPORTS[name]]
    return _cli("report", "--db", spec, *options)


def run_rounds(
    spec: str, jobs: Sequence[str], rounds: int, work: Path, *, warm_up: bool
) -> dict[str, list[dict[str, float]]]:
    """The jobs taking turns for ``rounds`` rounds; every sample of each."""
    samples: dict[str, list[dict[str, float]]] = {job: [] for job in jobs}
    for index in range(rounds + warm_up):
        for job in jobs:
            sample = measure(_job(job, spec, work), work / f"{job}.out")
            if index >= warm_up:
                samples[job].append(sample)
            print(f"  {job:<13} {sample['wall']:6.2f} s  {sample['rss_mb']:5.0f} MB", flush=True)
    return samples


def medians(samples: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, float]]:
    """Per job, the median of each measure over rounds."""
    return {
        job: {key: statistics.median(s[key] for s in runs) for key in runs[0]}
        for job, runs in samples.items()
        if runs
    }


def _same_report(work: Path, other: Path | None = None) -> bool:
    """Whether ``report -f json`` printed what the anchor (or ``other``) printed."""
    expected = other if other is not None else work / "anchor.out"
    return bool(
        json.loads((work / "report json.out").read_text()) == json.loads(expected.read_text())
    )


def main() -> None:
    """Run W11 and write its results."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="200000,1000000")
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--rounds", type=int, default=5, help="rounds at 200,000 (5)")
    parser.add_argument("--big-rounds", type=int, default=2, help="rounds at 1,000,000 (2)")
    parser.add_argument("--no-export", action="store_true", help="skip the export runs")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--output", type=Path, default=RESULTS)
    options = parser.parse_args()
    sizes = [int(size) for size in options.sizes.split(",")]
    kinds = options.stores.split(",")
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_average": os.getloadavg(),
            "platform": platform.platform(),
        },
        "runs": [],
    }
    with ExitStack() as stack, tempfile.TemporaryDirectory(prefix="tci-w11-") as scratch:
        work = Path(scratch)
        server = (
            stack.enter_context(postgres_cluster(options.cache)) if "postgres" in kinds else None
        )
        reference: dict[int, Path] = {}
        for size in sizes:
            for kind in kinds:
                spec = (
                    str(sqlite_store(options.cache, size))
                    if kind == "sqlite"
                    else postgres_store(server, size)  # type: ignore[arg-type]
                )
                big = size >= 1_000_000
                jobs = [*(["anchor"] if kind == "sqlite" else []), *REPORTS]
                print(f"{kind}, {size:,} participant summaries", flush=True)
                samples = run_rounds(
                    spec,
                    jobs,
                    options.big_rounds if big else options.rounds,
                    work,
                    warm_up=not big,
                )
                run: dict[str, Any] = {"store": kind, "participants": size, "samples": samples}
                run["medians"] = found = medians(samples)
                if kind == "sqlite":
                    run["json_equals_anchor"] = _same_report(work)
                    reference[size] = work / f"sqlite-{size}.json"
                    reference[size].write_bytes((work / "report json.out").read_bytes())
                    anchor = found["anchor"]["wall"]
                    run["ratios"] = {job: found[job]["wall"] / anchor for job in REPORTS}
                elif size in reference:
                    run["json_equals_sqlite"] = _same_report(work, reference[size])
                if big:
                    run["targets"] = {
                        job: found[job]["wall"] <= BIG_WALL and found[job]["rss_mb"] <= BIG_RSS_MB
                        for job in REPORTS
                    }
                elif kind == "sqlite":
                    run["targets"] = {job: run["ratios"][job] <= RATIO for job in REPORTS}
                if not options.no_export:
                    run["export"] = measure(_job("export", spec, work), work / "export.out")
                results["runs"].append(run)
    options.output.mkdir(parents=True, exist_ok=True)
    (options.output / "w11.json").write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    (options.output / "w11.md").write_text(table + "\n")
    print(table)


def markdown(results: dict[str, Any]) -> str:
    """The results as a Markdown table."""
    lines = [
        "| store | participants | job | wall (s) | vs anchor | CPU (s) | peak RSS (MB) | load "
        "| target |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for run in results["runs"]:
        rows = dict(run["medians"])
        if "export" in run:
            rows["export jsonl"] = run["export"]
        for job, figures in rows.items():
            ratio = run.get("ratios", {}).get(job)
            target = {True: "PASS", False: "MISS", None: ""}[run.get("targets", {}).get(job)]
            lines.append(
                f"| {run['store']} | {run['participants']:,} | {job} | {figures['wall']:.2f} | "
                f"{f'{ratio:.2f}x' if ratio is not None else ''} | {figures['cpu']:.2f} | "
                f"{figures['rss_mb']:.0f} | {figures.get('load', math.nan):.1f} | {target} |"
            )
    checks = [
        f"{run['store']} {run['participants']:,}: report JSON equals "
        f"{'the anchor' if 'json_equals_anchor' in run else 'SQLite'}'s: "
        f"{run.get('json_equals_anchor', run.get('json_equals_sqlite'))}"
        for run in results["runs"]
        if "json_equals_anchor" in run or "json_equals_sqlite" in run
    ]
    load = ", ".join(f"{value:.1f}" for value in results["machine"]["load_average"])
    return "\n".join([*lines, "", *checks, "", f"load average at the start: {load}"])


if __name__ == "__main__":
    main()
