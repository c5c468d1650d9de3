"""Query a store with DuckDB: straight from the SQLite file, or from a Parquet copy."""

import sqlite3
from contextlib import closing
from pathlib import Path

import duckdb
import pandas as pd

# The MOS of each participant, on its worse direction, with its region. `json ->> path`
# gives text; TRY_CAST leaves NULL where Twilio sent something that is not a number.
MOS_BY_REGION = """
WITH measured AS (
    SELECT coalesce(json ->> '$.participant_region', 'unknown') AS region,
           least(TRY_CAST(json ->> '$.metrics.inbound.mos' AS DOUBLE),
                 TRY_CAST(json ->> '$.metrics.outbound.mos' AS DOUBLE)) AS mos
    FROM participant_summaries
)
SELECT region,
       count(*) AS participants,
       quantile_cont(mos, 0.5) AS median_mos
FROM measured
WHERE isfinite(mos)  -- DuckDB reads a NaN Twilio sent: leave it out like a missing MOS
GROUP BY region
ORDER BY participants DESC, region
"""


def mos_by_region_from_store(store: str) -> list[tuple[str, int, float]]:
    """Median MOS per region, reading the store file itself.

    DuckDB reads SQLite files through its ``sqlite`` extension, which it downloads the
    first time (``INSTALL sqlite``): this needs the network once.
    """
    with duckdb.connect() as db:
        db.execute("INSTALL sqlite")
        db.execute("LOAD sqlite")
        db.execute(f"ATTACH '{store}' AS store (TYPE sqlite, READ_ONLY)")
        db.execute("USE store")
        return db.execute(MOS_BY_REGION).fetchall()


def copy_to_parquet(store: str, directory: Path) -> None:
    """Copy the store's two public tables to Parquet files in ``directory`` (no extension)."""
    with (
        closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as source,
        duckdb.connect() as db,
    ):
        for table in ("conferences", "participant_summaries"):
            db.register(table, pd.read_sql_query(f"SELECT * FROM {table}", source))
            db.execute(f"COPY {table} TO '{directory / table}.parquet' (FORMAT parquet)")


def mos_by_region_from_parquet(directory: Path) -> list[tuple[str, int, float]]:
    """Median MOS per region, from the Parquet copy of :func:`copy_to_parquet`."""
    with duckdb.connect() as db:
        db.execute(
            "CREATE VIEW participant_summaries AS SELECT * REPLACE (json::JSON AS json)"
            f" FROM '{directory / 'participant_summaries'}.parquet'"
        )
        return db.execute(MOS_BY_REGION).fetchall()
