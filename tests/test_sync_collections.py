"""A sync sets the process's older objects aside from full collections, and only then.

(``sync/_collections.py``: full collections stalled the event loop of a sync; W6 measures
the stalls.)
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sync_support import client_for, full_range, sync_fake
from twilio_conf_insights.sync import SQLiteStore, SyncProgress
from twilio_conf_insights.sync._collections import sync_collections


@pytest.fixture(autouse=True)
def _nothing_frozen() -> Iterator[None]:
    """Each test starts and ends with no frozen object and the collector enabled."""
    gc.unfreeze()
    gc.enable()
    yield
    gc.unfreeze()
    gc.enable()


def test_objects_are_set_aside_while_a_sync_runs_and_given_back() -> None:
    """Inside: the objects alive at the start are frozen; after: none is."""
    assert gc.get_freeze_count() == 0
    with sync_collections():
        assert gc.get_freeze_count() > 1000
    assert gc.get_freeze_count() == 0


def test_overlapping_syncs_give_them_back_when_the_last_ends() -> None:
    """Two syncs at once: the first to end leaves the objects set aside for the other."""
    first, second = sync_collections(), sync_collections()
    first.__enter__()
    frozen = gc.get_freeze_count()
    second.__enter__()
    assert gc.get_freeze_count() == frozen  # not frozen twice
    first.__exit__(None, None, None)
    assert gc.get_freeze_count() == frozen
    second.__exit__(None, None, None)
    assert gc.get_freeze_count() == 0


def test_a_process_that_froze_objects_itself_keeps_its_policy() -> None:
    """Objects the process froze before the sync stay frozen after it, nothing more."""
    gc.freeze()
    before = gc.get_freeze_count()
    fresh: list[list[int]] = [[] for _ in range(100)]  # allocated after the process froze
    with sync_collections():
        assert gc.get_freeze_count() == before
    assert gc.get_freeze_count() == before
    assert fresh


def test_a_disabled_collector_is_left_alone() -> None:
    """With the collector disabled, nothing is frozen and it stays disabled."""
    gc.disable()
    with sync_collections():
        assert gc.get_freeze_count() == 0
    assert not gc.isenabled()


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
