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
import re
import typing
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TextIO, cast

import attrs

from .._models import ConferenceSummary, ParticipantSummary, TwilioModel
from ._json_text import compact_text
from ._store_reader import plain_document

__all__ = [
    "CONFERENCE_FIELDS",
    "PARTICIPANT_FIELDS",
    "CsvExport",
    "ExportWriter",
    "Field",
    "JsonArrayExport",
    "JsonlExport",
    "StoredJson",
    "csv_header",
    "export_writer",
    "flatten",
    "record_text",
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


def record_text(record: Mapping[str, Any], *, plain: bool = False) -> str:
    """``json.dumps(record, ensure_ascii=False, separators=(",", ":"))``, faster.

    ``plain``: see :func:`._json_text.compact_text`.
    """
    return compact_text(record, plain=plain)


def _record(
    conference: Mapping[str, Any], participants: Sequence[Mapping[str, Any]] | None, plain: bool
) -> str:
    if participants is not None:
        conference = {**conference, "participants": participants}
    return record_text(conference, plain=plain)


def _dicts(
    summary: ConferenceSummary, participants: Sequence[ParticipantSummary] | None
) -> tuple[dict[str, Any], list[dict[str, Any]] | None]:
    return summary.to_dict(), (
        None if participants is None else [participant.to_dict() for participant in participants]
    )


@attrs.frozen
class StoredJson:
    """A stored conference as a store keeps it: its ``json`` text and its participants'."""

    conference: str
    #: ``None`` when the participants were not asked for.
    participants: Sequence[str] | None
    #: Whether the texts are the compact JSON the store's writer wrote (SQLite's ``json``
    #: column), which an export can copy; PostgreSQL's ``jsonb`` is read back re-spelled.
    compact: bool
    #: The store and the conference's SID, for the error of a damaged text.
    where: str = "store"
    sid: str = ""

    def dicts(self) -> tuple[dict[str, Any], list[dict[str, Any]] | None, bool]:
        """The conference's and participants' JSON objects, and whether all are plain."""
        conference, plain = plain_document(self.conference, f"{self.where}: conference {self.sid}")
        if self.participants is None:
            return conference, None, plain
        participants = []
        for text in self.participants:
            where = f"{self.where}: a participant of {self.sid}"
            participant, participant_plain = plain_document(text, where)
            participants.append(participant)
            plain = plain and participant_plain
        return conference, participants, plain

    def text(self) -> str:
        """The export's JSON text of the conference: what :func:`record_text` would write."""
        if self.compact and _copyable(self.conference, conference=True):
            if self.participants is None:
                return self.conference
            if all(_copyable(text, conference=False) for text in self.participants):
                spliced = ",".join(self.participants)
                return f'{self.conference[:-1]},"participants":[{spliced}]}}'
        return _record(*self.dicts())


# A float exponent of one digit (1e-6: orjson's spelling, json.dumps writes 1e-06).
_SHORT_EXPONENT = re.compile(r"e-[1-9](?![0-9])")
# Digits all made 0, so that a run of 19 (an integer beyond 64 bits, or a SID) is one search.
_ZEROED = bytes.maketrans(b"123456789", b"000000000")
_LONG_RUN = b"0" * 19


def _copyable(text: str, *, conference: bool) -> bool:
    """Whether a stored compact text is exactly what :func:`record_text` writes of it.

    The store wrote it with orjson or json.dumps, compact, non-ASCII as is. The two differ
    only in floats below 1e-4 in magnitude (see :mod:`._json_text`), and a reader (orjson)
    takes an integer beyond 64 bits as a float: a text that may hold either is parsed and
    written again. A conference gets its participants spliced in before its closing brace,
    so it must be a non-empty object without a ``participants`` key of its own.
    """
    if not (text.startswith("{") and text.endswith("}")) or "0.0000" in text:
        return False
    if "e-" in text and _SHORT_EXPONENT.search(text) is not None:
        return False
    if _LONG_RUN in text.encode().translate(_ZEROED):
        return False
    return not conference or (len(text) > 2 and '"participants":' not in text)


class ExportWriter(Protocol):
    """Writes one conference (and its participants, when asked for) to an export file."""

    def write(
        self, summary: ConferenceSummary, participants: Sequence[ParticipantSummary] | None
    ) -> None:
        """Write ``summary``; ``participants`` is ``None`` when they were not asked for."""

    def write_stored(self, stored: StoredJson) -> None:
        """Write a stored conference (its JSON, not decoded into models) the same way."""

    def finish(self) -> None:
        """Write what ends the file (JSON's closing bracket); nothing for line formats."""


class JsonlExport:
    """One JSON object per line: the conference, participants under ``"participants"``."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(
        self, summary: ConferenceSummary, participants: Sequence[ParticipantSummary] | None
    ) -> None:
        """Write one line."""
        self._stream.write(_record(*_dicts(summary, participants), False) + "\n")

    def write_stored(self, stored: StoredJson) -> None:
        """Write one line."""
        self._stream.write(stored.text() + "\n")

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
        self._element(_record(*_dicts(summary, participants), False))

    def write_stored(self, stored: StoredJson) -> None:
        """Write one element."""
        self._element(stored.text())

    def _element(self, text: str) -> None:
        self._stream.write(("[\n" if self._count == 0 else ",\n") + text)
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
        self._rows(*_dicts(summary, participants))

    def write_stored(self, stored: StoredJson) -> None:
        """Write the conference's row, or one row per participant."""
        conference, participants, _ = stored.dicts()
        self._rows(conference, participants)

    def _rows(
        self,
        conference_record: Mapping[str, Any],
        participants: Sequence[Mapping[str, Any]] | None,
    ) -> None:
        conference, conference_extra = flatten(conference_record, CONFERENCE_FIELDS)
        if not self._with_participants:
            self._writer.writerow([*conference, conference_extra])
            return
        if not participants:
            blank = [""] * (len(_ROW_PARTICIPANT_FIELDS) + 1)
            self._writer.writerow([*conference, conference_extra, *blank])
            return
        for participant in participants:
            # Flattened against every participant field, so conference_sid counts as known.
            cells, extra = flatten(participant, PARTICIPANT_FIELDS)
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
