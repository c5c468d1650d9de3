"""The five workloads. Each returns per-round samples: ``{metric: {contestant: [values]}}``.

Contestants alternate within every round (A B C, A B C, ...) so that drift of the machine
(thermal, noisy neighbours, the server's caches) spreads over all of them alike; an unrecorded
warm-up round comes first. Client CPU is ``time.process_time()`` of this process only: the
fake runs in a child process.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import attrs
from _contestant import Contestant, ContestantFactory, check_bulk
from _floor import FloorContestant, decode_json
from _sdk import (
    SdkContestant,
    decode_models,
    decode_models_one_by_one,
    decode_models_typed,
    typed_views_are_lazy,
)
from _server import ServerInfo
from _twilio_python import TwilioPythonContestant, decode_instances, offline_version

__all__ = [
    "CONTESTANTS",
    "Samples",
    "Settings",
    "fetch_page",
    "run_bulk",
    "run_decode",
    "run_first_item",
    "run_memory",
    "run_overhead",
]

#: metric -> contestant -> one value per recorded round.
Samples = dict[str, dict[str, list[float]]]

#: The contestants, in the order they take turns.
CONTESTANTS: tuple[tuple[str, ContestantFactory], ...] = (
    ("floor", FloorContestant),
    ("sdk", SdkContestant),
    ("twilio-python", TwilioPythonContestant),
)

_MEMORY_CHILD = Path(__file__).resolve().with_name("_memory.py")


@attrs.frozen
class Settings:
    """How much of each workload to run (``--quick`` shrinks the repetitions, not the work)."""

    rounds: int = 7
    concurrency: int = 32
    bulk_page_size: int = 1000
    overhead_requests: int = 2000
    decode_seconds: float = 0.5
    memory_totals: tuple[int, ...] = (25_000, 50_000, 100_000)
    memory_rounds: int = 3
    memory_page_size: int = 1000
    first_item_samples: int = 10
    first_item_page_size: int = 50
    #: Which contestants take part (a subset is for profiling one of them).
    contestants: tuple[str, ...] = ("floor", "sdk", "twilio-python")


def _selected(settings: Settings) -> tuple[tuple[str, ContestantFactory], ...]:
    return tuple(entry for entry in CONTESTANTS if entry[0] in settings.contestants)


def _record(samples: Samples, name: str, values: dict[str, float]) -> None:
    for metric, value in values.items():
        samples.setdefault(metric, {}).setdefault(name, []).append(value)


async def _alternate(
    server: ServerInfo,
    settings: Settings,
    measure: Callable[[Contestant], Awaitable[dict[str, float]]],
) -> Samples:
    samples: Samples = {}
    for round_number in range(-1, settings.rounds):  # round -1 is the warm-up
        for name, factory in _selected(settings):
            gc.collect()
            async with factory(server.origin, server.account_sid, server.auth_token) as contestant:
                values = await measure(contestant)
            if round_number >= 0:
                _record(samples, name, values)
    return samples


# -- W1 bulk ----------------------------------------------------------------------------


async def run_bulk(
    server: ServerInfo, settings: Settings, server_cpu: Callable[[], float]
) -> Samples:
    """W1: every conference and all their participants, ``concurrency`` requests in flight.

    The server's CPU time is recorded too: when it approaches the wall time, the server,
    not the client, sets the pace of this workload.
    """

    async def measure(contestant: Contestant) -> dict[str, float]:
        served = server_cpu()
        cpu, wall = time.process_time(), time.perf_counter()
        got = await contestant.bulk(
            concurrency=settings.concurrency, page_size=settings.bulk_page_size
        )
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        served = server_cpu() - served
        check_bulk(contestant.name, got, len(server.conference_sids), server.participants)
        return {"w1.wall_s": wall, "w1.cpu_s": cpu, "w1.server_cpu_s": served}

    return await _alternate(server, settings, measure)


# -- W2 request overhead -----------------------------------------------------------------


def _quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run_overhead(server: ServerInfo, settings: Settings) -> Samples:
    """W2: sequential single fetches; client CPU per request and latency percentiles."""
    sids = [
        server.conference_sids[i % len(server.conference_sids)]
        for i in range(settings.overhead_requests)
    ]

    async def measure(contestant: Contestant) -> dict[str, float]:
        for sid in sids[:20]:  # open the connection and warm caches outside the clock
            await contestant.fetch_conference(sid)
        latencies: list[float] = []
        cpu = time.process_time()
        for sid in sids:
            started = time.perf_counter()
            await contestant.fetch_conference(sid)
            latencies.append(time.perf_counter() - started)
        cpu = time.process_time() - cpu
        return {
            "w2.cpu_us": cpu / len(sids) * 1e6,
            "w2.p50_ms": _quantile(latencies, 0.50) * 1e3,
            "w2.p99_ms": _quantile(latencies, 0.99) * 1e3,
        }

    return await _alternate(server, settings, measure)


# -- W5 time to first item ---------------------------------------------------------------


async def run_first_item(server: ServerInfo, settings: Settings, latency: float) -> Samples:
    """W5: how long until the first item of a listing, and the first conference report."""

    async def timed(call: Callable[[], Awaitable[None]]) -> float:
        samples: list[float] = []
        for _ in range(settings.first_item_samples):
            started = time.perf_counter()
            await call()
            samples.append(time.perf_counter() - started)
            # Let cancelled prefetches drain on the server before the next sample starts.
            await asyncio.sleep(3 * latency)
        return statistics.median(samples) * 1e3

    async def measure(contestant: Contestant) -> dict[str, float]:
        page_size = settings.first_item_page_size

        async def first() -> None:
            await contestant.first_conference(page_size=page_size)

        async def report() -> None:
            await contestant.first_report(concurrency=settings.concurrency, page_size=page_size)

        await first()  # connection setup stays outside the clock
        return {"w5.list_ms": await timed(first), "w5.report_ms": await timed(report)}

    return await _alternate(server, settings, measure)


# -- W3 decode ---------------------------------------------------------------------------


async def fetch_page(server: ServerInfo, conference_sid: str, page_size: int) -> bytes:
    """The raw body of one participant-summary page, exactly as the fake serves it."""
    headers = {"Authorization": aiohttp.encode_basic_auth(server.account_sid, server.auth_token)}
    url = f"{server.origin}/v1/Conferences/{conference_sid}/Participants?PageSize={page_size}"
    async with aiohttp.ClientSession() as session, session.get(url, headers=headers) as response:
        response.raise_for_status()
        return await response.read()


def _rate(decode: Callable[[], object], records: int, seconds: float) -> float:
    runs = 0
    started = time.perf_counter()
    while True:
        decode()
        runs += 1
        elapsed = time.perf_counter() - started
        if elapsed >= seconds:
            return runs * records / elapsed


def run_decode(page: bytes, settings: Settings) -> tuple[Samples, dict[str, Any]]:
    """W3: records/s from one page, in-process: parse, twilio-python instances, our models.

    The floor is ``json.loads`` of the page; the other two start from the parsed dicts, so
    they compare object construction alone.
    """
    items: list[Any] = json.loads(page)["participants"]
    conference_sid = str(items[0]["conference_sid"])
    version = offline_version()
    models = decode_models(items)
    info = {
        "records_per_page": len(items),
        "page_bytes": len(page),
        "sdk_metrics_typed": sum(type(m.metrics).__name__ == "ParticipantMetrics" for m in models),
        "sdk_properties_typed": sum(
            type(m.properties).__name__ == "ParticipantProperties" for m in models
        ),
        "sdk_typed_views_lazy": typed_views_are_lazy(),
    }
    contenders: dict[str, dict[str, Callable[[], object]]] = {
        "w3.records_per_s": {
            "floor": lambda: decode_json(page),
            "sdk": lambda: decode_models(items),
            "twilio-python": lambda: decode_instances(version, items, conference_sid),
        },
        "w3.typed_access_records_per_s": {"sdk": lambda: decode_models_typed(items)},
        "w3.from_dict_records_per_s": {"sdk": lambda: decode_models_one_by_one(items)},
    }
    samples: Samples = {}
    for round_number in range(-1, settings.rounds):
        for metric, by_name in contenders.items():
            for name, decode in by_name.items():
                if name not in settings.contestants:
                    continue
                gc.collect()
                seconds = settings.decode_seconds if round_number >= 0 else 0.05
                rate = _rate(decode, len(items), seconds)
                if round_number >= 0:
                    _record(samples, name, {metric: rate})
    return samples, info


# -- W4 streaming memory -----------------------------------------------------------------


def run_memory(server: ServerInfo, conference_sid: str, settings: Settings) -> Samples:
    """W4: peak RSS growth while streaming ``total`` participants, each run in a fresh process.

    A fresh interpreter per run keeps earlier workloads' heap (and its fragmentation) out
    of the number.
    """
    samples: Samples = {}
    env = {**os.environ, **server.to_env()}
    for _ in range(settings.memory_rounds):
        for total in settings.memory_totals:
            for name, _factory in _selected(settings):
                result = _memory_child(env, name, conference_sid, total, settings)
                if result["items"] != total:
                    raise RuntimeError(f"{name} streamed {result['items']} of {total} items")
                _record(
                    samples,
                    name,
                    {
                        f"w4.rss_growth_mb.{total}": result["growth_mb"],
                        f"w4.wall_s.{total}": result["wall_s"],
                    },
                )
    return samples


def _memory_child(
    env: dict[str, str], name: str, conference_sid: str, total: int, settings: Settings
) -> dict[str, float]:
    command = [
        sys.executable,
        str(_MEMORY_CHILD),
        "--contestant",
        name,
        "--conference",
        conference_sid,
        "--total",
        str(total),
        "--page-size",
        str(settings.memory_page_size),
    ]
    finished = subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    if finished.returncode != 0:
        raise RuntimeError(f"memory run of {name} failed:\n{finished.stderr}")
    result: dict[str, float] = json.loads(finished.stdout.strip().splitlines()[-1])
    return result
