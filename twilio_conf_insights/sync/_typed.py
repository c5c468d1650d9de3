"""The typed columns a store keeps beside a participant summary's ``json`` (layout 3).

A report over a year of participants reads a dozen values of each: extracting them from
``json`` cost the database most of the report's time (SQLite parses every document,
PostgreSQL walks every ``jsonb``). From layout 3 the stores write those values into typed
columns at upsert time, typed by the converter's rules, so SQL, pandas or a report read
them without touching ``json``:

* ``label``, ``participant_region``, ``conference_region``, ``call_type``: the string, or
  ``NULL`` when the value is absent or not a string (what the model's attribute reads);
* ``inbound_measured``, ``outbound_measured``: whether ``metrics.<direction>`` is a JSON
  object (the participant was measured that way);
* ``<direction>_mos``, ``<direction>_packet_loss_percentage``, ``<direction>_jitter_avg``,
  ``<direction>_latency_avg``: the measure as a float, or ``NULL`` when it is absent or
  not a finite number (a string, ``null``, NaN, a boolean).

``json`` stays the record as the API sent it; these columns are derived from it, and a
migration fills them for rows an earlier layout wrote.
"""

from __future__ import annotations

import json
import math
from typing import Any

from .._json import json_loads

__all__ = [
    "DIRECTIONS",
    "PARTICIPANT_TYPED_COLUMNS",
    "REPORT_INDEX",
    "finite_number",
    "participant_typed",
    "stored_json",
    "stored_typed",
    "typed_column_types",
]

#: The stream directions, as the API names them.
DIRECTIONS = ("inbound", "outbound")

#: The typed columns of ``participant_summaries``, in the order of :func:`participant_typed`.
PARTICIPANT_TYPED_COLUMNS: tuple[str, ...] = (
    "label",
    "participant_region",
    "conference_region",
    "call_type",
    *(
        f"{direction}_{name}"
        for direction in DIRECTIONS
        for name in (
            "measured",
            "mos",
            "packet_loss_percentage",
            "jitter_avg",
            "latency_avg",
        )
    ),
)


def finite_number(value: Any) -> float | None:
    """``value`` as a float if it is a finite number (not a bool), else ``None``."""
    kind = type(value)
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is int:
        try:
            return float(value)
        except OverflowError:  # an integer beyond float's range is no finite number either
            return None
    return None


def _string(value: Any) -> str | None:
    return value if type(value) is str else None


def _average(stream: dict[str, Any], key: str) -> float | None:
    found = stream.get(key)
    return finite_number(found.get("avg")) if type(found) is dict else None


def participant_typed(data: Any) -> tuple[Any, ...]:
    """The values of :data:`PARTICIPANT_TYPED_COLUMNS` of a participant summary's JSON."""
    if type(data) is not dict:
        return (None,) * 4 + (False, None, None, None, None) * 2
    metrics = data.get("metrics")
    streams: list[Any] = []
    for direction in DIRECTIONS:
        stream = metrics.get(direction) if type(metrics) is dict else None
        if type(stream) is dict:
            streams += (
                True,
                finite_number(stream.get("mos")),
                finite_number(stream.get("packet_loss_percentage")),
                _average(stream, "jitter"),
                _average(stream, "latency"),
            )
        else:
            streams += (False, None, None, None, None)
    return (
        _string(data.get("label")),
        _string(data.get("participant_region")),
        _string(data.get("conference_region")),
        _string(data.get("call_type")),
        *streams,
    )


def stored_json(text: str) -> Any:
    """A stored ``json`` text read back: orjson, or the standard library for what it refuses.

    A store keeps NaN and the infinities as the API sent them (``json_text``), which orjson
    does not read. Raises ``ValueError`` for a text that is not JSON at all.
    """
    try:
        return json_loads(text)
    except ValueError:
        return json.loads(text)


def stored_typed(text: str) -> tuple[Any, ...]:
    """:func:`participant_typed` of a stored ``json`` text (a migration fills rows with it)."""
    try:
        data = stored_json(text)
    except ValueError:
        data = None  # not JSON: nothing typed (the row is damaged either way)
    return participant_typed(data)


#: The index a report reads participants' typed values from, without their rows (whose
#: ``json`` makes them a hundred times larger).
REPORT_INDEX = "participant_summaries_report"


def typed_column_types(*, text: str, flag: str, number: str) -> list[tuple[str, str]]:
    """Each typed column with its type in a store's dialect (text, flag and number types)."""
    return [
        (name, text if index < 4 else flag if name.endswith("_measured") else number)
        for index, name in enumerate(PARTICIPANT_TYPED_COLUMNS)
    ]
