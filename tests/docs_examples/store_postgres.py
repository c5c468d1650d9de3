"""Query a PostgreSQL store: jsonb operators, and percentiles computed by the server."""

import asyncpg

# A value that is not a JSON number (drift, null) is left out rather than cast.
MOS_BY_REGION = """
WITH measured AS (
    SELECT coalesce(p.json ->> 'participant_region', p.json ->> 'conference_region',
                    c.json ->> 'mixer_region', 'unknown') AS region,
           least(
               CASE WHEN jsonb_typeof(p.json #> '{metrics,inbound,mos}') = 'number'
                    THEN (p.json #>> '{metrics,inbound,mos}')::float8 END,
               CASE WHEN jsonb_typeof(p.json #> '{metrics,outbound,mos}') = 'number'
                    THEN (p.json #>> '{metrics,outbound,mos}')::float8 END
           ) AS mos
    FROM participant_summaries AS p
    JOIN conferences AS c USING (conference_sid)
    WHERE c.create_time >= $1 AND c.create_time < $2
)
SELECT region,
       count(*) AS participants,
       percentile_cont(ARRAY[0.1, 0.5, 0.9]) WITHIN GROUP (ORDER BY mos) AS percentiles
FROM measured
WHERE mos IS NOT NULL
GROUP BY region
ORDER BY participants DESC, region
"""


async def mos_by_region(url: str, start: object, end: object) -> list[asyncpg.Record]:
    """``(region, participants, [p10, p50, p90])`` of the conferences created in [start, end)."""
    conn = await asyncpg.connect(url)
    try:
        rows: list[asyncpg.Record] = await conn.fetch(MOS_BY_REGION, start, end)
        return rows
    finally:
        await conn.close()
