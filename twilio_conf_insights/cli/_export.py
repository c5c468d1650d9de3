"""Export records: as JSON Lines, one JSON array, or flattened CSV.

Where they are written (atomically, into a pipe, through a symlink) is decided by
:mod:`._files`.

**JSON Lines** is lossless: each line is a conference's ``to_dict()`` (the API's JSON),
with its participants' ``to_dict()`` under ``"participants"`` when they were asked for.
**JSON** is the same objects as one array, written element by element.

**CSV** has a fixed header. Conference rows flatten ``detected_issues``; participant rows
flatten ``properties`` (``properties_enter_muted``…) and ``metrics`` (``inbound_mos``,
``inbound_jitter_avg``, ``outbound_packet_loss_percentage``…). Other lists and objects are
JSON strings, booleans are ``true``/``false`` and null is empty. With participants there
is one row per participant: the conference's columns (prefixed ``conference_``) then the
participant's; a conference without participants still gets one row. Keys this version
does not know, anywhere in a record, are kept as a JSON object (dotted path → value) in
the ``extra`` column (``conference_extra`` for the conference's, with participants).
"""

from __future__ import annotations

import csv
import functools
import json
import typing
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TextIO, cast

import attrs

from .._models import ConferenceSummary, ParticipantSummary, TwilioModel

__all__ = [
    "CONFERENCE_FIELDS",
    "PARTICIPANT_FIELDS",
    "CsvExport",
    "ExportWriter",
    "Field",
    "JsonArrayExport",
    "JsonlExport",
    "csv_header",
    "export_writer",
    "flatten",
]


# -- flattening ---------------------------------------------------------------------------


@attrs.frozen
class Field:
    """A CSV column: its name and the JSON path of its value in the record."""

    name: str
    path: tuple[str, ...]


def _model_of(tp: Any) -> type[TwilioModel] | None:
    """The model in ``Model | None``, if that is what ``tp`` is."""
    for arg in typing.get_args(tp) or (tp,):
        if isinstance(arg, type) and issubclass(arg, TwilioModel):
            return arg
    return None


def _model_fields(model: type[TwilioModel], path: tuple[str, ...] = ()) -> list[Field]:
    """One column per leaf of ``model``, in the API's order, read off the model itself.

    Nested models (``StreamMetrics``, ``AvgMax``...) and the typed views of the API's
    untyped fields (``metrics`` → ``ParticipantMetrics``) are flattened; the column is the
    JSON path joined with ``_``, without the ``metrics`` prefix (``inbound_jitter_avg``).
    """
    columns: list[Field] = []
    hints = typing.get_type_hints(model)
    for attribute in attrs.fields(cast(Any, model)):
        if attribute.name in ("extra", "problems", "_raw"):
            continue
        key = str(attribute.metadata.get("json", attribute.name))
        nested = attribute.metadata.get("shape") or _model_of(hints[attribute.name])
        if nested is not None:
            columns.extend(_model_fields(nested, (*path, key)))
        else:
            shown = [part for part in (*path, key) if part != "metrics"]
            columns.append(Field("_".join(shown), (*path, key)))
    return columns


#: Columns of a conference, in the API's order, ``detected_issues`` flattened.
CONFERENCE_FIELDS: tuple[Field, ...] = tuple(_model_fields(ConferenceSummary))

#: Columns of a participant summary, ``properties`` and ``metrics`` flattened.
PARTICIPANT_FIELDS: tuple[Field, ...] = tuple(_model_fields(ParticipantSummary))

_EXTRA = "extra"


def _lookup(record: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = record
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


@functools.cache
def _trie(fields: tuple[Field, ...]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for field in fields:
        node = root
        for key in field.path:
            node = node.setdefault(key, {})
    return root


def _leftovers(
    value: Mapping[str, Any], trie: Mapping[str, Any], prefix: str, out: dict[str, Any]
) -> None:
    """Collect what no column covers: unknown keys, and non-objects where objects were due."""
    for key, item in value.items():
        node = trie.get(key)
        path = f"{prefix}{key}"
        if node is None:
            out[path] = item
        elif node and isinstance(item, Mapping):
            _leftovers(item, node, f"{path}.", out)
        elif node and item is not None:
            out[path] = item


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return json.dumps(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def flatten(record: Mapping[str, Any], fields: tuple[Field, ...]) -> tuple[list[str], str]:
    """The CSV cells of ``record`` for ``fields``, and its ``extra`` cell (JSON or empty)."""
    cells = [_text(_lookup(record, field.path)) for field in fields]
    extra: dict[str, Any] = {}
    _leftovers(record, _trie(fields), "", extra)
    return cells, _text(extra) if extra else ""


def csv_header(*, with_participants: bool) -> list[str]:
    """The CSV header of an export."""
    if not with_participants:
        return [field.name for field in CONFERENCE_FIELDS] + [_EXTRA]
    return [
        *(_conference_column(field.name) for field in CONFERENCE_FIELDS),
        _conference_column(_EXTRA),
        *(field.name for field in _ROW_PARTICIPANT_FIELDS),
        _EXTRA,
    ]


def _conference_column(name: str) -> str:
    return name if name.startswith("conference_") else f"conference_{name}"


# In a participant row the conference's columns already hold conference_sid.
_ROW_PARTICIPANT_FIELDS = tuple(f for f in PARTICIPANT_FIELDS if f.name != "conference_sid")


# -- writers ------------------------------------------------------------------------------


class ExportWriter(Protocol):
    """Writes one conference (and its participants, when asked for) to an export file."""

    def write(
        self, summary: ConferenceSummary, participants: Sequence[ParticipantSummary] | None
    ) -> None:
        """Write ``summary``; ``participants`` is ``None`` when they were not asked for."""

    def finish(self) -> None:
        """Write what ends the file (JSON's closing bracket); nothing for line formats."""


def _record(summary: ConferenceSummary, participants: Sequence[ParticipantSummary] | None) -> str:
    record = summary.to_dict()
    if participants is not None:
        record["participants"] = [participant.to_dict() for participant in participants]
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


class JsonlExport:
    """One JSON object per line: the conference, participants under ``"participants"``."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(
        self, summary: ConferenceSummary, participants: Sequence[ParticipantSummary] | None
    ) -> None:
        """Write one line."""
        self._stream.write(_record(summary, participants) + "\n")

    def finish(self) -> None:
        """Nothing to close: every line is complete."""


class JsonArrayExport:
    """The objects of :class:`JsonlExport` as one JSON array, one element per line."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self._count = 0

    def write(
        self, summary: ConferenceSummary, participants: Sequence[ParticipantSummary] | None
    ) -> None:
        """Write one element."""
        self._stream.write(("[\n" if self._count == 0 else ",\n") + _record(summary, participants))
        self._count += 1

    def finish(self) -> None:
        """Close the array (``[]`` when nothing was written)."""
        self._stream.write("\n]\n" if self._count else "[]\n")


class CsvExport:
    """Flattened rows under a fixed header (see the module documentation)."""

    def __init__(self, stream: TextIO, *, with_participants: bool) -> None:
        self._writer = csv.writer(stream)
        self._with_participants = with_participants
        self._writer.writerow(csv_header(with_participants=with_participants))

    def write(
        self, summary: ConferenceSummary, participants: Sequence[ParticipantSummary] | None
    ) -> None:
        """Write the conference's row, or one row per participant."""
        conference, conference_extra = flatten(summary.to_dict(), CONFERENCE_FIELDS)
        if not self._with_participants:
            self._writer.writerow([*conference, conference_extra])
            return
        if not participants:
            blank = [""] * (len(_ROW_PARTICIPANT_FIELDS) + 1)
            self._writer.writerow([*conference, conference_extra, *blank])
            return
        for participant in participants:
            record = participant.to_dict()
            # Flattened against every participant field, so conference_sid counts as known.
            cells, extra = flatten(record, PARTICIPANT_FIELDS)
            del cells[_PARTICIPANT_CONFERENCE_SID]
            self._writer.writerow([*conference, conference_extra, *cells, extra])

    def finish(self) -> None:
        """Nothing to close: every row is complete."""


_PARTICIPANT_CONFERENCE_SID = [f.name for f in PARTICIPANT_FIELDS].index("conference_sid")


def export_writer(fmt: str, stream: TextIO, *, with_participants: bool) -> ExportWriter:
    """The writer of ``fmt`` (``jsonl``, ``json`` or ``csv``) on ``stream``."""
    if fmt == "csv":
        return CsvExport(stream, with_participants=with_participants)
    if fmt == "json":
        return JsonArrayExport(stream)
    return JsonlExport(stream)
