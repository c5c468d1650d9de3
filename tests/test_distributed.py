"""Syncing with worker processes over a real Redis and PostgreSQL: exact, and survives faults."""

from __future__ import annotations

import asyncio
import json
import signal
from datetime import timedelta
from pathlib import Path

import pytest

from tests.distributed_support import (
    SPAN,
    Worker,
    drained,
    sync_through_workers,
    within,
    worker_env,
    workers,
)
from tests.helpers import assert_one_line_error, cli, fake_env
from tests.servers import RedisServer, free_port
from tests.store_fixtures import api_records, stored_records
from tests.sync_support import now_utc
from twilio_conf_insights.cli import main
from twilio_conf_insights.distributed import queue_status
from twilio_conf_insights.sync import SyncProgress
from twilio_conf_insights.testing import FakeTwilio


def _range(fake: FakeTwilio) -> list[str]:
    return [
        "--created-after",
        (fake.now - SPAN).isoformat(),
        "--created-before",
        fake.now.isoformat(),
    ]


async def test_two_workers_sync_exactly_and_leave_an_empty_stream(
    recent_fake: FakeTwilio, redis_server: RedisServer, database: str
) -> None:
    """Two worker processes fill the store exactly; every unit done leaves the stream."""
    async with workers(worker_env(recent_fake, redis_server.url, database), 2):
        summary = await within(sync_through_workers(recent_fake, redis_server.url, database))
        await drained(redis_server.url)
        status = await queue_status(redis_server.url)
    assert summary.ok, summary.line()
    assert summary.new == len(recent_fake.data.conferences)
    assert await stored_records(database) == api_records(recent_fake)
    # Acknowledged units are deleted: the stream does not keep every unit ever sent.
    assert (status.length, status.waiting, status.taken) == (0, 0, 0)


async def test_results_are_read_as_the_workers_announce_them(
    recent_fake: FakeTwilio, redis_server: RedisServer, database: str
) -> None:
    """A planner that looks for results only once an hour still ends as soon as the last
    unit is done: each worker announces the results it saves, and the planner reads them."""
    async with workers(worker_env(recent_fake, redis_server.url, database), 2):
        summary = await within(
            sync_through_workers(recent_fake, redis_server.url, database, poll_interval=3600)
        )
    assert summary.ok, summary.line()
    assert summary.new == len(recent_fake.data.conferences)
    assert await stored_records(database) == api_records(recent_fake)


async def test_worker_killed_mid_unit_is_redelivered(
    recent_fake: FakeTwilio, redis_server: RedisServer, database: str
) -> None:
    """kill -9 of the only worker while it holds units: another worker runs them; store exact."""
    sent = asyncio.Event()

    def on_progress(progress: SyncProgress) -> None:
        sent.set()  # first called once every unit is on the queue

    env = worker_env(recent_fake, redis_server.url, database)
    syncing = asyncio.create_task(
        sync_through_workers(recent_fake, redis_server.url, database, on_progress=on_progress)
    )
    await within(sent.wait(), "the units to be sent")
    queued = await queue_status(redis_server.url)
    assert queued.waiting == queued.length > 0  # all sent, none taken: no worker yet
    first = await Worker.start(env)
    await within(
        recent_fake.wait_for_requests(20, path_contains="Participants"), "the first worker's work"
    )
    assert await first.stop(signal.SIGKILL) == -signal.SIGKILL
    assert (await queue_status(redis_server.url)).taken >= 1  # it died holding units
    async with workers(env, 1):
        summary = await within(syncing, "the sync")
        await drained(redis_server.url)
    assert summary.ok, summary.line()
    assert await stored_records(database) == api_records(recent_fake)


async def test_redis_restart_mid_run(
    recent_fake: FakeTwilio, redis_server: RedisServer, database: str
) -> None:
    """Redis stopped and started again mid-run: workers reconnect, the sync finishes exactly."""
    sent = asyncio.Event()

    def on_progress(progress: SyncProgress) -> None:
        sent.set()

    async with workers(worker_env(recent_fake, redis_server.url, database), 2) as running:
        syncing = asyncio.create_task(
            sync_through_workers(recent_fake, redis_server.url, database, on_progress=on_progress)
        )
        await within(sent.wait(), "the units to be sent")
        await within(recent_fake.wait_for_requests(5, path_contains="Participants"), "work")
        # In a thread: this event loop serves the fake the workers are talking to.
        await asyncio.to_thread(redis_server.stop)
        await asyncio.to_thread(redis_server.start)
        # Work was left: only workers talking to the restarted Redis can finish it.
        assert (await queue_status(redis_server.url)).unfinished > 0
        summary = await within(syncing, "the sync")
        await drained(redis_server.url)
        assert all(w.process.returncode is None for w in running)
    assert summary.ok, summary.line()
    assert await stored_records(database) == api_records(recent_fake)


def test_worker_with_postgres_down_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`worker` with no PostgreSQL listening: exit 1 and one line, without the password."""
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "0" * 32)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "token-not-used")
    db = f"postgresql://sync:pg-secret@127.0.0.1:{free_port()}/insights"
    status = main(["worker", "--broker", f"redis://127.0.0.1:{free_port()}/0", "--db", db])
    captured = capsys.readouterr()
    assert status == 1
    assert captured.err.count("\n") == 1
    assert "cannot connect to PostgreSQL store postgresql://sync@127.0.0.1" in captured.err
    assert "pg-secret" not in captured.err


async def test_cli_sync_with_broker_and_report_from_postgres(
    recent_fake: FakeTwilio, redis_server: RedisServer, database: str
) -> None:
    """`sync --broker --db postgresql://` with a worker fills the store; `report --db` reads it."""
    async with workers(worker_env(recent_fake, redis_server.url, database), 1):
        run = await cli(
            "sync", "--broker", redis_server.url, "--db", database, *_range(recent_fake),
            env=fake_env(recent_fake),
        )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(f"sync: {len(recent_fake.data.conferences)} new,")
    assert await stored_records(database) == api_records(recent_fake)
    run = await cli("report", "--db", database, "--format", "json", env=fake_env(recent_fake))
    assert run.returncode == 0, run.stderr
    report = json.loads(run.stdout)
    assert report["conferences"] == len(recent_fake.data.conferences)
    assert report["participants"] == sum(len(p) for _, p in api_records(recent_fake).values())


async def test_readme_sync_with_broker_and_subaccounts(
    redis_server: RedisServer, database: str
) -> None:
    """The README's `sync --broker … --subaccount AC… --subaccount AC…`: exactly theirs, no more."""
    subaccounts = ["AC" + "5" * 32, "AC" + "6" * 32, "AC" + "7" * 32]
    async with FakeTwilio(
        conferences=90, participants_per_conference=(1, 4), seed=5,
        subaccount_sid=subaccounts, now=now_utc(),
    ) as fake:  # fmt: skip
        wanted = set(subaccounts[:2])
        env = worker_env(fake, redis_server.url, database)
        async with workers(env, 1):
            run = await cli(
                "sync", "--broker", "--created-after", (fake.now - SPAN).isoformat(),
                "--subaccount", subaccounts[0], "--subaccount", subaccounts[1], env=env,
            )  # fmt: skip
        expected = {
            sid: record
            for sid, record in api_records(fake).items()
            if record[0]["account_sid"] in wanted
        }
        listings = {
            tuple(r.query.get("Subaccount", ()))
            for r in fake.requests
            if r.path.endswith("/Conferences")
        }
    assert run.returncode == 0, run.stderr
    assert expected, "the fake gives the chosen subaccounts no conference"
    assert len(expected) < len(fake.data.conferences)  # the others are not wanted
    assert await stored_records(database) == expected
    # Each listing asked for one of the two, none for the account's own or the third.
    assert listings == {(sid,) for sid in wanted}


async def test_worker_runs_at_most_units_at_once(
    recent_fake: FakeTwilio, redis_server: RedisServer, database: str
) -> None:
    """`worker --units 3` holds three units at a time, never more, until the queue is done."""
    held: list[int] = []
    async with workers(worker_env(recent_fake, redis_server.url, database), 1, units=3):
        syncing = asyncio.create_task(
            sync_through_workers(recent_fake, redis_server.url, database, window=timedelta(hours=1))
        )

        async def watch() -> None:
            while not syncing.done():
                held.append((await queue_status(redis_server.url)).taken)
                await asyncio.wait({syncing}, timeout=0.005)

        await within(watch(), "the sync")
        summary = syncing.result()
    assert summary.ok, summary.line()
    assert max(held) == 3


async def test_cli_sync_into_postgres_without_workers(
    recent_fake: FakeTwilio, database: str
) -> None:
    """`sync --db postgresql://…` alone syncs from this process into PostgreSQL, exactly."""
    run = await cli("sync", "--db", database, *_range(recent_fake), env=fake_env(recent_fake))
    assert run.returncode == 0, run.stderr
    assert await stored_records(database) == api_records(recent_fake)


def test_broker_with_a_file_store_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Workers cannot share a file: `sync --broker --db FILE` is exit 2, one line."""
    monkeypatch.setenv("TWILIO_ACCOUNT_SID", "AC" + "0" * 32)
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", "token-not-used")
    store = tmp_path / "store.db"
    status = main(["sync", "--broker", "redis://127.0.0.1:1/0", "--db", str(store)])
    assert status == 2
    assert "postgresql://" in capsys.readouterr().err
    assert not store.exists()


async def test_sync_with_postgres_down_sends_nothing_and_says_so_in_one_line(
    recent_fake: FakeTwilio, redis_server: RedisServer
) -> None:
    """`sync --broker` with no PostgreSQL: exit 1, one line, no unit queued, nothing done."""
    db = f"postgresql://sync:pg-secret@127.0.0.1:{free_port()}/insights"
    run = await cli(
        "sync", "--broker", redis_server.url, "--db", db,
        "--created-after", (recent_fake.now - timedelta(days=2)).isoformat(),
        env=fake_env(recent_fake),
    )  # fmt: skip
    assert run.returncode == 1
    assert run.stdout == ""
    assert_one_line_error(run)
    assert "cannot connect to PostgreSQL store postgresql://sync@127.0.0.1" in run.stderr
    assert "pg-secret" not in run.stderr
    assert (await queue_status(redis_server.url)).length == 0
    assert recent_fake.requests == []
