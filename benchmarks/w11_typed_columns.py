"""W11 sketch: what typed columns beside ``json`` would save ``report --db`` at 1,000,000 rows.

    python benchmarks/w11_typed_columns.py [--participants 1000000]

Not a feature: an experiment for the store's next layout. It copies the report's values of
the cached SQLite store (``w11_stores.py``) into typed columns of a scratch database (what
a writer would fill at upsert time, typed by the rules of ``cli/_report_values.py``), then
reads them back the way ``report --db -f json`` reads the JSON, in one process: the same
value rows, the same :class:`ReportBuilder`, the same JSON output. It prints the seconds
(wall and CPU) of reading from JSON and from typed columns, and checks both reports agree.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from w11_stores import DEFAULT_CACHE, sqlite_store

from twilio_conf_insights.cli._output import report_json, write_record
from twilio_conf_insights.cli._report import ReportBuilder
from twilio_conf_insights.cli._report_source import add_stored
from twilio_conf_insights.cli._report_values import (
    ConferenceValues,
    ParticipantValues,
    StreamValues,
)
from twilio_conf_insights.sync import ReportQuery

#: The columns a store would keep beside ``json`` for reports, as SQLite types.
TYPED_PARTICIPANT_COLUMNS = """
    conference_sid TEXT, participant_sid TEXT, label TEXT, participant_region TEXT,
    conference_region TEXT, call_type TEXT, inbound_measured INTEGER, inbound_mos REAL,
    inbound_packet_loss REAL, inbound_jitter REAL, inbound_latency REAL,
    outbound_measured INTEGER, outbound_mos REAL, outbound_packet_loss REAL,
    outbound_jitter REAL, outbound_latency REAL
"""
TYPED_CONFERENCE_COLUMNS = """
    conference_sid TEXT PRIMARY KEY, create_time TEXT, friendly_name TEXT, status TEXT,
    end_reason TEXT, mixer_region TEXT, tags TEXT, issues TEXT, started TEXT
"""


def _number(path: str) -> str:
    kind = f"json_type(json, '{path}')"
    return f"CASE WHEN {kind} IN ('integer', 'real') THEN json_extract(json, '{path}') END"


def build_typed(store: Path, scratch: Path) -> None:
    """Fill the typed tables of ``scratch`` from ``store`` (a writer would do it on upsert)."""
    db = sqlite3.connect(scratch)
    db.execute(f"ATTACH '{store.absolute().as_uri()}?mode=ro' AS store")
    db.execute(f"CREATE TABLE conferences ({TYPED_CONFERENCE_COLUMNS})")
    db.execute(
        "INSERT INTO conferences SELECT conference_sid, create_time,"
        " json ->> '$.friendly_name', json ->> '$.status', json ->> '$.end_reason',"
        " json ->> '$.mixer_region', json -> '$.tags', NULL,"
        " coalesce(json ->> '$.start_time', json ->> '$.create_time') FROM store.conferences"
    )
    streams = ", ".join(
        f"json_type(json, '$.metrics.{d}') = 'object', "
        + ", ".join(
            _number(f"$.metrics.{d}.{m}")
            for m in ("mos", "packet_loss_percentage", "jitter.avg", "latency.avg")
        )
        for d in ("inbound", "outbound")
    )
    db.execute(f"CREATE TABLE participant_summaries ({TYPED_PARTICIPANT_COLUMNS})")
    db.execute(
        "INSERT INTO participant_summaries SELECT conference_sid, json ->> '$.participant_sid',"
        " json ->> '$.label', json ->> '$.participant_region', json ->> '$.conference_region',"
        f" json ->> '$.call_type', {streams} FROM store.participant_summaries"
    )
    db.execute("CREATE INDEX by_conference ON participant_summaries (conference_sid)")
    db.execute("CREATE INDEX by_time ON conferences (create_time)")
    db.commit()
    db.close()


def _stream(row: tuple[Any, ...], at: int) -> StreamValues | None:
    if not row[at]:
        return None
    return StreamValues(*row[at + 1 : at + 5])


def report_from_typed(scratch: Path) -> ReportBuilder:
    """The report's builder fed from the typed columns, batch by batch like the JSON reader."""
    builder = ReportBuilder()
    db = sqlite3.connect(f"{scratch.absolute().as_uri()}?mode=ro", uri=True)
    order = [
        sid
        for (sid,) in db.execute(
            "SELECT conference_sid FROM conferences ORDER BY create_time DESC, conference_sid DESC"
        )
    ]
    for start in range(0, len(order), 500):
        sids = order[start : start + 500]
        marks = ",".join("?" * len(sids))
        conferences = {
            row[0]: ConferenceValues(row[0], row[1], row[2], row[3], row[4], (), (), None)
            for row in db.execute(
                "SELECT conference_sid, friendly_name, status, end_reason, mixer_region"
                f" FROM conferences WHERE conference_sid IN ({marks})",
                sids,
            )
        }
        participants: dict[str, list[ParticipantValues]] = {}
        for row in db.execute(
            f"SELECT * FROM participant_summaries WHERE conference_sid IN ({marks})", sids
        ):
            sid, psid, label, region, conference_region, call_type = row[:6]
            participants.setdefault(sid, []).append(
                ParticipantValues(
                    psid,
                    label,
                    region,
                    conference_region,
                    call_type,
                    _stream(row, 6),
                    _stream(row, 11),
                )
            )
        for sid in sids:
            builder.add_values(conferences[sid], participants.get(sid, []))
    db.close()
    return builder


def _timed(label: str, work: object) -> None:
    print(f"{label}: wall {work[0]:.2f} s, CPU {work[1]:.2f} s")  # type: ignore[index]


def main() -> None:
    """Build the typed copy, then time both readers."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--participants", type=int, default=1_000_000)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    options = parser.parse_args()
    store = sqlite_store(options.cache, options.participants)
    with tempfile.TemporaryDirectory(prefix="tci-w11-typed-") as directory:
        scratch = Path(directory) / "typed.db"
        build_typed(store, scratch)
        outputs = []
        for label in ("from json", "from typed columns"):
            wall, cpu = time.perf_counter(), time.process_time()
            if label == "from json":
                builder = ReportBuilder()
                asyncio.run(add_stored(str(store), ReportQuery(), builder))
            else:
                builder = report_from_typed(scratch)
            text = io.StringIO()
            # Tags and issues are left out of the typed sketch: compare what both read.
            report = report_json(builder.result(), top=None)
            for key in ("by_tag",):
                report.pop(key)
            write_record(report, "json", text)
            outputs.append(text.getvalue())
            _timed(label, (time.perf_counter() - wall, time.process_time() - cpu))
        print("same figures:", outputs[0] == outputs[1])


if __name__ == "__main__":
    main()
