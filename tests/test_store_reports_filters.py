"""The stores' own ``reports()`` select with the one filter builder (``sync/_filters.py``).

Before, each store spelled its filters itself, and a document SQLite cannot parse (a NaN
Twilio sent) made an ``equals`` filter fail; a number beyond a float's range (PostgreSQL)
failed the decoding.
"""

from __future__ import annotations

import contextlib
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tests.servers import PostgresServer
from tests.store_fixtures import fresh_database, postgres_server
from tests.store_v1 import Record, write_v1
from twilio_conf_insights.sync import ReportQuery, open_store

__all__ = ["postgres_server"]  # the fixture, imported for the tests below


def _records(odd: Any) -> list[Record]:
    """Two completed conferences (one holding ``odd``) and one in progress."""
    base = {"create_time": "2025-06-01T08:00:00Z", "mixer_region": "us1"}
    return [
        ({**base, "conference_sid": "CF" + "1" * 32, "status": "completed", "x": odd}, []),
        ({**base, "conference_sid": "CF" + "2" * 32, "status": "in_progress"}, []),
        ({**base, "conference_sid": "CF" + "3" * 32, "status": "completed"}, []),
    ]


async def _selected(spec: str, query: ReportQuery) -> list[str | None]:
    async with contextlib.aclosing(await open_store(spec, read_only=True)) as store:
        reports = store.reports(query)
        async with contextlib.aclosing(reports) as stream:  # type: ignore[type-var]
            return [report.summary.conference_sid async for report in stream]


async def test_a_sqlite_store_filters_a_document_sqlite_cannot_parse(tmp_path: Path) -> None:
    """status=completed selects the completed conferences, the one holding a NaN included."""
    spec = str(tmp_path / "v1.db")
    await write_v1(spec, _records(math.nan))
    completed = ReportQuery(equals=(("status", "completed"),))
    assert await _selected(spec, completed) == ["CF" + "3" * 32, "CF" + "1" * 32]
    in_progress = ReportQuery(equals=(("status", "in_progress"),))
    assert await _selected(spec, in_progress) == ["CF" + "2" * 32]


async def test_a_postgres_store_reads_a_number_beyond_float_range(
    postgres_server: PostgresServer,
) -> None:
    """A conference holding 10**400 is read back and filtered like the others."""
    spec = await fresh_database(postgres_server)
    await write_v1(spec, _records(10**400))
    completed = ReportQuery(equals=(("status", "completed"),))
    assert await _selected(spec, completed) == ["CF" + "3" * 32, "CF" + "1" * 32]


async def test_time_filters_select_as_before(tmp_path: Path) -> None:
    """The time bounds still select by create_time (after: inclusive; before: exclusive)."""
    spec = str(tmp_path / "v1.db")
    await write_v1(spec, _records(1))
    moment = datetime(2025, 6, 1, 8, tzinfo=UTC)
    assert len(await _selected(spec, ReportQuery(created_after=moment))) == 3
    assert await _selected(spec, ReportQuery(created_before=moment)) == []
