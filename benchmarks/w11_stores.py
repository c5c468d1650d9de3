"""W11's stores: SQLite files and PostgreSQL databases of fake records, built once and cached.

    python benchmarks/w11_stores.py [--sizes 200000,1000000] [--stores sqlite,postgres]

Each store holds ``participants / 5`` conferences of 5 participant summaries each: the JSON
``twilio_conf_insights.testing.FakeData`` generates, in data sets of 10,000 conferences
(seeds 2000000, 2000001, ...; one "now", so they share a month), written through the stores'
public ``write`` in batches of 1,000 conferences, as a sync writes them, but without the
HTTP. Building the 1,000,000-participant stores takes a few minutes each; they are kept in
the cache directory (default: ``tci-w11`` in the system's temp dir, never in the checkout)
and reused while the data's description (:data:`LAYOUT`) stays the same. The PostgreSQL
cluster lives there too and is started on a free loopback port for each run.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import pwd
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the tests' PostgreSQL fixture, when run as a script

from tests.servers import PostgresServer  # noqa: E402
from twilio_conf_insights.sync import ConferenceRecord, open_store  # noqa: E402
from twilio_conf_insights.testing import FakeData  # noqa: E402

__all__ = [
    "DEFAULT_CACHE",
    "LAYOUT",
    "CachedPostgres",
    "build_store",
    "postgres_cluster",
    "sqlite_store",
]

SEED = 2
PER_CONFERENCE = 5
#: Conferences per generated data set (FakeData keeps what it generated: bounded memory).
CHUNK = 10_000
BATCH = 1000
NOW = datetime(2025, 6, 30, tzinfo=UTC)
#: What a cached store holds; a store built under another description is built again.
LAYOUT = {
    "seed": SEED,
    "participants_per_conference": PER_CONFERENCE,
    "chunk": CHUNK,
    "now": NOW.isoformat(),
    "version": 1,
}
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "tci-w11"


async def build_store(spec: str, participants: int) -> float:
    """Write the fake records of ``participants`` into the empty store ``spec``; seconds."""
    started = time.perf_counter()
    store = await open_store(spec)
    try:
        left = participants // PER_CONFERENCE
        for chunk in itertools.count():
            if left <= 0:
                break
            data = FakeData(
                conferences=min(CHUNK, left),
                participants_per_conference=PER_CONFERENCE,
                seed=SEED * 1_000_000 + chunk,
                now=NOW,
            )
            left -= len(data.conferences)
            for start in range(0, len(data.conferences), BATCH):
                await store.write(
                    [
                        ConferenceRecord(c, data.participant_summaries[c["conference_sid"]])
                        for c in data.conferences[start : start + BATCH]
                    ]
                )
    finally:
        await store.aclose()
    return time.perf_counter() - started


async def _migrate(spec: str) -> float:
    """Bring a cached store to this version's layout (opening it read-write does); seconds.

    A PostgreSQL database is vacuumed after a migration, as autovacuum would soon do, so
    that its indexes answer without reading rows the migration rewrote.
    """
    started = time.perf_counter()
    await (await open_store(spec)).aclose()
    seconds = time.perf_counter() - started
    if seconds > 1 and spec.startswith("postgresql://"):
        import asyncpg

        conn = await asyncpg.connect(spec)
        try:
            await conn.execute("VACUUM (ANALYZE) participant_summaries")
        finally:
            await conn.close()
    return seconds


def migrated(spec: str) -> str:
    """``spec``, migrated to this version's layout if an earlier one wrote it (timed)."""
    seconds = asyncio.run(_migrate(spec))
    if seconds > 1:  # a layout change: its figure is worth giving
        shown = spec.rsplit("/", 1)[-1]
        print(
            f"migrated {shown} in {seconds:.1f} s (load {os.getloadavg()[0]:.1f})", file=sys.stderr
        )
    return spec


def _marker(directory: Path, name: str) -> Path:
    return directory / f"{name}.layout.json"


def _is_current(directory: Path, name: str) -> bool:
    marker = _marker(directory, name)
    return marker.exists() and json.loads(marker.read_text()) == LAYOUT


def _mark(directory: Path, name: str) -> None:
    _marker(directory, name).write_text(json.dumps(LAYOUT))


def sqlite_store(cache: Path, participants: int) -> Path:
    """The cached SQLite store of ``participants`` participant summaries (built if missing)."""
    cache.mkdir(parents=True, exist_ok=True)
    name = f"sqlite-{participants}"
    path = cache / f"{name}.db"
    if not _is_current(cache, name):
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        seconds = asyncio.run(build_store(str(path), participants))
        _mark(cache, name)
        print(f"built {path} in {seconds:.0f} s", file=sys.stderr)
    migrated(str(path))
    return path


class CachedPostgres(PostgresServer):
    """The tests' PostgreSQL server, with its cluster in ``directory`` so that it is kept."""

    def __init__(self, directory: Path) -> None:
        super().__init__()
        shutil.rmtree(self.directory)  # the fresh temporary directory the tests would use
        directory.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:  # the server runs as the postgres user (see tests/servers.py)
            user = pwd.getpwnam("postgres")
            os.chown(directory, user.pw_uid, user.pw_gid)
        self.directory = directory


@contextmanager
def postgres_cluster(cache: Path) -> Iterator[CachedPostgres]:
    """The cached cluster, running on a free loopback port; stopped by PID afterwards."""
    server = CachedPostgres(cache / "postgres")
    server.start()
    try:
        yield server
    finally:
        server.stop()


async def _create_database(server: CachedPostgres, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(server.url())
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


def postgres_store(server: CachedPostgres, participants: int) -> str:
    """The URL of the cached database of ``participants`` participant summaries."""
    name = f"w11_{participants}"
    if not _is_current(server.directory, name):
        asyncio.run(_create_database(server, name))
        seconds = asyncio.run(build_store(server.url(name), participants))
        _mark(server.directory, name)
        print(f"built PostgreSQL database {name} in {seconds:.0f} s", file=sys.stderr)
    return migrated(server.url(name))


def main() -> None:
    """Build (or find) the stores asked for."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="200000,1000000", help="participant summaries")
    parser.add_argument("--stores", default="sqlite,postgres")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    options = parser.parse_args()
    sizes = [int(size) for size in options.sizes.split(",")]
    stores = options.stores.split(",")
    for size in sizes:
        if "sqlite" in stores:
            print(sqlite_store(options.cache, size))
    if "postgres" in stores:
        with postgres_cluster(options.cache) as server:
            for size in sizes:
                print(postgres_store(server, size))


if __name__ == "__main__":
    main()
