"""W4 child: stream participant summaries in a fresh interpreter and report peak RSS growth.

Run by ``_workloads.run_memory`` with the server's address in the environment. The baseline
is taken after imports and after the client is opened, so the growth is what streaming
itself costs. RSS is sampled by a background thread every millisecond (a page's JSON is
parsed and dropped within milliseconds) and after every page.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import threading
import time

import psutil
from _contestant import ContestantFactory
from _floor import FloorContestant
from _sdk import SdkContestant
from _server import ServerInfo
from _twilio_python import TwilioPythonContestant

_FACTORIES: dict[str, ContestantFactory] = {
    "floor": FloorContestant,
    "sdk": SdkContestant,
    "twilio-python": TwilioPythonContestant,
}
_INTERVAL = 0.001


class PeakRss:
    """The highest RSS seen, by a sampling thread and by explicit :meth:`sample` calls."""

    def __init__(self) -> None:
        self._process = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def sample(self) -> None:
        rss: int = self._process.memory_info().rss
        self.peak = max(self.peak, rss)

    def _run(self) -> None:
        while not self._stop.wait(_INTERVAL):
            self.sample()

    def __enter__(self) -> PeakRss:
        self.sample()
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


async def _run(options: argparse.Namespace) -> dict[str, float]:
    server = ServerInfo.from_env(os.environ)
    factory = _FACTORIES[options.contestant]
    async with factory(server.origin, server.account_sid, server.auth_token) as contestant:
        gc.collect()
        baseline: int = psutil.Process().memory_info().rss
        started = time.perf_counter()
        with PeakRss() as peak:
            items = await contestant.stream_participants(
                options.conference,
                page_size=options.page_size,
                limit=options.total,
                checkpoint=peak.sample,
            )
        wall = time.perf_counter() - started
    return {
        "items": items,
        "baseline_mb": baseline / 2**20,
        "peak_mb": peak.peak / 2**20,
        "growth_mb": (peak.peak - baseline) / 2**20,
        "wall_s": wall,
    }


def _main() -> None:
    parser = argparse.ArgumentParser(description="W4 streaming-memory run (child process)")
    parser.add_argument("--contestant", choices=sorted(_FACTORIES), required=True)
    parser.add_argument("--conference", required=True)
    parser.add_argument("--total", type=int, required=True)
    parser.add_argument("--page-size", type=int, required=True)
    print(json.dumps(asyncio.run(_run(parser.parse_args()))))


if __name__ == "__main__":
    _main()
