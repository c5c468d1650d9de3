"""Export files: written atomically, as JSON Lines or as flattened CSV.

**Atomic.** :func:`atomic_output` writes to a hidden temporary file next to the target
and renames it over the target (``os.replace``) only when the block completes, so an
interrupted export leaves neither a truncated file that looks complete nor the temporary
file.

**JSON Lines** is lossless: each line is a conference's ``to_dict()`` (the API's JSON),
with its participants' ``to_dict()`` under ``"participants"`` when they were asked for.

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

import contextlib
import csv
import functools
import json
import os
import secrets
import typing
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol, TextIO, cast

import attrs

from .._models import ConferenceSummary, ParticipantSummary, TwilioModel

__all__ = [
    "CONFERENCE_FIELDS",
    "PARTICIPANT_FIELDS",
    "CsvExport",
    "ExportWriter",
    "Field",
    "JsonlExport",
    "atomic_output",
    "csv_header",
    "export_writer",
    "flatten",
    "infer_format",
]


# -- atomic file --------------------------------------------------------------------------


def _create_temp(directory: str, name: str) -> tuple[int, str]:
    # os.open with mode 0o666 rather than tempfile.mkstemp (always 0o600): the export
    # should get the permissions any new file of the user gets (the umask applies).
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        path = os.path.join(directory, f".{name}.{secrets.token_hex(4)}.tmp")
        try:
            return os.open(path, flags, 0o666), path
        except FileExistsError:
            continue
    raise FileExistsError(f"could not create a temporary file in {directory!r}")


@contextlib.contextmanager
def atomic_output(path: str | os.PathLike[str]) -> Iterator[TextIO]:
    """A UTF-8 text stream whose content appears at ``path`` only if the block completes.

    On any exception (including ``KeyboardInterrupt`` and task cancellation) the temporary
    file is removed and ``path`` is left as it was.
    """
    target = os.path.abspath(os.fspath(path))
    directory, name = os.path.split(target)
    fd, temporary = _create_temp(directory, name)
    try:
        with open(fd, "w", encoding="utf-8", newline="") as stream:
            yield stream
            stream.flush()
            # On disk before the rename: a crash right after must not leave an empty file.
            os.fsync(stream.fileno())
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def infer_format(path: str, requested: str | None) -> str:
    """The export format asked for, else ``csv`` for a ``.csv`` file and ``jsonl`` otherwise."""
    if requested is not None:
        return requested
    return "csv" if path.lower().endswith(".csv") else "jsonl"


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


class JsonlExport:
    """One JSON object per line: the conference, participants under ``"participants"``."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(
        self, summary: ConferenceSummary, participants: Sequence[ParticipantSummary] | None
    ) -> None:
        """Write one line."""
        record = summary.to_dict()
        if participants is not None:
            record["participants"] = [participant.to_dict() for participant in participants]
        self._stream.write(json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n")


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


_PARTICIPANT_CONFERENCE_SID = [f.name for f in PARTICIPANT_FIELDS].index("conference_sid")


def export_writer(fmt: str, stream: TextIO, *, with_participants: bool) -> ExportWriter:
    """The writer of ``fmt`` (``jsonl`` or ``csv``) on ``stream``."""
    if fmt == "csv":
        return CsvExport(stream, with_participants=with_participants)
    return JsonlExport(stream)
