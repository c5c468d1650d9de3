"""The "Querying the store" examples (tests/docs_examples) give the report's answers.

Each example runs against a store written by the SDK from fake records, and its result is
checked against the same figure computed from the decoded models. DuckDB's own example
that attaches the SQLite file is not run: its ``sqlite`` extension is downloaded on first
use, and the tests run offline; the Parquet example runs the same query.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import pandas as pd
import pytest

from tests.docs_examples import store_duckdb, store_pandas, store_postgres, store_sqlite
from tests.open_files import collector_held, open_under
from tests.servers import PostgresServer
from tests.store_fixtures import fresh_database, postgres_server
from twilio_conf_insights import ConferenceReport, ConferenceSummary, ParticipantSummary
from twilio_conf_insights.cli._report import QualityReport, build_report, worse_direction
from twilio_conf_insights.sync import ConferenceRecord, open_store
from twilio_conf_insights.testing import FakeData

__all__ = ["postgres_server"]  # the fixture, imported for the tests below

Records = list[tuple[dict[str, Any], list[dict[str, Any]]]]


def _records(*, nan: bool) -> Records:
    # The served JSON itself, not helpers.conference_records: a NaN the stores keep goes
    # in as sent, which records built from models would already have read as "no value".
    data = FakeData(conferences=60, participants_per_conference=(1, 6), seed=61)
    records = [(c, data.participant_summaries[c["conference_sid"]]) for c in data.conferences]
    if nan:  # a MOS Twilio sent as NaN, in both directions: no measure on any path
        measured = next(p for _, parts in records for p in parts if p.get("metrics"))
        for stream in measured["metrics"].values():
            stream["mos"] = math.nan
    return records


async def _write(spec: str, records: Records) -> None:
    store = await open_store(spec)
    try:
        await store.write([ConferenceRecord(summary, parts) for summary, parts in records])
    finally:
        await store.aclose()


def _report(records: Records) -> QualityReport:
    return build_report(
        ConferenceReport(
            ConferenceSummary.from_dict(summary),
            [ParticipantSummary.from_dict(p) for p in parts],
        )
        for summary, parts in records
    )


def _created(summary: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(summary["create_time"])


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[tuple[str, Records]]:
    """A SQLite store holding the fake records (one with a NaN MOS), and the records.

    The examples must close what they open: with the collector held off during the test,
    a connection an example leaves open still holds the store's file afterwards.
    """
    records = _records(nan=True)
    path = str(tmp_path / "insights.db")
    asyncio.run(_write(path, records))
    with collector_held() as unraisable:
        yield path, records
        assert open_under(tmp_path) == [], "an example left a connection to the store open"
    assert unraisable == []


def test_sqlite_example_lists_the_poor_participants(sqlite_store: tuple[str, Records]) -> None:
    """The sqlite3 example lists exactly the participants whose worse MOS is below 3.5."""
    path, records = sqlite_store
    day = _created(records[len(records) // 2][0]).replace(hour=0, minute=0, second=0)
    start, end = day, day + timedelta(days=1)
    expected = sorted(
        (
            (summary["conference_sid"], p["participant_sid"], p["label"], measured[0])
            for summary, parts in records
            if start <= _created(summary) < end
            for p in parts
            if (measured := worse_direction(ParticipantSummary.from_dict(p).metrics))
            and measured[0] is not None
            and measured[0] < 3.5
        ),
        key=lambda row: (row[3], row[1]),
    )
    found = store_sqlite.poor_participants(
        path, start.strftime("%Y-%m-%dT%H:%M:%SZ"), end.strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    assert found == expected
    every_day = store_sqlite.poor_participants(path, "2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z")
    assert 0 < len(found) < len(every_day)


def _assert_regions(
    rows: Sequence[tuple[str, int, Mapping[str, float]]], report: QualityReport
) -> None:
    """Regions in order, their counts and percentiles (by name: p10, p50...) are the report's."""
    expected = {row.region: row for row in report.mos_by_region}
    assert [region for region, _, _ in rows] == list(expected)
    for region, participants, percentiles in rows:
        row = expected[region]
        assert participants == row.participants
        for name, value in percentiles.items():
            assert value == pytest.approx(getattr(row, name), abs=1e-4)


def test_pandas_example_counts_and_percentiles(sqlite_store: tuple[str, Records]) -> None:
    """The pandas example counts conferences per day and status, and MOS per region."""
    path, records = sqlite_store
    conferences, participants = store_pandas.load(path)
    per_day = store_pandas.conferences_per_day(conferences)
    counted = Counter(
        (_created(summary).replace(hour=0, minute=0, second=0), summary["status"])
        for summary, _ in records
    )
    found = {}
    for key, count in per_day.stack().items():
        day, status = cast(tuple[pd.Timestamp, str], key)
        if count:
            found[(day.to_pydatetime().replace(tzinfo=UTC), status)] = int(count)
    assert found == dict(counted)
    table = store_pandas.mos_by_region(participants)
    rows = [
        (str(region), int(row.participants), {"p10": row.p10, "p50": row.p50, "p90": row.p90})
        for region, row in table.iterrows()
    ]
    _assert_regions(rows, _report(records))


def test_duckdb_example_on_a_parquet_copy(
    sqlite_store: tuple[str, Records], tmp_path: Path
) -> None:
    """DuckDB's query over a Parquet copy of the store gives the report's median MOS."""
    path, records = sqlite_store
    store_duckdb.copy_to_parquet(path, tmp_path)
    rows = store_duckdb.mos_by_region_from_parquet(tmp_path)
    _assert_regions([(region, n, {"p50": median}) for region, n, median in rows], _report(records))


async def test_postgres_example_percentiles_by_region(postgres_server: PostgresServer) -> None:
    """percentile_cont on the PostgreSQL store gives the report's MOS percentiles."""
    records = _records(nan=False)  # jsonb has no NaN
    url = await fresh_database(postgres_server)
    await _write(url, records)
    times = [_created(summary) for summary, _ in records]
    rows = await store_postgres.mos_by_region(url, min(times), max(times) + timedelta(seconds=1))
    named = [
        (row[0], row[1], dict(zip(("p10", "p50", "p90"), row[2], strict=True))) for row in rows
    ]
    _assert_regions(named, _report(records))
