"""Query a store with Python's own sqlite3: the participants whose call quality was poor."""

import sqlite3
from contextlib import closing

# A participant's MOS is the lower of its two directions; json_extract gives NULL for a
# direction that was not measured (and for a value that is not a number's JSON).
POOR_PARTICIPANTS = """
WITH measured AS (
    SELECT p.conference_sid,
           p.participant_sid,
           json_extract(p.json, '$.label') AS label,
           json_extract(p.json, '$.metrics.inbound.mos') AS inbound,
           json_extract(p.json, '$.metrics.outbound.mos') AS outbound
    FROM participant_summaries AS p
    JOIN conferences AS c USING (conference_sid)
    WHERE c.create_time >= :start AND c.create_time < :end
      AND json_valid(p.json)  -- SQLite before 3.42 cannot read a NaN Twilio sent
)
SELECT conference_sid, participant_sid, label,
       min(coalesce(inbound, outbound), coalesce(outbound, inbound)) AS mos
FROM measured
WHERE mos < :below
ORDER BY mos, participant_sid
"""


def poor_participants(
    store: str, start: str, end: str, below: float = 3.5
) -> list[tuple[str, str, str | None, float]]:
    """``(conference, participant, label, MOS)`` of every participant with a MOS below ``below``.

    ``start`` and ``end`` bound the conferences' ``create_time`` (UTC, ``2025-06-01T00:00:00Z``).
    """
    # Read-only: a sync may be writing at the same time. closing(): a connection's own
    # `with` ends a transaction but leaves the connection open.
    with closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as db:
        rows = db.execute(POOR_PARTICIPANTS, {"start": start, "end": end, "below": below})
        return rows.fetchall()
