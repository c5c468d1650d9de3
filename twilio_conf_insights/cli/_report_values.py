"""The few values a report reads from each record, from models or from stored JSON.

A report needs a dozen values per conference and participant, not whole models. They come
from two sources, into the same rows (:class:`ConferenceValues`, :class:`ParticipantValues`),
which the report's figures (:mod:`._report`, :mod:`._html_data`) are computed from:

* **models** (the API, the demo): :func:`conference_values` and :func:`participant_values`
  read the typed attributes the one converter gave them;
* **a store's JSON**: SQL extracts only the values at :data:`CONFERENCE_PATHS` and
  :data:`PARTICIPANT_PATHS` (see :mod:`._report_source`), and
  :func:`conference_values_from_json` and :func:`participant_values_from_json` type them by
  the converter's rules: a value that does not fit its field (``"64"`` for a number, ``null``
  inside ``tags``, an unreadable timestamp) reads as ``None`` exactly as the model's
  attribute would, and NaN or an infinity is no measure on either path.

The tests hold both sources to the same rows over arbitrary JSON, so the two can never give
different reports for the same data.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

from .._models import ConferenceSummary, ParticipantSummary, StreamMetrics
from .._results import ConferenceReport
from .._timestamps import parse_optional_iso8601
from ..sync._typed import DIRECTIONS, finite_number

__all__ = [
    "CONFERENCE_PATHS",
    "DIRECTIONS",
    "ISSUE_CATEGORIES",
    "PARTICIPANT_PATHS",
    "STREAM_PATHS",
    "ConferenceValues",
    "ParticipantValues",
    "StreamValues",
    "conference_values",
    "conference_values_from_json",
    "finite_number",
    "participant_values",
    "participant_values_from_json",
    "participant_values_from_typed",
    "stream_values",
    "values_of_report",
]

#: The categories of a summary's ``detected_issues``.
ISSUE_CATEGORIES = ("call_quality", "region_configuration", "participant_behavior")

#: JSON paths (keys from the record's root) of a conference's values, in the order
#: :func:`conference_values_from_json` takes them.
CONFERENCE_PATHS: tuple[tuple[str, ...], ...] = (
    ("conference_sid",),
    ("friendly_name",),
    ("status",),
    ("end_reason",),
    ("mixer_region",),
    ("tags",),
    *(("detected_issues", category) for category in ISSUE_CATEGORIES),
    ("start_time",),
    ("create_time",),
)

#: The measures read from each stream, as paths inside ``metrics.<direction>``.
_STREAM_MEASURES = (("mos",), ("packet_loss_percentage",), ("jitter", "avg"), ("latency", "avg"))

#: JSON paths of a participant's values, in the order :func:`participant_values_from_json`
#: takes them.
PARTICIPANT_PATHS: tuple[tuple[str, ...], ...] = (
    ("participant_sid",),
    ("label",),
    ("participant_region",),
    ("conference_region",),
    ("call_type",),
    *(("metrics", direction, *measure) for direction in DIRECTIONS for measure in _STREAM_MEASURES),
)

#: The paths whose value must be a JSON object for a stream to count as measured.
STREAM_PATHS: tuple[tuple[str, ...], ...] = tuple(("metrics", d) for d in DIRECTIONS)


class ConferenceValues(NamedTuple):
    """What a report reads from a conference summary, typed."""

    conference_sid: str | None
    friendly_name: str | None
    status: str | None
    end_reason: str | None
    mixer_region: str | None
    #: Each tag once, in the order sent; empty when ``tags`` is absent or not all strings.
    tags: tuple[str, ...]
    #: The ``detected_issues`` categories with a count above zero.
    issues: tuple[str, ...]
    #: The start time, or the creation time when it never started.
    started: datetime | None
    #: ``False`` when the conference's participants could not be listed.
    complete: bool = True


class StreamValues(NamedTuple):
    """The measures of one direction of a participant's media; ``None`` when not a number."""

    mos: float | None
    #: In percent.
    packet_loss: float | None
    #: Average jitter, in milliseconds.
    jitter: float | None
    #: Average latency, in milliseconds.
    latency: float | None


class ParticipantValues(NamedTuple):
    """What a report reads from a participant summary, typed."""

    participant_sid: str | None
    label: str | None
    participant_region: str | None
    conference_region: str | None
    call_type: str | None
    #: ``None`` when the stream is absent (the participant was not measured that way).
    inbound: StreamValues | None
    outbound: StreamValues | None


def _text(value: Any) -> str | None:
    # A StrEnum member reads as its value.
    return None if value is None else str(value)


def _aware(moment: datetime | None) -> datetime | None:
    # Decoded timestamps are aware; one built in Python without a zone is taken as UTC.
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=UTC)


# -- from models ---------------------------------------------------------------------------


def conference_values(summary: ConferenceSummary, *, complete: bool = True) -> ConferenceValues:
    """The values of a decoded conference summary."""
    issues = summary.detected_issues
    counts = (
        ()
        if issues is None
        else tuple(name for name in ISSUE_CATEGORIES if (getattr(issues, name) or 0) > 0)
    )
    return ConferenceValues(
        conference_sid=summary.conference_sid,
        friendly_name=summary.friendly_name,
        status=_text(summary.status),
        end_reason=_text(summary.end_reason),
        mixer_region=_text(summary.mixer_region),
        tags=tuple(dict.fromkeys(str(tag) for tag in summary.tags or ())),
        issues=counts,
        started=_aware(summary.start_time or summary.create_time),
        complete=complete,
    )


def stream_values(stream: StreamMetrics | None) -> StreamValues | None:
    """The values of one decoded stream, ``None`` when there is none."""
    if stream is None:
        return None
    return StreamValues(
        mos=finite_number(stream.mos),
        packet_loss=finite_number(stream.packet_loss_percentage),
        jitter=finite_number(stream.jitter.avg) if stream.jitter is not None else None,
        latency=finite_number(stream.latency.avg) if stream.latency is not None else None,
    )


def participant_values(participant: ParticipantSummary) -> ParticipantValues:
    """The values of a decoded participant summary."""
    metrics = participant.metrics
    return ParticipantValues(
        participant_sid=participant.participant_sid,
        label=participant.label,
        participant_region=_text(participant.participant_region),
        conference_region=_text(participant.conference_region),
        call_type=_text(participant.call_type),
        inbound=stream_values(metrics.inbound) if metrics is not None else None,
        outbound=stream_values(metrics.outbound) if metrics is not None else None,
    )


def values_of_report(
    report: ConferenceReport,
) -> tuple[ConferenceValues, list[ParticipantValues]]:
    """The values of a conference report (from the API or the demo)."""
    return (
        conference_values(report.summary, complete=report.error is None),
        [participant_values(participant) for participant in report.participants],
    )


# -- from stored JSON -------------------------------------------------------------------------
#
# Each function below gives what the converter gives the field's attribute (tolerant
# decoding: a value that does not fit reads as None); the tests check every one against
# decoded models over arbitrary JSON.


def _string(value: Any) -> str | None:
    # str | None and Enum | str | None fields: any string, nothing else.
    return value if type(value) is str else None


def _count(value: Any) -> int | None:
    # int | None: an integer, or a float with an integral value (3.0), never a bool.
    if type(value) is int:
        return value
    if type(value) is float and value.is_integer():
        return int(value)
    return None


def _tags(value: Any) -> tuple[str, ...]:
    # list[Enum | str] | None: a list of strings only; one value that is not costs the list.
    if type(value) is not list or any(type(tag) is not str for tag in value):
        return ()
    return tuple(dict.fromkeys(value))


def _timestamp(value: Any) -> datetime | None:
    if type(value) is str:
        try:  # the usual spelling, read as parse_optional_iso8601 reads it first
            return _aware(datetime.fromisoformat(value))
        except (ValueError, IndexError, OverflowError):
            pass
    try:
        return parse_optional_iso8601(value)
    except (TypeError, ValueError):
        return None


def conference_values_from_json(values: Sequence[Any]) -> ConferenceValues:
    """The typed values of a stored conference: the JSON values at :data:`CONFERENCE_PATHS`."""
    sid, name, status, end_reason, mixer, tags, *counts, start, create = values
    return ConferenceValues(
        conference_sid=_string(sid),
        friendly_name=_string(name),
        status=_string(status),
        end_reason=_string(end_reason),
        mixer_region=_string(mixer),
        tags=_tags(tags),
        issues=tuple(
            name
            for name, count in zip(ISSUE_CATEGORIES, counts, strict=True)
            if (_count(count) or 0) > 0
        ),
        started=_timestamp(start) or _timestamp(create),
    )


# Rows are built with tuple.__new__ below: a NamedTuple's own constructor is a Python call,
# and these run once per stored participant (millions in a year's store).
_row = tuple.__new__


def participant_values_from_json(
    values: Sequence[Any], inbound: bool, outbound: bool
) -> ParticipantValues:
    """The typed values of a stored participant.

    ``values`` are the JSON values at :data:`PARTICIPANT_PATHS`; ``inbound`` and ``outbound``
    say whether the values at :data:`STREAM_PATHS` are JSON objects.
    """
    (sid, label, region, conference_region, call_type,
     in_mos, in_loss, in_jitter, in_latency,
     out_mos, out_loss, out_jitter, out_latency) = values  # fmt: skip
    return _row(
        ParticipantValues,
        (
            sid if type(sid) is str else None,
            label if type(label) is str else None,
            region if type(region) is str else None,
            conference_region if type(conference_region) is str else None,
            call_type if type(call_type) is str else None,
            _stream_from_json(in_mos, in_loss, in_jitter, in_latency) if inbound else None,
            _stream_from_json(out_mos, out_loss, out_jitter, out_latency) if outbound else None,
        ),
    )


def _stream_from_json(mos: Any, loss: Any, jitter: Any, latency: Any) -> StreamValues:
    # A finite float is taken as it is (x - x is 0.0 for those only, NaN for NaN and the
    # infinities); anything else goes through finite_number.
    return _row(
        StreamValues,
        (
            mos if type(mos) is float and mos - mos == 0.0 else finite_number(mos),
            loss if type(loss) is float and loss - loss == 0.0 else finite_number(loss),
            jitter if type(jitter) is float and jitter - jitter == 0.0 else finite_number(jitter),
            latency
            if type(latency) is float and latency - latency == 0.0
            else finite_number(latency),
        ),
    )


def participant_values_from_typed(row: Sequence[Any]) -> ParticipantValues:
    """The values of a stored participant from its typed columns (store layout 3 on).

    ``row`` is ``conference_sid``, ``participant_sid``, then the columns of
    ``sync._typed.PARTICIPANT_TYPED_COLUMNS``: typed at upsert time by the rules above.
    """
    (_, sid, label, region, conference_region, call_type,
     in_measured, in_mos, in_loss, in_jitter, in_latency,
     out_measured, out_mos, out_loss, out_jitter, out_latency) = row  # fmt: skip
    return _row(
        ParticipantValues,
        (
            sid,
            label,
            region,
            conference_region,
            call_type,
            _row(StreamValues, (in_mos, in_loss, in_jitter, in_latency)) if in_measured else None,
            _row(StreamValues, (out_mos, out_loss, out_jitter, out_latency))
            if out_measured
            else None,
        ),
    )
