"""The ``WHERE`` clause that selects a :class:`~._store.ReportQuery`'s conferences, per store.

One builder for SQLite and PostgreSQL, over the public columns only (``create_time``,
``account_sid``, ``json``), so that any reader of a store, of any layout, selects the same
conferences.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._store import ReportQuery
from ._units import format_time

__all__ = ["conference_filters", "matches_equals"]


def conference_filters(query: ReportQuery, *, postgres: bool) -> tuple[str, list[Any]]:
    """`` WHERE ...`` (empty when nothing is filtered) and its parameters, in order.

    Placeholders are ``?`` for SQLite, ``$1``, ``$2``... for PostgreSQL. On SQLite a
    document its JSON functions cannot parse (a NaN, before SQLite 3.42) passes the
    ``json`` filters: the reader decodes such a document itself and filters it there.
    """
    clauses: list[str] = []
    params: list[Any] = []

    def bind(value: Any) -> str:
        params.append(value)
        return f"${len(params)}" if postgres else "?"

    def moment(value: Any) -> Any:
        # PostgreSQL compares timestamptz; SQLite the stored text, which sorts as time.
        return value if postgres else format_time(value)

    if query.created_after is not None:
        clauses.append(f"create_time >= {bind(moment(query.created_after))}")
    if query.created_before is not None:
        clauses.append(f"create_time < {bind(moment(query.created_before))}")
    if query.account_sid is not None:
        clauses.append(f"account_sid = {bind(query.account_sid)}")
    for key, value in query.equals:
        if postgres:
            clauses.append(f"json ->> {bind(key)} = {bind(value)}")
        else:
            clauses.append(
                f"CASE WHEN json_valid(json) THEN json_extract(json, {bind('$.' + key)})"
                f" = {bind(value)} ELSE 1 END"
            )
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def matches_equals(document: Any, equals: Sequence[tuple[str, str]]) -> bool:
    """The ``equals`` filter in Python, for a document SQL could not filter."""
    return type(document) is dict and all(document.get(key) == value for key, value in equals)
