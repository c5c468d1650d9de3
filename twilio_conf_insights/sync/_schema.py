"""What both stores' layouts share: the columns a write sets, the upsert, the ``json`` text.

``conferences`` and ``participant_summaries`` (with the columns below) are a public
contract: users query them with SQL, DuckDB or pandas. ``json`` is the API's JSON of the
stored version, exactly as ``to_dict()`` gives it. Columns may be added; none removed.
Each store's layout is built by its migration steps (``_sqlite_schema.py``,
``_postgres_schema.py``), a new store by running all of them: a migrated store and a new
one have the same layout.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from ._typed import PARTICIPANT_TYPED_COLUMNS


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

__all__ = [
    "APPLICATION_ID",
    "CONFERENCE_COLUMNS",
    "PARTICIPANT_COLUMNS",
    "LAYOUTS",
    "SCHEMA_VERSION",
    "Step",
    "steps",
    "json_text",
    "upsert",
]

#: ``PRAGMA application_id`` of an SQLite store ("TCIS"): how a store is told from others.
APPLICATION_ID = 0x54434953
#: What each layout version changed, oldest first: both stores' steps are numbered by it.
LAYOUTS = (
    "conferences, participant summaries and sync windows",
    "merging writes: when each version was observed, the announced participant count",
    "participant summaries' report values in typed columns beside json (see _typed.py)",
    "an index of the typed columns by conference, which a report reads without the rows",
)
#: The layout this version writes (SQLite ``user_version``; PostgreSQL's version table).
SCHEMA_VERSION = len(LAYOUTS)

#: The columns of a ``conferences`` row a write sets, in order (the fields of ``ConferenceRow``).
CONFERENCE_COLUMNS = (
    "conference_sid",
    "account_sid",
    "create_time",
    "processing_state",
    "unique_participants",
    "settled",
    "observed_at",
    "synced_at",
    "json",
)
#: The columns of a ``participant_summaries`` row a write sets (the fields of ``ParticipantRow``).
PARTICIPANT_COLUMNS = (
    "participant_sid",
    "conference_sid",
    "processing_state",
    "observed_at",
    "json",
    *PARTICIPANT_TYPED_COLUMNS,
)
_COLUMNS = {"conferences": CONFERENCE_COLUMNS, "participant_summaries": PARTICIPANT_COLUMNS}


@attrs.frozen
class Step:
    """One migration step: what takes a store's layout from ``version - 1`` to ``version``.

    ``statements`` then ``fill`` (data the statements cannot compute, e.g. through the
    planner's rules) run inside the migration's one transaction; a store runs every step
    above its version, in order, and records the last one. Adding columns is one more
    entry in :data:`LAYOUTS` and one more ``(statements, fill)`` in each store's list.
    """

    version: int
    #: What the step changes, for a reader of the list.
    summary: str
    statements: tuple[str, ...]
    #: Called with the store's connection after the statements (PostgreSQL: awaited).
    fill: Callable[[Any], Any] | None = None


def steps(*changes: tuple[tuple[str, ...], Callable[[Any], Any] | None]) -> tuple[Step, ...]:
    """A store's :class:`Step` list: ``(statements, fill)`` for each of :data:`LAYOUTS`."""
    if len(changes) != len(LAYOUTS):
        raise ValueError(f"a store takes {len(LAYOUTS)} steps, not {len(changes)}")
    return tuple(
        Step(version, summary, statements, fill)
        for version, (summary, (statements, fill)) in enumerate(
            zip(LAYOUTS, changes, strict=True), 1
        )
    )


def upsert(table: str, values: Sequence[str]) -> str:
    """``INSERT ... ON CONFLICT DO UPDATE`` of one whole row of ``table`` (both stores).

    ``values`` are the placeholders in column order, in the driver's style (``?`` or ``$1``,
    with casts where the database needs them). The planner decided that the row is to be
    written; the statement does not decide again.
    """
    key, *rest = columns = _COLUMNS[table]
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
