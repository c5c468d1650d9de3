"""``report --db``: the API's answers, from SQLite and PostgreSQL, from stores of every layout.

The report from a store reads a dozen values per record with SQL (``cli/_report_source``);
the report from the API reads them off models. These tests hold the two to the same
figures, in the same order, for text, JSON and HTML, on data with odd values: nulls,
strings where numbers belong, NaN kept by the store, ties on every measure.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import math
import shutil
import sqlite3
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import assert_one_line_error, cli, fake_env
from tests.report_data import conference_documents, drift, participant_documents
from tests.servers import PostgresServer
from tests.store_fixtures import fresh_database, postgres_server
from tests.store_v1 import Record, write_postgres_v1, write_sqlite_v1, write_v1
from tests.sync_support import sync_fake
from twilio_conf_insights import ConferenceReport, ConferenceSummary, ParticipantSummary
from twilio_conf_insights.cli._report_source import TYPED_LAYOUT, Group, stored_values
from twilio_conf_insights.cli._report_values import values_of_report
from twilio_conf_insights.sync import ReportQuery, open_store
from twilio_conf_insights.sync._schema import SCHEMA_VERSION
from twilio_conf_insights.testing import FakeTwilio

__all__ = ["postgres_server"]  # the fixture, imported for the tests below


# -- the values a store gives are those models give ------------------------------------------


async def _stored_groups(spec: str, query: ReportQuery | None = None) -> list[Group]:
    batches = stored_values(spec, query or ReportQuery())
    try:
        return [group async for batch in batches for group in batch]
    finally:
        await batches.aclose()


def _model_groups(records: Sequence[Record]) -> list[Group]:
    return [
        values_of_report(
            ConferenceReport(
                ConferenceSummary.from_dict(copy.deepcopy(summary)),
                [ParticipantSummary.from_dict(copy.deepcopy(p)) for p in participants],
            )
        )
        for summary, participants in records
    ]


def _by_conference(groups: Sequence[Group]) -> dict[Any, tuple[Any, Counter[Any]]]:
    """Groups by conference SID, participants as a multiset (a store keeps no order)."""
    return {c.conference_sid: (c, Counter(participants)) for c, participants in groups}


def _keyed(records: Sequence[Record]) -> list[Record]:
    """Records with distinct conference SIDs, the stores' key."""
    return [
        ({**summary, "conference_sid": f"CF{index:032x}"}, participants)
        for index, (summary, participants) in enumerate(records)
    ]


_records = st.lists(
    st.tuples(conference_documents(), st.lists(participant_documents(), max_size=4)),
    min_size=1,
    max_size=3,
).map(_keyed)


@settings(max_examples=80, deadline=None)
@given(_records)
def test_a_sqlite_store_gives_the_values_models_give(records: list[Record]) -> None:
    """Every value SQL extracts from a SQLite store is what the decoded model gives."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "v1.db"
        write_sqlite_v1(path, records)
        stored = asyncio.run(_stored_groups(str(path)))
    assert _by_conference(stored) == _by_conference(_model_groups(records))


def _sids_as_keyed(records: list[Record]) -> list[Record]:
    """Records whose participants' JSON holds the SIDs the layout-1 writer keys them by.

    Typed columns read a participant's SID from the row's key, which a store takes from the
    summary's ``participant_sid``; the layout-1 writer keys rows by position instead.
    """
    return [
        (summary, [{**p, "participant_sid": f"CP{i:016x}{n:016x}"} for n, p in enumerate(parts)])
        for i, (summary, parts) in enumerate(records)
    ]


@settings(max_examples=60, deadline=None)
@given(_records)
def test_a_migrated_sqlite_store_gives_the_values_models_give(records: list[Record]) -> None:
    """A layout-1 store migrated to typed columns gives, from them, what the models give."""

    records = _sids_as_keyed(records)

    async def stored(path: Path) -> list[Group]:
        write_sqlite_v1(path, records)
        await (await open_store(str(path))).aclose()  # migrates: fills the typed columns
        return await _stored_groups(str(path))

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "v1.db"
        groups = asyncio.run(stored(path))
        with closing(sqlite3.connect(path)) as db:
            assert db.execute("PRAGMA user_version").fetchone()[0] >= TYPED_LAYOUT
    assert _by_conference(groups) == _by_conference(_model_groups(records))


def _for_jsonb(value: Any) -> Any:
    """``value`` without what PostgreSQL's jsonb cannot hold: NaN, infinities, NUL characters."""
    if type(value) is float and not math.isfinite(value):
        return None
    if type(value) is str:
        return value.replace("\x00", "")
    if type(value) is dict:
        return {_for_jsonb(key): _for_jsonb(item) for key, item in value.items()}
    if type(value) in (list, tuple):
        return type(value)(_for_jsonb(item) for item in value)
    return value


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(records=_records.map(_for_jsonb))
def test_a_postgres_store_gives_the_values_models_give(
    records: list[Record], postgres_server: PostgresServer
) -> None:
    """Every value SQL extracts from PostgreSQL's jsonb is what the decoded model gives."""

    async def stored() -> list[Group]:
        url = await fresh_database(postgres_server)
        await write_postgres_v1(url, records)
        return await _stored_groups(url)

    assert _by_conference(asyncio.run(stored())) == _by_conference(_model_groups(records))


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(records=_records.map(_for_jsonb))
def test_a_migrated_postgres_store_gives_the_values_models_give(
    records: list[Record], postgres_server: PostgresServer
) -> None:
    """A layout-1 PostgreSQL store migrated to typed columns gives what the models give."""

    records = _sids_as_keyed(records)

    async def stored() -> list[Group]:
        url = await fresh_database(postgres_server)
        await write_postgres_v1(url, records)
        await (await open_store(url)).aclose()  # migrates: fills the typed columns
        return await _stored_groups(url)

    assert _by_conference(asyncio.run(stored())) == _by_conference(_model_groups(records))


# -- the whole report: from the API and from the store --------------------------------------


def _range(fake: FakeTwilio) -> list[str]:
    start = (fake.now - timedelta(days=3, hours=1)).isoformat()
    return ["--created-after", start, "--created-before", fake.now.isoformat()]


def _page(path: Path) -> str:
    """An HTML report without its header (where the data came from, when it was made)."""
    page = path.read_text(encoding="utf-8")
    return page[page.index("</header>") :]


async def _spec(kind: str, tmp_path: Path, request: pytest.FixtureRequest) -> str:
    if kind == "sqlite":
        return str(tmp_path / "store.db")
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return await fresh_database(server)


async def _assert_reports_equal(fake: FakeTwilio, spec: str, tmp_path: Path) -> dict[str, Any]:
    """Text, JSON and HTML reports of the store equal the API's; the JSON report."""
    env = fake_env(fake)
    for options in (
        ["-f", "json"],
        ["-f", "table", "--top", "all"],
        ["-f", "json", "--limit", "9"],
    ):
        online = await cli("report", *options, *_range(fake), env=env)
        offline = await cli("report", "--db", spec, *options, *_range(fake), env=env)
        assert online.returncode == offline.returncode == 0, offline.stderr
        assert offline.stdout == online.stdout
    pages = tmp_path / "api.html", tmp_path / "store.html"
    for page, source in zip(pages, ([], ["--db", spec]), strict=True):
        done = await cli("report", *source, *_range(fake), "--html", str(page), env=env)
        assert done.returncode == 0, done.stderr
    assert _page(pages[1]) == _page(pages[0])
    done = await cli("report", "--db", spec, "-f", "json", *_range(fake), env=env)
    report: dict[str, Any] = json.loads(done.stdout)
    return report


@contextlib.asynccontextmanager
async def synced_drifted_store(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest, *, conferences: int
) -> AsyncIterator[tuple[FakeTwilio, str]]:
    """A fake with drifted, settled data, and a store of ``kind`` synced from it."""
    async with sync_fake(conferences) as fake:
        fake.data.processing.settle_all()
        # PostgreSQL's jsonb has no NaN: the store refuses such a record (the SQLite one keeps it).
        drift(fake.data, nan=kind == "sqlite")
        spec = await _spec(kind, tmp_path, request)
        synced = await cli("sync", "--db", spec, *_range(fake), env=fake_env(fake))
        assert synced.returncode == 0, synced.stderr
        yield fake, spec


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_report_from_a_synced_store_equals_the_api_on_drifted_data(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A store synced from drifted data reports exactly what the API does: text, JSON, HTML."""
    async with synced_drifted_store(kind, tmp_path, request, conferences=60) as (fake, spec):
        report = await _assert_reports_equal(fake, spec, tmp_path)
    # The drift showed: unmeasured participants, and ties the order had to break.
    assert report["participants_with_metrics"] < report["participants"]
    poor = report["poor_participants"]
    measures = ("mos", "packet_loss_percentage", "jitter_avg")
    tied = [p for p in poor if tuple(p[name] for name in measures) == (2.5, 3, 40)]
    assert len(tied) > 3
    assert [p["participant_sid"] for p in tied] == sorted(p["participant_sid"] for p in tied)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_a_store_in_the_first_layout_reports_like_the_api(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A store as the first release wrote it (layout 1) reports exactly what the API does."""
    async with first_layout_store(kind, tmp_path, request) as (fake, spec):
        await _assert_reports_equal(fake, spec, tmp_path)


@contextlib.asynccontextmanager
async def first_layout_store(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[FakeTwilio, str]]:
    """A fake with drifted data, and a store of ``kind`` in layout 1 holding all of it."""
    async with FakeTwilio(conferences=30, participants_per_conference=(0, 6), seed=33) as fake:
        drift(fake.data, nan=kind == "sqlite")  # jsonb holds no NaN
        records = [
            (c, fake.data.participant_summaries[c["conference_sid"]]) for c in fake.data.conferences
        ]
        await write_v1(spec := await _spec(kind, tmp_path, request), records)
        yield fake, spec


async def test_filters_and_limit_select_what_the_api_selects(tmp_path: Path) -> None:
    """--status and --limit on a store select the conferences the API's filters select."""
    async with sync_fake(40) as fake:
        fake.data.processing.settle_all()
        drift(fake.data)
        spec = str(tmp_path / "store.db")
        env = fake_env(fake)
        assert (await cli("sync", "--db", spec, *_range(fake), env=env)).returncode == 0
        options = ["-f", "json", "--status", "completed", "--limit", "12", *_range(fake)]
        online = await cli("report", *options, env=env)
        offline = await cli("report", "--db", spec, *options, env=env)
    assert online.returncode == offline.returncode == 0, offline.stderr
    assert offline.stdout == online.stdout
    assert json.loads(offline.stdout)["conferences"] == 12


# -- what the reader refuses --------------------------------------------------------------


def test_a_row_no_parser_can_read_fails_the_report_in_one_line(tmp_path: Path) -> None:
    """A stored document that is not JSON at all is one error line naming the store."""
    path = tmp_path / "damaged.db"
    summary = {"conference_sid": "CF" + "0" * 32, "create_time": "2025-06-01T00:00:00Z"}
    write_sqlite_v1(path, [(summary, [{"participant_sid": "CP" + "0" * 32}])])
    with closing(sqlite3.connect(path)) as db:
        db.execute("UPDATE participant_summaries SET json = '{\"mos\": 4.'")
        db.commit()
    done = asyncio.run(cli("report", "--db", str(path)))
    assert done.returncode == 1
    assert_one_line_error(done)
    assert f"store {path}: a participant of CF{'0' * 32} is not a JSON object" in done.stderr


async def test_a_postgres_database_without_a_store_is_refused(
    postgres_server: PostgresServer,
) -> None:
    """report --db on a PostgreSQL database that holds no store: one line, exit 1."""
    url = await fresh_database(postgres_server)
    done = await cli("report", "--db", url)
    assert done.returncode == 1
    assert_one_line_error(done)
    assert "no store at postgresql://" in done.stderr


def test_nan_from_a_store_counts_as_no_measure() -> None:
    """A NaN MOS kept by the SQLite store is read through the converter: not a measure."""
    summary = {"conference_sid": "CF" + "0" * 32, "status": "completed"}
    participant = {"participant_sid": "CP1", "metrics": {"inbound": {"mos": math.nan}}}
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "nan.db"
        write_sqlite_v1(path, [(summary, [participant])])
        ((conference, (stored,)),) = asyncio.run(_stored_groups(str(path)))
    assert conference.status == "completed"
    assert stored.inbound is not None
    assert stored.inbound.mos is None


# -- the first release's store, this release's former layout, and this one -----------------


async def _outputs(spec: str, tmp_path: Path) -> list[bytes]:
    """report --db (JSON, table, HTML) and export --db of ``spec``, as bytes."""
    outputs = []
    for options in (["-f", "json"], ["-f", "table", "--top", "all"]):
        done = await cli("report", "--db", spec, *options)
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout.encode())
    page, export = tmp_path / "page.html", tmp_path / "export.jsonl"
    done = await cli("report", "--db", spec, "--html", str(page))
    assert done.returncode == 0, done.stderr
    outputs.append(_page(page).encode())
    done = await cli("export", "--db", spec, "--with-participants", "-o", str(export))
    assert done.returncode == 0, done.stderr
    outputs.append(export.read_bytes())
    return outputs


async def test_stores_of_every_layout_report_and_export_alike(tmp_path: Path) -> None:
    """The first release's store (layout 1), as the last release left it (2), and migrated.

    Layouts 1 and 2 are read from ``json``, the migrated store from its typed columns: the
    reports are the same bytes, and the export too (but for one conference's place in
    layout 1).
    """
    from tests.test_store_migration import DATA
    from twilio_conf_insights.sync._sqlite_schema import STEPS, migrate

    layouts = {}
    for layout in (1, 2, None):
        path = tmp_path / f"layout-{layout}.db"
        shutil.copyfile(DATA / "store_v1.db", path)
        if layout == 2:
            with contextlib.closing(sqlite3.connect(path, isolation_level=None)) as db:
                migrate(db, str(path), steps=STEPS[:2])
        elif layout is None:
            await (await open_store(str(path))).aclose()
        with contextlib.closing(sqlite3.connect(path)) as db:
            found = db.execute("PRAGMA user_version").fetchone()[0]
        assert layout is None or found == layout
        layouts[found] = await _outputs(str(path), tmp_path)
    assert sorted(layouts) == [1, 2, SCHEMA_VERSION]
    assert layouts[1][:3] == layouts[2][:3] == layouts[SCHEMA_VERSION][:3]  # the reports
    assert layouts[2][3] == layouts[SCHEMA_VERSION][3]  # the export
    # Layout 1 kept an unreadable create_time as sent (layout 2 empties it), which moves
    # that conference in the newest-first order: the same lines, one elsewhere.
    assert sorted(layouts[1][3].splitlines()) == sorted(layouts[2][3].splitlines())
    assert b'"poor_participants": [\n    {' in layouts[1][0]  # something to compare
