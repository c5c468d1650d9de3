"""Query a store's typed columns: the participants whose call quality was poor, no JSON read."""

import sqlite3
from contextlib import closing

# The typed columns hold each direction's MOS as a number, NULL when that direction was
# not measured or its value is not a finite number: the lower of the two is the MOS.
POOR_PARTICIPANTS = """
SELECT p.conference_sid, p.participant_sid, p.label,
       CASE WHEN p.inbound_mos IS NULL THEN p.outbound_mos
            WHEN p.outbound_mos IS NULL THEN p.inbound_mos
            ELSE min(p.inbound_mos, p.outbound_mos) END AS mos
FROM participant_summaries AS p
JOIN conferences AS c USING (conference_sid)
WHERE c.create_time >= :start AND c.create_time < :end AND mos < :below
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
