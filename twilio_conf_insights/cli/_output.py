"""Rendering records on stdout: a table for people, JSON or JSON Lines for programs.

Records are the API's JSON (``model.to_dict()``), so ``json``/``jsonl`` output is
lossless and reads back with ``Model.from_dict``. JSON Lines and JSON stream as records
arrive; a table needs every row to size its columns, so it waits for the last one.
"""

from __future__ import annotations

import json
import re
import textwrap
import unicodedata
from collections.abc import AsyncIterable, Callable, Iterable, Mapping, Sequence
from typing import Any, TextIO

import attrs

from ._json_text import indented_text, write_utf8
from ._report import QualityReport

__all__ = [
    "CONFERENCE_COLUMNS",
    "LIVE_PARTICIPANT_COLUMNS",
    "PARTICIPANT_SUMMARY_COLUMNS",
    "REPORT_TABLE_TOP",
    "Column",
    "Record",
    "cell",
    "dig",
    "flatten_json",
    "format_table",
    "report_json",
    "report_lines",
    "resolve_format",
    "write_listing",
    "write_record",
]

#: One resource as the API's JSON object.
Record = Mapping[str, Any]

#: Widest a cell of a listing table gets before it is cut with "…".
MAX_CELL_WIDTH = 40

# Columns whose every cell is a number are right-aligned, so digits line up.
_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?")


def dig(record: Any, path: str) -> Any:
    """The value at a dotted ``path`` ("metrics.inbound.mos"), or ``None`` if absent."""
    value = record
    for key in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _worst(record: Record, path: str, pick: Callable[[Iterable[float]], float]) -> Any:
    values = [
        value
        for direction in ("inbound", "outbound")
        if isinstance(value := dig(record, f"metrics.{direction}.{path}"), int | float)
        and not isinstance(value, bool)
    ]
    return pick(values) if values else None


@attrs.frozen
class Column:
    """A column of a listing table: its header and how to get its value from a record."""

    header: str
    value: Callable[[Record], Any]

    @classmethod
    def at(cls, path: str, header: str | None = None) -> Column:
        """The column showing the value at a dotted ``path``."""
        return cls(header or path.rsplit(".", 1)[-1], lambda record: dig(record, path))


def _at(*paths: str) -> tuple[Column, ...]:
    """A column per dotted path; ``"path:header"`` names the column ``header``."""
    return tuple(Column.at(*spec.split(":")) for spec in paths)


#: Columns of ``conferences list``.
CONFERENCE_COLUMNS: Sequence[Column] = _at(
    "conference_sid",
    "friendly_name",
    "status",
    "create_time",
    "duration_seconds:duration_s",
    "unique_participants:participants",
    "mixer_region",
    "end_reason",
    "tags",
)

#: Columns of ``participant-summaries list``: quality is the worse of inbound and outbound.
PARTICIPANT_SUMMARY_COLUMNS: Sequence[Column] = (
    *_at(
        "participant_sid",
        "label",
        "call_type",
        "call_status",
        "participant_region:region",
        "duration_seconds:duration_s",
    ),
    Column("worst_mos", lambda record: _worst(record, "mos", min)),
    Column("max_loss_pct", lambda record: _worst(record, "packet_loss_percentage", max)),
    Column("max_jitter_avg_ms", lambda record: _worst(record, "jitter.avg", max)),
)

#: Columns of ``live-participants list``.
LIVE_PARTICIPANT_COLUMNS: Sequence[Column] = _at(
    "call_sid", "label", "status", "muted", "hold", "coaching", "date_updated"
)


def resolve_format(requested: str | None, stream: TextIO, *, otherwise: str = "jsonl") -> str:
    """The format asked for; by default a table on a terminal and ``otherwise`` elsewhere."""
    if requested is not None:
        return requested
    return "table" if _isatty(stream) else otherwise


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a replaced or closed stream
        return False


def _dumps(record: Any, *, indent: int | None = None) -> str:
    # ensure_ascii=False: names and labels stay readable (JSON is UTF-8 by definition).
    separators = (",", ": ") if indent else (",", ":")
    return json.dumps(record, ensure_ascii=False, indent=indent, separators=separators)


# -- cells and tables -----------------------------------------------------------------------


def _printable(text: str) -> str:
    # Data is untrusted: a control character (ESC above all) must not reach the terminal.
    if text.isprintable():
        return text
    return "".join(
        char if char.isprintable() else char.encode("unicode_escape").decode("ascii")
        for char in text
    )


def cell(value: Any) -> str:
    """A value as table text: empty for null, lists comma-separated, objects as JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return f"{value:g}" if abs(value) < 1e15 else repr(value)
    if isinstance(value, str):
        return _printable(value)
    if isinstance(value, list) and all(
        isinstance(item, str | int | float) and not isinstance(item, bool) for item in value
    ):
        return _printable(", ".join(str(item) for item in value))
    return _printable(_dumps(value))


def _width(text: str) -> int:
    # East Asian wide characters (会议) take two terminal columns.
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _cut(text: str, width: int) -> str:
    if _width(text) <= width:
        return text
    kept, used = [], 0
    for char in text:
        used += _width(char)
        if used > width - 1:
            break
        kept.append(char)
    return "".join(kept) + "…"


def format_table(
    headers: Sequence[str],
    rows: Iterable[Sequence[Any]],
    *,
    max_width: int | None = MAX_CELL_WIDTH,
) -> list[str]:
    """Aligned text lines: a header, a rule, one line per row; numbers right-aligned."""
    raw = [list(row) for row in rows]
    texts = [[cell(value) for value in row] for row in raw]
    if max_width is not None:
        texts = [[_cut(text, max_width) for text in row] for row in texts]
    numeric = [
        any(row[i] for row in texts) and all(_NUMBER.fullmatch(row[i] or "0") for row in texts)
        for i in range(len(headers))
    ]
    widths = [
        max([_width(header)] + [_width(row[i]) for row in texts])
        for i, header in enumerate(headers)
    ]

    def line(values: Sequence[str]) -> str:
        parts = []
        for i, value in enumerate(values):
            pad = " " * (widths[i] - _width(value))
            parts.append(pad + value if numeric[i] else value + pad)
        return "  ".join(parts).rstrip()

    return [line(headers), line(["-" * width for width in widths]), *map(line, texts)]


def flatten_json(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    """Nested objects as ``(dotted.path, leaf)`` pairs, in order; lists stay whole."""
    if isinstance(value, Mapping) and (value or not prefix):
        pairs: list[tuple[str, Any]] = []
        for key, item in value.items():
            pairs.extend(flatten_json(item, f"{prefix}.{key}" if prefix else str(key)))
        return pairs
    return [(prefix, value)]


# -- writers --------------------------------------------------------------------------------


def write_record(record: Record, fmt: str, stream: TextIO) -> None:
    """Write one resource: a field/value table, indented JSON or one JSON line."""
    if fmt == "json" and (text := indented_text(record)) is not None:
        write_utf8(text, stream)
        stream.write("\n")
    elif fmt == "json":
        # Written as it is encoded, a few thousand pieces at a time: a report of a year's
        # store lists ~100,000 participants, whose text and pieces need not all be held.
        encoder = json.JSONEncoder(ensure_ascii=False, indent=2, separators=(",", ": "))
        pieces: list[str] = []
        for piece in encoder.iterencode(record):
            pieces.append(piece)
            if len(pieces) == 4096:
                stream.write("".join(pieces))
                pieces.clear()
        stream.write("".join(pieces) + "\n")
    elif fmt == "jsonl":
        stream.write(_dumps(record) + "\n")
    else:
        lines = format_table(("field", "value"), flatten_json(record), max_width=None)
        # The header and rule say nothing for a two-column field/value listing.
        stream.write("\n".join(lines[2:]) + "\n")


async def write_listing(
    records: AsyncIterable[Record], fmt: str, columns: Sequence[Column], stream: TextIO
) -> int:
    """Write every record of a listing in ``fmt``; returns how many there were."""
    count = 0
    if fmt == "table":
        rows = []
        async for record in records:
            rows.append([column.value(record) for column in columns])
            count += 1
        headers = [column.header for column in columns]
        stream.write("\n".join(format_table(headers, rows)) + "\n")
        return count
    if fmt == "jsonl":
        async for record in records:
            stream.write(_dumps(record) + "\n")
            count += 1
        return count
    # A JSON array written element by element, so a long listing is never held in memory.
    async for record in records:
        stream.write("[\n" if count == 0 else ",\n")
        stream.write(textwrap.indent(_dumps(record, indent=2), "  "))
        count += 1
    stream.write("\n]\n" if count else "[]\n")
    return count


# -- the quality report ---------------------------------------------------------------------

#: Poor participants listed in a report table unless ``--top`` says otherwise.
REPORT_TABLE_TOP = 20


# Short words in the table, where every column counts; JSON keeps the full names.
_PROBLEM_WORDS = {"low_mos": "mos", "high_packet_loss": "loss", "high_jitter": "jitter"}


def _number(value: float | None, digits: int = 2) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def report_json(report: QualityReport, *, top: int | None) -> dict[str, Any]:
    """The report as JSON: the ``top`` worst poor participants (``None``: all, 0: none)."""
    result = report.to_dict()
    result["poor_participants_total"] = len(report.poor_participants)
    if top is not None:
        result["poor_participants"] = result["poor_participants"][:top]
    return result


def report_lines(report: QualityReport, *, top: int | None) -> list[str]:
    """The report as text sections: the ``top`` worst poor participants (``None``: all)."""
    lines = [
        f"{report.conferences} conferences, {report.participants} participants "
        f"({report.participants_with_metrics} with metrics)"
    ]
    if report.incomplete_conferences:
        lines.append(
            f"participants missing for {len(report.incomplete_conferences)} conferences: "
            + ", ".join(report.incomplete_conferences)
        )
    for title, counts in (
        ("status", report.by_status),
        ("end reason", report.by_end_reason),
        ("mixer region", report.by_mixer_region),
        ("tag", report.by_tag),
    ):
        lines += ["", f"Conferences by {title}"]
        lines += format_table(
            (title.replace(" ", "_"), "conferences"), counts.items(), max_width=None
        )

    limits = report.thresholds
    poor = report.poor_participants
    lines += [
        "",
        f"Participants with poor quality: {len(poor)} (MOS < {limits.mos_below:g}, "
        f"packet loss > {limits.packet_loss_above:g}%, jitter > {limits.jitter_above:g} ms; "
        "worse of inbound/outbound, worst first)",
    ]
    shown = poor[:top] if top is not None else poor
    if shown:
        lines += format_table(
            (
                "conference_sid",
                "friendly_name",
                "participant_sid",
                "label",
                "region",
                "mos",
                "loss_pct",
                "jitter_ms",
                "problems",
            ),
            (
                (
                    entry.conference_sid,
                    entry.friendly_name,
                    entry.participant_sid,
                    entry.label,
                    entry.region,
                    _number(entry.mos),
                    _number(entry.packet_loss_percentage),
                    _number(entry.jitter_avg),
                    " ".join(_PROBLEM_WORDS.get(problem, problem) for problem in entry.problems),
                )
                for entry in shown
            ),
            max_width=34,
        )
    if len(shown) < len(poor):
        lines.append(f"… and {len(poor) - len(shown)} more (--top all lists them all)")

    lines += ["", "MOS by participant region (worse of inbound/outbound)"]
    lines += format_table(
        ("region", "participants", "p10", "p50", "p90", "mean"),
        (
            (
                row.region,
                row.participants,
                _number(row.p10),
                _number(row.p50),
                _number(row.p90),
                _number(row.mean),
            )
            for row in report.mos_by_region
        ),
    )
    return lines
