"""Load a store into pandas: conferences per day and status, MOS per region."""

import sqlite3
from contextlib import closing

import pandas as pd

CONFERENCES = """
SELECT conference_sid,
       create_time,
       json_extract(json, '$.status') AS status,
       json_extract(json, '$.mixer_region') AS mixer_region
FROM conferences
"""

PARTICIPANTS = """
SELECT conference_sid,
       participant_sid,
       json_extract(json, '$.participant_region') AS region,
       json_extract(json, '$.metrics.inbound.mos') AS inbound_mos,
       json_extract(json, '$.metrics.outbound.mos') AS outbound_mos
FROM participant_summaries
WHERE json_valid(json)
"""


def load(store: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The conferences and the participant summaries of ``store``, a few columns each."""
    with closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as db:
        conferences = pd.read_sql_query(CONFERENCES, db, parse_dates=["create_time"])
        participants = pd.read_sql_query(PARTICIPANTS, db)
    # The lower MOS of the two directions (NaN where neither was measured).
    participants["mos"] = participants[["inbound_mos", "outbound_mos"]].min(axis=1)
    return conferences, participants


def conferences_per_day(conferences: pd.DataFrame) -> pd.DataFrame:
    """How many conferences were created each day (UTC), one column per status."""
    day = conferences["create_time"].dt.floor("D").rename("day")
    return conferences.groupby([day, "status"]).size().unstack(fill_value=0)


def mos_by_region(participants: pd.DataFrame) -> pd.DataFrame:
    """Participants with a MOS, and its 10th, 50th and 90th percentiles, per region."""
    by_region = participants.dropna(subset=["mos"]).groupby("region")["mos"]
    table = pd.DataFrame(
        {
            "participants": by_region.size(),
            "p10": by_region.quantile(0.1),
            "p50": by_region.quantile(0.5),
            "p90": by_region.quantile(0.9),
        }
    )
    return table.sort_values("participants", ascending=False)
