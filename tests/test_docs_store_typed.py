"""The typed-columns example (tests/docs_examples/store_typed.py) answers as the JSON one."""

from __future__ import annotations

from tests.docs_examples import store_sqlite, store_typed
from tests.test_docs_store_queries import Records, sqlite_store

__all__ = ["sqlite_store"]  # the fixture, imported for the test below


def test_typed_columns_list_the_poor_participants_json_lists(
    sqlite_store: tuple[str, Records],
) -> None:
    """Poor participants from the typed columns are those json_extract finds, in order."""
    path, _ = sqlite_store
    start, end = "2000-01-01T00:00:00Z", "2100-01-01T00:00:00Z"
    found = store_typed.poor_participants(path, start, end)
    assert found == store_sqlite.poor_participants(path, start, end)
    assert len(found) > 3
