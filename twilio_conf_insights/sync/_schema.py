"""The SQLite store's tables: the public ones users query, and the sync's own state.

``conferences`` and ``participant_summaries`` (with the columns below) are a public
contract: users query them with SQL, DuckDB or pandas. ``json`` is the API's JSON of the
latest fetch, exactly as ``to_dict()`` gives it. More columns may be added; none removed.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any


def _stdlib_dumps(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()


def _exact(data: Any, text: bytes) -> bool:
    return True


try:  # the `fast` extra: several times faster, and a sync writes every record it fetches
    import orjson

    _dumps: Callable[[Any], bytes] = orjson.dumps

    def _exact(data: Any, text: bytes) -> bool:
        # orjson writes NaN and the infinities as null (the standard library as NaN and
        # Infinity, which it reads back): only a text with a null can have lost one.
        return b"null" not in text or orjson.loads(text) == data

except ImportError:  # pragma: no cover - depends on the environment
    _dumps = _stdlib_dumps

__all__ = ["APPLICATION_ID", "SCHEMA", "SCHEMA_VERSION", "json_text", "upsert"]

#: ``PRAGMA application_id`` of a store ("TCIS"): how a store is told from other databases.
APPLICATION_ID = 0x54434953
#: ``PRAGMA user_version`` of the current layout.
SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE conferences (
    conference_sid   TEXT PRIMARY KEY,
    account_sid      TEXT,
    create_time      TEXT,              -- UTC, 2025-06-01T08:00:00Z: sorts as time
    processing_state TEXT,
    settled          INTEGER NOT NULL,  -- 1 once it and all its participants are terminal
    synced_at        TEXT NOT NULL,     -- when this row last changed
    json             TEXT NOT NULL
);
CREATE INDEX conferences_by_create_time ON conferences (create_time);

CREATE TABLE participant_summaries (
    participant_sid  TEXT PRIMARY KEY,
    conference_sid   TEXT NOT NULL,
    processing_state TEXT,
    json             TEXT NOT NULL
);
CREATE INDEX participant_summaries_by_conference ON participant_summaries (conference_sid);

-- Sync state: which windows of which scope were listed, and which are closed.
CREATE TABLE sync_windows (
    scope        TEXT NOT NULL,
    window_start TEXT NOT NULL,
    window_end   TEXT NOT NULL,
    unit         TEXT NOT NULL,         -- the WorkUnit as JSON
    closed       INTEGER NOT NULL DEFAULT 0,
    listed_at    TEXT,
    PRIMARY KEY (scope, window_start, window_end)
);
"""


#: The columns each upsert writes, in order; the first is the key.
_UPSERTED = {
    "conferences": (
        "conference_sid",
        "account_sid",
        "create_time",
        "processing_state",
        "settled",
        "synced_at",
        "json",
    ),
    "participant_summaries": ("participant_sid", "conference_sid", "processing_state", "json"),
}


def upsert(table: str, values: Sequence[str]) -> str:
    """``INSERT ... ON CONFLICT DO UPDATE`` of one row of ``table`` (SQLite and PostgreSQL).

    ``values`` are the placeholders in column order, in the driver's style (``?`` or ``$1``,
    with casts where the database needs them).
    """
    key, *rest = columns = _UPSERTED[table]
    if len(values) != len(columns):
        raise ValueError(f"{table} takes {len(columns)} values, not {len(values)}")
    updates = ",\n    ".join(f"{column} = excluded.{column}" for column in rest)
    return (
        f"INSERT INTO {table} ({', '.join(columns)})\nVALUES ({', '.join(values)})\n"
        f"ON CONFLICT ({key}) DO UPDATE SET\n    {updates}\n"
    )


def json_text(data: Any) -> str:
    """Compact JSON text of a record, for a ``json`` column."""
    try:
        text = _dumps(data)
    except TypeError:  # orjson refuses integers beyond 64 bits: the standard library writes them
        return _stdlib_dumps(data).decode()
    return text.decode() if _exact(data, text) else _stdlib_dumps(data).decode()
