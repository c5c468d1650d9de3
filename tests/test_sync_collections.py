"""A sync sets the process's older objects aside from full collections, and only then.

(``sync/_collections.py``: full collections stalled the event loop of a sync; W6 measures
the stalls.)
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import client_for, run
from tests.sync_support import full_range, sync_fake
from twilio_conf_insights.sync import SQLiteStore, SyncProgress


@pytest.fixture(autouse=True)
def _nothing_frozen() -> Iterator[None]:
    """Each test starts and ends with no frozen object and the collector enabled."""
    gc.unfreeze()
    gc.enable()
    yield
    gc.unfreeze()
    gc.enable()


# The collector's state is the process's: each case runs in an interpreter of its own, so
# that no sync another test left running can end in the middle of it.
_CASES = {
    "set aside while a sync runs, given back after": """
with sync_collections():
    assert gc.get_freeze_count() > 1000
assert gc.get_freeze_count() == 0
""",
    "overlapping syncs give them back when the last ends": """
first, second = sync_collections(), sync_collections()
first.__enter__()
frozen = gc.get_freeze_count()
second.__enter__()
assert gc.get_freeze_count() == frozen  # not frozen twice
first.__exit__(None, None, None)
assert gc.get_freeze_count() == frozen
second.__exit__(None, None, None)
assert gc.get_freeze_count() == 0
""",
    "a process that froze objects itself keeps its policy": """
gc.freeze()
before = gc.get_freeze_count()
fresh = [[] for _ in range(100)]  # allocated after the process froze
with sync_collections():
    assert gc.get_freeze_count() == before
assert gc.get_freeze_count() == before
assert fresh
""",
    "a disabled collector is left alone": """
gc.disable()
before = gc.get_freeze_count()
with sync_collections():
    assert gc.get_freeze_count() == before
assert not gc.isenabled()
""",
}


@pytest.mark.parametrize("case", list(_CASES))
async def test_collections_policy(case: str) -> None:
    """Each rule of sync_collections holds, in a fresh interpreter (see _CASES)."""
    program = (
        "import gc\n"
        "from twilio_conf_insights.sync._collections import sync_collections\n" + _CASES[case]
    )
    done = await run([sys.executable, "-c", program])
    assert done.returncode == 0, done.stderr


async def test_client_sync_sets_older_objects_aside_for_its_duration(tmp_path: Path) -> None:
    """During client.sync (seen from its progress callback) objects are frozen; after, none."""
    seen: list[int] = []

    def on_progress(progress: SyncProgress) -> None:
        seen.append(gc.get_freeze_count())

    async with (
        sync_fake(20) as fake,
        client_for(fake) as client,
        SQLiteStore(tmp_path / "s.db") as store,
    ):
        summary = await client.sync(
            store, now=fake.now, on_progress=on_progress, **full_range(fake)
        )
    assert summary.ok, summary.errors
    assert len(seen) > 1 and all(count > 1000 for count in seen[1:])
    assert gc.get_freeze_count() == 0
