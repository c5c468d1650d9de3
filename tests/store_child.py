"""Store operations run in a child process that has a real limit; prints one JSON line.

``python -m tests.store_child COMMAND PATH``, from the checkout:

* ``fill PATH N``: a store of ``N`` records at ``PATH``;
* ``open PATH``: open it for writing, then for reading, and count its conferences;
* ``grow PATH``: write 300 more records (with big participants), then count;
* ``stall-migration PATH``: migrate the store, but stop inside the transaction after the
  last step, print ``{"migrating": true}`` and wait for stdin to close (or a kill).

Errors of the store are printed as ``{"error": type name, "message": text}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
import sys
from typing import Any

import attrs

from tests.test_store import _records
from twilio_conf_insights.sync import SQLiteStore, StoreError
from twilio_conf_insights.sync._sqlite_schema import STEPS, migrate


def _stall_migration(path: str) -> None:
    last = STEPS[-1]

    def fill_then_wait(db: sqlite3.Connection) -> None:
        if last.fill is not None:
            last.fill(db)
        print(json.dumps({"migrating": True}), flush=True)
        sys.stdin.read()  # until killed

    steps = (*STEPS[:-1], attrs.evolve(last, fill=fill_then_wait))
    with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
        migrate(db, path, steps=steps)


async def _count(path: str) -> int:
    async with SQLiteStore(path, read_only=True) as reader:
        return (await reader.counts())["conferences"]


async def _run(command: str, path: str, *rest: str) -> dict[str, Any]:
    outcome: dict[str, Any] = {}
    try:
        if command == "fill":
            async with SQLiteStore(path) as store:
                await store.write(_records(int(rest[0])))
        elif command == "open":
            async with SQLiteStore(path):
                pass
        elif command == "grow":
            async with SQLiteStore(path) as store:
                await store.write(_records(300, seed=5, padding=2000))
        else:
            raise SystemExit(f"unknown command {command!r}")
    except StoreError as error:
        outcome = {"error": type(error).__name__, "message": str(error)}
    outcome["conferences"] = await _count(path)
    return outcome


def main() -> None:
    """Run ``sys.argv[1:]`` and print the outcome as JSON."""
    if sys.argv[1] == "stall-migration":
        _stall_migration(sys.argv[2])
        return
    print(json.dumps(asyncio.run(_run(*sys.argv[1:]))))


if __name__ == "__main__":
    main()
