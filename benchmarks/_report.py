"""Medians, ratios, targets, and the three renderings: console table, JSON, Markdown."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import statistics
import subprocess
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import attrs
from _workloads import Samples

__all__ = ["Report", "build_report", "machine_info"]

NAMES = ("floor", "sdk", "twilio-python")
_PACKAGES = (
    "twilio-conf-insights",
    "aiohttp",
    "attrs",
    "cattrs",
    "yarl",
    "tenacity",
    "orjson",
    "twilio",
    "aiohttp-retry",
    "psutil",
)


@attrs.frozen
class Row:
    """One line of the table."""

    key: str
    label: str
    unit: str
    higher_is_better: bool = False


@attrs.frozen
class Target:
    """One goal of the issue, checked on this run's medians."""

    name: str
    #: What was measured, in words and numbers ("1.04x the floor").
    observed: str
    passed: bool | None  # None: not measured in this run

    @property
    def verdict(self) -> str:
        return "n/a" if self.passed is None else ("PASS" if self.passed else "MISS")


@attrs.frozen
class Report:
    """Everything a run produced, ready to render."""

    rows: tuple[Row, ...]
    medians: dict[str, dict[str, float]]
    samples: Samples
    targets: tuple[Target, ...]
    machine: dict[str, Any]
    settings: dict[str, Any]
    notes: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "machine": self.machine,
            "settings": self.settings,
            "notes": self.notes,
            "metrics": {
                row.key: {
                    "label": row.label,
                    "unit": row.unit,
                    "higher_is_better": row.higher_is_better,
                    "median": self.medians.get(row.key, {}),
                    "ratio_sdk_to_floor": _ratio(self.medians, row.key, "floor"),
                    "ratio_sdk_to_twilio_python": _ratio(self.medians, row.key, "twilio-python"),
                    "samples": self.samples.get(row.key, {}),
                }
                for row in self.rows
                if row.key in self.medians
            },
            "targets": [
                {"name": t.name, "observed": t.observed, "verdict": t.verdict} for t in self.targets
            ],
        }

    def table(self) -> list[list[str]]:
        """Header plus one line per measured row."""
        lines = [["metric", "unit", *NAMES, "SDK/floor", "SDK/twilio-python"]]
        for row in self.rows:
            if row.key not in self.medians:
                continue
            by_name = self.medians[row.key]
            lines.append(
                [
                    row.label,
                    row.unit + (" (higher is better)" if row.higher_is_better else ""),
                    *(_number(by_name.get(name)) for name in NAMES),
                    _times(_ratio(self.medians, row.key, "floor")),
                    _times(_ratio(self.medians, row.key, "twilio-python")),
                ]
            )
        return lines

    def console(self) -> str:
        table = self.table()
        widths = [max(len(line[i]) for line in table) for i in range(len(table[0]))]
        out = []
        for index, line in enumerate(table):
            cells = [
                cell.ljust(width) if column < 2 else cell.rjust(width)
                for column, (cell, width) in enumerate(zip(line, widths, strict=True))
            ]
            out.append("  ".join(cells))
            if index == 0:
                out.append("  ".join("-" * width for width in widths))
        out.append("")
        for target in self.targets:
            out.append(f"{target.verdict:4}  {target.name}: {target.observed}")
        return "\n".join(out)

    def markdown(self) -> str:
        table = self.table()
        machine = self.machine
        commit = (machine.get("git_commit") or "unknown")[:10]
        out = [
            f"Medians of {self.settings['rounds']} alternating rounds; W4: "
            f"{self.settings['memory_rounds']} fresh-process runs per total "
            f"({machine['date']}; commit {commit}; "
            f"{machine['cpu_model']}, {machine['logical_cores']} cores; "
            f"Python {machine['python']}; twilio-conf-insights "
            f"{machine['packages'].get('twilio-conf-insights')}, twilio "
            f"{machine['packages'].get('twilio')}, aiohttp {machine['packages'].get('aiohttp')}"
            f"{', quick mode' if self.settings.get('quick') else ''}).",
            "",
            "| " + " | ".join(table[0]) + " |",
            "|" + "|".join(["---", "---"] + ["---:"] * (len(table[0]) - 2)) + "|",
        ]
        out.extend("| " + " | ".join(line) + " |" for line in table[1:])
        out += ["", "| target | observed | verdict |", "|---|---|---|"]
        out.extend(f"| {t.name} | {t.observed} | **{t.verdict}** |" for t in self.targets)
        return "\n".join(out) + "\n"


def _ratio(medians: dict[str, dict[str, float]], key: str, other: str) -> float | None:
    by_name = medians.get(key, {})
    sdk, base = by_name.get("sdk"), by_name.get(other)
    if sdk is None or base is None or base == 0:
        return None
    return sdk / base


def _number(value: float | None) -> str:
    if value is None:
        return "—"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3f}" if abs(value) < 1 else f"{value:.2f}"


def _times(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}x"


def _rows(memory_totals: Sequence[int]) -> tuple[Row, ...]:
    rows = [
        Row("w1.wall_s", "W1 bulk 2,000 conf + participants: wall", "s"),
        Row("w1.cpu_s", "W1 bulk: client CPU", "s"),
        Row("w1.server_cpu_s", "W1 bulk: fake server CPU (context)", "s"),
        Row("w2.cpu_us", "W2 fetch: client CPU per request", "µs"),
        Row("w2.p50_ms", "W2 fetch: p50 latency", "ms"),
        Row("w2.p99_ms", "W2 fetch: p99 latency", "ms"),
        Row("w3.records_per_s", "W3 decode page (floor: json.loads)", "records/s", True),
        Row(
            "w3.typed_access_records_per_s",
            "W3 decode + read .metrics/.properties",
            "records/s",
            True,
        ),
        Row("w3.from_dict_records_per_s", "W3 decode via from_dict", "records/s", True),
    ]
    for total in memory_totals:
        rows.append(Row(f"w4.rss_growth_mb.{total}", f"W4 stream {total:,}: peak RSS growth", "MB"))
    for total in memory_totals:
        rows.append(Row(f"w4.wall_s.{total}", f"W4 stream {total:,}: wall", "s"))
    rows += [
        Row("w5.list_ms", "W5 first item of list()", "ms"),
        Row("w5.report_ms", "W5 first conference report", "ms"),
    ]
    return tuple(rows)


def _targets(
    medians: dict[str, dict[str, float]],
    samples: Samples,
    memory_totals: Sequence[int],
    notes: dict[str, Any],
) -> tuple[Target, ...]:
    def get(key: str, name: str) -> float | None:
        return medians.get(key, {}).get(name)

    def versus(key: str, other: str, limit: float, what: str) -> Target:
        sdk, base = get(key, "sdk"), get(key, other)
        if sdk is None or base is None:
            return Target(what, "not measured", None)
        ratio = sdk / base
        return Target(what, f"{ratio:.2f}x ({_number(sdk)} vs {_number(base)})", ratio <= limit)

    def spread(key: str, name: str) -> str:
        values = samples.get(key, {}).get(name, [])
        return f"[{min(values):.3f}-{max(values):.3f}]" if values else ""

    def below(key: str, what: str) -> Target:
        sdk, base = get(key, "sdk"), get(key, "twilio-python")
        if sdk is None or base is None:
            return Target(what, "not measured", None)
        # The range of the rounds is shown: medians inside each other's range are a tie.
        return Target(
            what,
            f"{sdk / base:.2f}x ({sdk:.3f} {spread(key, 'sdk')} vs "
            f"{base:.3f} {spread(key, 'twilio-python')})",
            sdk < base,
        )

    targets = [
        versus("w1.wall_s", "floor", 1.10, "W1 wall <= 1.10x floor"),
        below("w1.wall_s", "W1 wall below twilio-python"),
        versus("w1.cpu_s", "floor", 1.5, "W1 CPU <= 1.5x floor"),
        below("w1.cpu_s", "W1 CPU below twilio-python"),
        versus("w2.cpu_us", "floor", 1.3, "W2 CPU per request <= 1.3x floor"),
    ]

    sdk_rate, twilio_rate = get("w3.records_per_s", "sdk"), get("w3.records_per_s", "twilio-python")
    typed = notes.get("w3", {})
    fully_typed = typed.get("sdk_metrics_typed") == typed.get("records_per_page")
    if sdk_rate is None or twilio_rate is None:
        targets.append(Target("W3 records/s >= 1.0x twilio-python, typed", "not measured", None))
    else:
        ratio = sdk_rate / twilio_rate
        observed = (
            f"{ratio:.2f}x ({_number(sdk_rate)} vs {_number(twilio_rate)} records/s; "
            f"{'fully typed' if fully_typed else 'NOT fully typed'}"
        )
        eager = get("w3.typed_access_records_per_s", "sdk")
        if typed.get("sdk_typed_views_lazy") and eager is not None:
            # Say so when part of the typing is deferred to first access, and what it costs.
            observed += (
                f"; metrics/properties are typed on first access: decoding and reading all "
                f"of them runs at {_number(eager)} records/s = {eager / twilio_rate:.2f}x"
            )
        targets.append(
            Target(
                "W3 records/s >= 1.0x twilio-python, typed",
                observed + ")",
                ratio >= 1.0 and fully_typed,
            )
        )

    growth = {total: get(f"w4.rss_growth_mb.{total}", "sdk") for total in memory_totals}
    measured = {total: mb for total, mb in growth.items() if mb is not None}
    if measured:
        largest = max(measured)
        targets.append(
            Target(
                f"W4 RSS growth <= 30 MB at {largest:,}",
                f"{measured[largest]:.1f} MB",
                measured[largest] <= 30.0,
            )
        )
    if len(measured) >= 2:
        smallest, largest = min(measured), max(measured)
        # Flat: allocator noise of a few MB is allowed, growth with the total is not.
        allowed = max(1.25 * measured[smallest], measured[smallest] + 3.0)
        series = ", ".join(f"{total:,}: {mb:.1f}" for total, mb in sorted(measured.items()))
        targets.append(
            Target(
                "W4 RSS growth flat as the total grows",
                f"MB by total: {series} (allowed at {largest:,}: <= {allowed:.1f})",
                measured[largest] <= allowed,
            )
        )

    round_trip = get("w5.list_ms", "floor")
    for key, what, limit in (
        ("w5.list_ms", "W5 list() first item after ~1 round trip", 1.5),
        ("w5.report_ms", "W5 first report after ~2 round trips", 2.5),
    ):
        sdk = get(key, "sdk")
        if sdk is None or round_trip is None:
            targets.append(Target(what, "not measured", None))
            continue
        trips = sdk / round_trip
        targets.append(
            Target(
                what,
                f"{trips:.2f} round trips ({sdk:.1f} ms; one floor round trip = "
                f"{round_trip:.1f} ms; limit {limit})",
                trips <= limit,
            )
        )
    return tuple(targets)


def build_report(
    samples: Samples,
    *,
    settings: dict[str, Any],
    memory_totals: Sequence[int],
    notes: dict[str, Any],
    machine: dict[str, Any],
) -> Report:
    """Medians of every metric, the targets, and the context to reproduce the run.

    ``machine`` is :func:`machine_info` taken when the run started (the commit measured).
    """
    medians = {
        key: {name: statistics.median(values) for name, values in by_name.items() if values}
        for key, by_name in samples.items()
    }
    return Report(
        rows=_rows(memory_totals),
        medians=medians,
        samples=samples,
        targets=_targets(medians, samples, memory_totals, notes),
        machine=machine,
        settings=settings,
        notes=notes,
    )


# -- machine info -------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip()


def _safe(read: Callable[[], Any]) -> Any:
    try:
        return read()
    except Exception:
        return None


def machine_info() -> dict[str, Any]:
    """Where and with what the numbers were taken."""
    import psutil

    packages: dict[str, str | None] = {}
    for name in _PACKAGES:
        try:
            packages[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            packages[name] = None
    status = _git("status", "--porcelain", "--untracked-files=no")
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpu_model": _cpu_model(),
        "logical_cores": os.cpu_count(),
        "physical_cores": _safe(lambda: psutil.cpu_count(logical=False)),
        "memory_gb": _safe(lambda: round(psutil.virtual_memory().total / 2**30, 1)),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "packages": packages,
        "git_commit": _git("rev-parse", "HEAD"),
        "git_dirty": None if status is None else bool(status),
    }
