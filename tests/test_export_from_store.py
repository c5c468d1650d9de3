"""``export --db``: the stored JSON, never decoded into models, written as the API's export.

The export from a store reads the ``json`` columns and writes them (``cli/_export_source``):
SQLite's compact texts are copied, PostgreSQL's are parsed and written again. These tests
hold the result byte for byte to the API's export of the same data, in every format, on
drifted data, and to ``json.dumps`` over arbitrary JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.helpers import assert_one_line_error, cli, fake_env
from tests.store_fixtures import postgres_server
from tests.store_v1 import write_sqlite_v1
from tests.test_report_from_store import _range, first_layout_store, synced_drifted_store
from twilio_conf_insights.cli._export import StoredJson, record_text
from twilio_conf_insights.cli._store_reader import is_postgres, parsed
from twilio_conf_insights.sync._schema import json_text
from twilio_conf_insights.testing import FakeTwilio

__all__ = ["postgres_server"]  # the fixture, imported for the tests below


def _stdlib(record: Any) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


# -- the texts: what json.dumps writes ---------------------------------------------------------

_floats = st.floats(allow_nan=False, allow_infinity=False) | st.floats(
    min_value=-1e-3, max_value=1e-3, allow_nan=False
)
_plain = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | _floats | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
#: What a store may hold beyond that: NaN, infinities, integers beyond 64 bits.
_any = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
_objects = st.dictionaries(
    st.sampled_from(["participants", "conference_sid", "mos", "e-1"]) | st.text(max_size=8),
    _any,
    max_size=5,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.text(max_size=8), _plain, max_size=6))
def test_record_text_is_json_dumps_for_plain_json(record: dict[str, Any]) -> None:
    """record_text(plain=True) writes exactly json.dumps' compact text, small floats included."""
    assert record_text(record, plain=True) == _stdlib(record)


@settings(max_examples=300, deadline=None)
@given(_objects, st.none() | st.lists(_objects, max_size=3))
def test_a_stored_record_is_written_as_json_dumps_writes_it(
    conference: dict[str, Any], participants: list[dict[str, Any]] | None
) -> None:
    """A stored record, copied or written again, is json.dumps' text of what a reader reads.

    That is what the export wrote when it decoded the record into models (``to_dict()``
    gives the JSON read back): orjson reads an integer beyond 64 bits as a float.
    """
    texts = None if participants is None else [json_text(p) for p in participants]
    stored = StoredJson(json_text(conference), texts, compact=True)
    record = parsed(json_text(conference))[0]
    if texts is not None:
        record = {**record, "participants": [parsed(text)[0] for text in texts]}
    assert stored.text() == _stdlib(record)


# -- the whole export: from the API and from the store ------------------------------------------


#: Export options: every format, with and without participants, filtered and limited.
_CASES: list[list[str]] = [
    ["--with-participants", "-o", "x.jsonl"],
    ["-o", "x.jsonl"],
    ["--with-participants", "-o", "x.json"],
    ["--with-participants", "-o", "x.csv"],
    ["-o", "x.csv"],
    ["--with-participants", "--status", "completed", "--limit", "7", "-o", "y.jsonl"],
]


def _cell(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _values(path: Path) -> list[Any]:
    """An export's records as JSON values (objects compare without their keys' order)."""
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        return list(json.loads(text))
    if path.suffix == ".csv":
        return [[_cell(cell) for cell in row] for row in csv.reader(io.StringIO(text))]
    return [json.loads(line) for line in text.splitlines()]


async def _assert_exports_equal(fake: FakeTwilio, spec: str, tmp_path: Path) -> None:
    """Every format, with and without participants, filtered and limited, as it was written.

    From SQLite: the API's bytes. From PostgreSQL: the API's records (jsonb keeps no key
    order: objects come with their keys in jsonb's order, as they always did).
    """
    env = fake_env(fake)
    for options in _CASES:
        name = options[-1]
        api, store = tmp_path / f"api-{name}", tmp_path / f"store-{name}"
        online = await cli("export", *options[:-2], *_range(fake), "-o", str(api), env=env)
        offline = await cli(
            "export", "--db", spec, *options[:-2], *_range(fake), "-o", str(store), env=env
        )
        assert online.returncode == offline.returncode == 0, offline.stderr
        if is_postgres(spec):
            assert _values(store) == _values(api), options
        else:
            assert store.read_bytes() == api.read_bytes(), options
        assert api.stat().st_size > 100, options


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_export_from_a_synced_store_equals_the_api_on_drifted_data(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A store synced from drifted data exports exactly what the API does, in every format."""
    async with synced_drifted_store(kind, tmp_path, request, conferences=40) as (fake, spec):
        await _assert_exports_equal(fake, spec, tmp_path)


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_a_store_in_the_first_layout_exports_like_the_api(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A store as the first release wrote it (layout 1) exports exactly what the API does."""
    async with first_layout_store(kind, tmp_path, request) as (fake, spec):
        await _assert_exports_equal(fake, spec, tmp_path)


def test_a_row_no_parser_can_read_fails_a_csv_export_in_one_line(tmp_path: Path) -> None:
    """A stored document that is not JSON at all is one error line naming the store."""
    path = tmp_path / "damaged.db"
    summary = {"conference_sid": "CF" + "0" * 32, "create_time": "2025-06-01T00:00:00Z"}
    write_sqlite_v1(path, [(summary, [{"participant_sid": "CP" + "0" * 32}])])
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute("UPDATE participant_summaries SET json = '{\"mos\": 4.'")
        db.commit()
    out = tmp_path / "out.csv"
    done = asyncio.run(cli("export", "--db", str(path), "--with-participants", "-o", str(out)))
    assert done.returncode == 1
    assert_one_line_error(done)
    assert f"store {path}: a participant of CF{'0' * 32} is not a JSON object" in done.stderr
