"""``--db`` to a store: a ``postgresql://`` URL opens PostgreSQL, anything else a SQLite file."""

from __future__ import annotations

from ._store import Store, StoreError

__all__ = ["open_store"]


async def open_store(spec: str, *, read_only: bool = False) -> Store:
    """Open the store ``spec`` names; PostgreSQL needs the ``[postgres]`` extra."""
    if spec.startswith(("postgresql://", "postgres://")):
        try:
            from ._postgres import PostgresStore
        except ImportError:
            raise StoreError(
                "a PostgreSQL store needs asyncpg: pip install 'twilio-conf-insights[postgres]'"
            ) from None
        return await PostgresStore.open(spec, read_only=read_only)
    from ._sqlite import SQLiteStore

    return await SQLiteStore.open(spec, read_only=read_only)
