"""Records with odd values for the report's tests: hypothesis strategies and drifted fake data.

Every value a report reads (:mod:`twilio_conf_insights.cli._report_values`) may come as
Twilio sends it on a bad day: ``null``, missing, a string where a number belongs, a number
where a string belongs, NaN or an infinity, a list or an object; so may every object on the
way to it (``metrics``, a stream, ``jitter``, ``detected_issues``).
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from typing import Any

from hypothesis import strategies as st

from tests import payloads
from twilio_conf_insights.testing import FakeData

__all__ = [
    "DRIFTED_VALUES",
    "conference_documents",
    "drift",
    "odd_values",
    "participant_documents",
    "pick",
]

#: Marks a key to leave out of a generated document.
_ABSENT = object()

#: Values that do not fit where a report reads them, or barely do.
odd_values: st.SearchStrategy[Any] = (
    st.none()
    | st.booleans()
    | st.integers(-(10**3), 10**3)
    | st.sampled_from([0, -0.0, 3.0, 2**70, -(2**70), 10**400])
    | st.floats(min_value=-100, max_value=100)
    | st.sampled_from([float("nan"), float("inf"), float("-inf")])
    | st.sampled_from(["", "3.5", "64", "us1", "NaN", "2024-03-04T10:00:05Z", "not a date"])
    | st.text(max_size=4)
    | st.lists(st.none() | st.integers(0, 3) | st.text(max_size=3), max_size=3)
    | st.dictionaries(st.sampled_from(["avg", "mos", "x"]), st.integers(0, 5), max_size=2)
)


def _maybe(value: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """A value, an odd one, or the key left out."""
    return value | odd_values | st.just(_ABSENT)


def _document(**fields: Any) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not _ABSENT}


_numbers = st.floats(min_value=0, max_value=100, allow_nan=False) | st.integers(0, 100)
_regions = st.sampled_from(["us1", "ie1", "de1", "au1"])


@st.composite
def _stream(draw: st.DrawFn) -> Any:
    return _document(
        mos=draw(_maybe(st.floats(min_value=1, max_value=4.5) | st.sampled_from([3.5, 4]))),
        packet_loss_percentage=draw(_maybe(_numbers)),
        jitter=draw(_maybe(st.builds(_document, avg=_maybe(_numbers), max=_maybe(_numbers)))),
        latency=draw(_maybe(st.builds(_document, avg=_maybe(_numbers), max=_maybe(_numbers)))),
        total_packets_lost=draw(_maybe(st.integers(0, 50))),
    )


@st.composite
def participant_documents(draw: st.DrawFn, conference_sid: str = payloads.CONFERENCE) -> Any:
    """A participant summary whose report values are drawn from good and odd ones."""
    body = payloads.participant_summary(conference_sid=conference_sid)
    body["participant_sid"] = draw(
        st.sampled_from(["CP" + "1" * 32, "CP" + "2" * 32]) | st.just(_ABSENT) | odd_values
    )
    for key, value in (
        ("label", st.sampled_from(["customer", "agent"])),
        ("participant_region", _regions),
        ("conference_region", _regions),
        ("call_type", st.sampled_from(["carrier", "sip", "client"])),
    ):
        body[key] = draw(_maybe(value))
    streams = st.builds(
        _document, inbound=_maybe(_stream()), outbound=_maybe(_stream()), extra=_maybe(st.none())
    )
    body["metrics"] = draw(_maybe(streams))
    return {key: value for key, value in body.items() if value is not _ABSENT}


@st.composite
def conference_documents(draw: st.DrawFn) -> Any:
    """A conference summary whose report values are drawn from good and odd ones."""
    body = payloads.conference_summary()
    for key, value in (
        ("friendly_name", st.text(max_size=5)),
        ("status", st.sampled_from(["completed", "in_progress"])),
        ("end_reason", st.sampled_from(["last_participant_left"])),
        ("mixer_region", _regions),
        ("tags", st.lists(st.sampled_from(["low_mos", "high_jitter"]) | odd_values, max_size=3)),
        (
            "start_time",
            st.sampled_from(["2024-03-04T10:00:05Z", "Mon, 04 Mar 2024 11:00:07 +0000"]),
        ),
        ("create_time", st.sampled_from(["2024-03-04T10:00:01Z"])),
    ):
        body[key] = draw(_maybe(value))
    counts = st.integers(0, 3) | st.sampled_from([1.0, 2.5])
    issues = st.builds(
        _document,
        call_quality=_maybe(counts),
        region_configuration=_maybe(counts),
        participant_behavior=_maybe(counts),
    )
    body["detected_issues"] = draw(_maybe(issues))
    return {key: value for key, value in body.items() if value is not _ABSENT}


def pick(document: Any, path: tuple[str, ...]) -> Any:
    """The value at ``path`` (keys from the root), ``None`` where an object is missing."""
    value = document
    for key in path:
        if type(value) is not dict:
            return None
        value = value.get(key)
    return value


#: Drift applied by :func:`drift`, one (JSON path, value) per drifted record, in turn.
DRIFTED_VALUES: tuple[tuple[tuple[str, ...], Any], ...] = (
    (("metrics", "inbound", "mos"), "3.1"),
    (("metrics", "inbound", "mos"), None),
    (("metrics", "outbound", "mos"), True),
    (("metrics", "outbound", "mos"), 10**400),
    (("metrics", "inbound", "packet_loss_percentage"), "2"),
    (("metrics", "inbound", "jitter"), 45),
    (("metrics", "outbound", "jitter", "avg"), "48"),
    (("metrics", "outbound", "latency"), {"avg": [1]}),
    (("metrics", "inbound"), {}),
    (("metrics", "outbound"), "broken"),
    (("metrics",), ["not", "an", "object"]),
    (("participant_region",), 7),
    (("participant_region",), ""),
    (("conference_region",), None),
    (("label",), 12),
    (("call_type",), False),
)

#: The same for conference summaries.
DRIFTED_CONFERENCE_VALUES: tuple[tuple[tuple[str, ...], Any], ...] = (
    (("status",), 5),
    (("end_reason",), None),
    (("mixer_region",), ""),
    (("tags",), ["low_mos", None]),
    (("tags",), "low_mos"),
    (("detected_issues", "call_quality"), "2"),
    (("detected_issues", "call_quality"), 2.0),
    (("detected_issues", "region_configuration"), True),
    (("detected_issues",), [1, 2]),
    (("start_time",), "not a date"),
    (("friendly_name",), 12),
)


def _set(document: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    *parents, last = path
    for key in parents:
        if type(document.get(key)) is not dict:
            document[key] = {}
        document = document[key]
    document[last] = copy.deepcopy(value)


def _cycle(values: tuple[Any, ...]) -> Iterator[Any]:
    while True:
        yield from values


def drift(data: FakeData, *, nan: bool = True, seed: int = 5) -> None:
    """Drift a fake's records in place: odd values, ties on every measure, and NaN.

    Every third participant and conference gets the next value of :data:`DRIFTED_VALUES`
    or :data:`DRIFTED_CONFERENCE_VALUES`; a dozen measured participants get exactly the same
    poor measures (ties the report must order by SID); with ``nan`` a few MOS are NaN (the
    PostgreSQL store cannot hold NaN in ``jsonb``).
    """
    rng = random.Random(seed)
    participant_drift = _cycle(DRIFTED_VALUES)
    conference_drift = _cycle(DRIFTED_CONFERENCE_VALUES)
    tied = 0
    for index, conference in enumerate(data.conferences):
        if index % 3 == 1:
            _set(conference, *next(conference_drift))
        for participant in data.participant_summaries[conference["conference_sid"]]:
            roll = rng.random()
            if roll < 0.33:
                _set(participant, *next(participant_drift))
            elif roll < 0.4 and tied < 12 and type(participant.get("metrics")) is dict:
                tied += 1
                for direction in ("inbound", "outbound"):
                    _set(participant, ("metrics", direction, "mos"), 2.5)
                    _set(participant, ("metrics", direction, "packet_loss_percentage"), 3)
                    _set(participant, ("metrics", direction, "jitter", "avg"), 40.0)
            elif roll < 0.45 and nan:
                _set(participant, ("metrics", "inbound", "mos"), float("nan"))
