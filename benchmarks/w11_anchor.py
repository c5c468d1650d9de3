"""W11's anchor: ``report --db -f json`` from a SQLite store, written by hand.

    python benchmarks/w11_anchor.py STORE.db > figures.json

What a user writes in half an hour: SQLite's ``->>`` reads only the needed values, Python
counts them and takes the percentiles. No drift handling, no filters. It prints the same
JSON document as the report, so both pay for the same output (``w11.py`` checks the two
agree on its stores).
"""

import json
import math
import sqlite3
import sys
from collections import Counter
from typing import Any


def pct(values: list[float], q: float) -> float:
    """Linear interpolation between the closest ranks of sorted values."""
    i = (len(values) - 1) * q
    low = math.floor(i)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (i - low)


def ranked(counts: Counter[str]) -> dict[str, int]:
    """Largest first, then by name."""
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
status, reason, mixer, tags = Counter[str](), Counter[str](), Counter[str](), Counter[str]()
conferences: dict[str, tuple[str, str]] = {}
for sid, name, s, e, m, t in db.execute(
    "SELECT conference_sid, json ->> 'friendly_name', json ->> 'status', json ->> 'end_reason',"
    " json ->> 'mixer_region', json -> 'tags' FROM conferences"
):
    status[s or "(none)"] += 1
    reason[e or "(none)"] += 1
    mixer[m or "(none)"] += 1
    tags.update(set(json.loads(t or "null") or ()))
    conferences[sid] = (name, m)

measures = ", ".join(
    f"json -> '$.metrics.{d}' IS NOT NULL, json ->> '$.metrics.{d}.mos',"
    f" json ->> '$.metrics.{d}.packet_loss_percentage', json ->> '$.metrics.{d}.jitter.avg'"
    for d in ("inbound", "outbound")
)
participants = measured = 0
mos: dict[str, list[float]] = {}
poor: list[dict[str, Any]] = []
for c, p, label, region, conference_region, *streams in db.execute(
    "SELECT conference_sid, json ->> 'participant_sid', json ->> 'label',"
    f" json ->> 'participant_region', json ->> 'conference_region', {measures}"
    " FROM participant_summaries WHERE conference_sid IN (SELECT conference_sid FROM conferences)"
):
    participants += 1
    present = [streams[i + 1 : i + 4] for i in (0, 4) if streams[i]]
    if not present:
        continue
    measured += 1
    worst_mos = min((s[0] for s in present if s[0] is not None), default=None)
    loss = max((s[1] for s in present if s[1] is not None), default=None)
    jitter = max((s[2] for s in present if s[2] is not None), default=None)
    region = region or conference_region or conferences[c][1] or "unknown"
    if worst_mos is not None:
        mos.setdefault(region, []).append(worst_mos)
    problems = [
        name
        for name, bad in (
            ("low_mos", worst_mos is not None and worst_mos < 3.5),
            ("high_packet_loss", loss is not None and loss > 1.0),
            ("high_jitter", jitter is not None and jitter > 30.0),
        )
        if bad
    ]
    if problems:
        poor.append(
            {
                "conference_sid": c,
                "friendly_name": conferences[c][0],
                "participant_sid": p,
                "label": label,
                "region": region,
                "mos": worst_mos,
                "packet_loss_percentage": loss,
                "jitter_avg": jitter,
                "problems": problems,
            }
        )
poor.sort(
    key=lambda q: (
        q["mos"] if q["mos"] is not None else math.inf,
        -(q["packet_loss_percentage"] or 0),
        -(q["jitter_avg"] or 0),
        q["participant_sid"],
    )
)
regions = []
for name, values in sorted(mos.items(), key=lambda item: (-len(item[1]), item[0])):
    values.sort()
    regions.append(
        {
            "region": name,
            "participants": len(values),
            **{f"p{q}": round(pct(values, q / 100), 4) for q in (10, 50, 90)},
            "mean": round(math.fsum(values) / len(values), 4),
        }
    )
report = {
    "conferences": len(conferences),
    "participants": participants,
    "participants_with_metrics": measured,
    "by_status": ranked(status),
    "by_end_reason": ranked(reason),
    "by_mixer_region": ranked(mixer),
    "by_tag": ranked(tags),
    "poor_participants": poor,
    "mos_by_region": regions,
    "incomplete_conferences": [],
    "thresholds": {"mos_below": 3.5, "packet_loss_above": 1.0, "jitter_above": 30.0},
    "poor_participants_total": len(poor),
}
print(json.dumps(report, indent=2, ensure_ascii=False))
