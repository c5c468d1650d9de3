"""The call-quality report: pure computation over conference reports, no I/O.

Feed :class:`~twilio_conf_insights.ConferenceReport` objects to a :class:`ReportBuilder`
one at a time (so a report over any number of conferences streams), or all at once to
:func:`build_report`; either gives a :class:`QualityReport`. The builder computes its
figures from the few values of :mod:`._report_values`: a report from the API reads them off
models, one from a store extracts them with SQL, and both feed :meth:`ReportBuilder.add_values`,
so the two cannot disagree.

The rules:

* A participant's quality is the worse of its two streams: the lower MOS, the higher
  packet loss and the higher average jitter of inbound and outbound. A value that is not a
  finite number (missing, ``null``, a string, NaN) is no measure.
* It is *poor* when MOS < 3.5, packet loss > 1 % or average jitter > 30 ms (see
  :class:`Thresholds`). Worst first means lowest MOS first (participants without a MOS
  after those with one), then highest packet loss, then highest jitter; ties are broken
  by the participant's SID, then its conference's, then the other columns, so the list
  is the same whatever order the records were read in.
* MOS percentiles are per *participant region* (``participant_region``: where the
  participant's media met Twilio, which is what its quality depends on), falling back to
  the summary's ``conference_region`` and then the conference's ``mixer_region``; regions
  with the most participants come first. Percentiles interpolate linearly between the
  closest ranks (numpy's default method).
* Participants without metrics (they never joined) count as participants only.
* A conference whose participants could not be listed counts in the conference counts
  and is named in ``incomplete_conferences``.
* Counts use ``"(none)"`` for a conference without a status, end reason or mixer region;
  each tag counts once per conference that has it.
"""

from __future__ import annotations

import math
from array import array
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, NamedTuple

import attrs

from .._models import ConferenceSummary, ParticipantMetrics, ParticipantSummary
from .._results import ConferenceReport
from ._report_values import (
    ConferenceValues,
    ParticipantValues,
    StreamValues,
    conference_values,
    finite_number,
    participant_values,
    stream_values,
    values_of_report,
)

__all__ = [
    "NONE_KEY",
    "Measured",
    "MosPercentiles",
    "ParticipantQuality",
    "QualityReport",
    "ReportBuilder",
    "Thresholds",
    "build_report",
    "collect",
    "finite_number",
    "participant_region",
    "mos_summary",
    "percentile",
    "poor_order",
    "ranked",
    "region_of",
    "worse_direction",
    "worse_of",
]

#: The count key of a missing status, end reason or region.
NONE_KEY = "(none)"


@attrs.frozen
class Thresholds:
    """Where quality becomes poor; each bound is exclusive."""

    #: Poor below this MOS (1.0 bad … 4.5 excellent).
    mos_below: float = 3.5
    #: Poor above this packet loss, in percent.
    packet_loss_above: float = 1.0
    #: Poor above this average jitter, in milliseconds.
    jitter_above: float = 30.0

    def problems(
        self, mos: float | None, packet_loss: float | None, jitter: float | None
    ) -> tuple[str, ...]:
        """What is poor about these (worse-direction) measures; empty when nothing is."""
        # Spelled out: this runs once per measured participant.
        found: tuple[str, ...] = ()
        if mos is not None and mos < self.mos_below:
            found += ("low_mos",)
        if packet_loss is not None and packet_loss > self.packet_loss_above:
            found += ("high_packet_loss",)
        if jitter is not None and jitter > self.jitter_above:
            found += ("high_jitter",)
        return found


@attrs.frozen
class ParticipantQuality:
    """A participant with poor quality, measured on its worse direction."""

    conference_sid: str | None
    friendly_name: str | None
    participant_sid: str | None
    label: str | None
    #: The region its MOS counts under (see the module documentation).
    region: str
    #: The lower MOS of inbound and outbound.
    mos: float | None
    #: The higher packet loss of inbound and outbound, in percent.
    packet_loss_percentage: float | None
    #: The higher average jitter of inbound and outbound, in milliseconds.
    jitter_avg: float | None
    #: What is poor: ``"low_mos"``, ``"high_packet_loss"``, ``"high_jitter"``.
    problems: tuple[str, ...]

    def severity(self) -> tuple[float, float, float]:
        """How bad it is, worst first: MOS, then packet loss, then jitter."""
        return (
            self.mos if self.mos is not None else math.inf,
            -(self.packet_loss_percentage or 0.0),
            -(self.jitter_avg or 0.0),
        )


def _text_key(value: str | None) -> tuple[bool, str]:
    return (value is None, value or "")


def poor_order(entry: ParticipantQuality) -> tuple[Any, ...]:
    """Sort key of the poor participants: worst first, ties broken by every other column.

    After :meth:`ParticipantQuality.severity`: a missing measure after a zero one, then the
    participant's SID, its conference's, and the remaining columns, so two reports over the
    same records list them in the same order whatever order the records came in.
    """
    return (
        *entry.severity(),
        entry.packet_loss_percentage is None,
        entry.jitter_avg is None,
        _text_key(entry.participant_sid),
        _text_key(entry.conference_sid),
        _text_key(entry.label),
        _text_key(entry.friendly_name),
        entry.region,
        entry.problems,
    )


@attrs.frozen
class MosPercentiles:
    """The distribution of participants' (worse-direction) MOS in one region."""

    region: str
    participants: int
    p10: float
    p50: float
    p90: float
    mean: float


@attrs.frozen
class QualityReport:
    """The result: counts, poor participants (worst first) and MOS per region."""

    conferences: int
    participants: int
    #: Participants with at least one measured stream.
    participants_with_metrics: int
    by_status: Mapping[str, int]
    by_end_reason: Mapping[str, int]
    by_mixer_region: Mapping[str, int]
    by_tag: Mapping[str, int]
    poor_participants: tuple[ParticipantQuality, ...]
    mos_by_region: tuple[MosPercentiles, ...]
    #: SIDs of conferences whose participants could not be listed.
    incomplete_conferences: tuple[str, ...]
    thresholds: Thresholds

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready dicts and lists."""
        result: dict[str, Any] = attrs.asdict(self)
        return result


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """The ``q``-quantile (0 ≤ q ≤ 1) of sorted values, interpolating between ranks."""
    if not sorted_values:
        raise ValueError("percentile of no values")
    if not 0.0 <= q <= 1.0:
        raise ValueError(f"q must be within [0, 1], got {q!r}")
    position = (len(sorted_values) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def _lower(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None or a <= b else b


def _higher(a: float | None, b: float | None) -> float | None:
    if a is None:
        return b
    return a if b is None or a >= b else b


def worse_of(
    inbound: StreamValues | None, outbound: StreamValues | None
) -> tuple[float | None, float | None, float | None] | None:
    """``(lowest MOS, highest packet loss, highest average jitter)`` of the streams present.

    ``None`` when neither stream is present (the participant was not measured).
    """
    if inbound is None:
        if outbound is None:
            return None
        return outbound.mos, outbound.packet_loss, outbound.jitter
    if outbound is None:
        return inbound.mos, inbound.packet_loss, inbound.jitter
    return (
        _lower(inbound.mos, outbound.mos),
        _higher(inbound.packet_loss, outbound.packet_loss),
        _higher(inbound.jitter, outbound.jitter),
    )


def worse_direction(
    metrics: ParticipantMetrics | None,
) -> tuple[float | None, float | None, float | None] | None:
    """``(lowest MOS, highest packet loss, highest average jitter)`` of the streams present.

    ``None`` when the participant has no measured stream.
    """
    if metrics is None:
        return None
    return worse_of(stream_values(metrics.inbound), stream_values(metrics.outbound))


def _key(value: object) -> str:
    return NONE_KEY if value is None else str(value)


def region_of(conference: ConferenceValues, participant: ParticipantValues) -> str:
    """The region a participant's quality counts under (see the module documentation)."""
    region = (
        participant.participant_region or participant.conference_region or conference.mixer_region
    )
    return "unknown" if region is None or region == NONE_KEY else region


def participant_region(summary: ConferenceSummary, participant: ParticipantSummary) -> str:
    """The region a participant's quality counts under (see the module documentation)."""
    return region_of(conference_values(summary), participant_values(participant))


def ranked(counter: Mapping[str, int]) -> dict[str, int]:
    """Counts, largest first, equal counts by name: the same whatever order they were made in."""
    return dict(sorted(counter.items(), key=lambda item: (-item[1], item[0])))


def mos_summary(values: Sequence[float]) -> tuple[int, list[float], float]:
    """How many values, the values sorted, and their mean rounded like the percentiles."""
    ordered = sorted(values)
    return len(ordered), ordered, round(math.fsum(ordered) / len(ordered), 4)


def collect(values: dict[str, array[float]], key: str, value: float) -> None:
    """Append ``value`` to the array of ``key``, starting one when there is none."""
    found = values.get(key)
    if found is None:
        found = values[key] = array("d")
    found.append(value)


class Measured(NamedTuple):
    """A measured participant's quality on its worse direction, as the report counted it."""

    region: str
    mos: float | None
    packet_loss: float | None
    jitter: float | None
    #: What is poor (see :meth:`Thresholds.problems`); empty when nothing is.
    problems: tuple[str, ...]


class ReportBuilder:
    """Accumulates conferences and their participants into a :class:`QualityReport`.

    :meth:`add` takes a conference report (models); :meth:`add_values` the values of
    :mod:`._report_values` (what a store's reader extracts), which is what :meth:`add`
    turns a report into.
    """

    def __init__(self, thresholds: Thresholds | None = None) -> None:
        self._thresholds = thresholds if thresholds is not None else Thresholds()
        self._conferences = 0
        self._participants = 0
        self._with_metrics = 0
        self._status: Counter[str] = Counter()
        self._end_reason: Counter[str] = Counter()
        self._mixer_region: Counter[str] = Counter()
        self._tag: Counter[str] = Counter()
        # Each poor participant with its values (the HTML report shows more of them).
        self._poor: list[tuple[ParticipantQuality, ParticipantValues]] = []
        # Compact arrays, not lists of float objects: a year's store has millions.
        self._mos: dict[str, array[float]] = {}
        self._incomplete: list[str] = []

    @property
    def thresholds(self) -> Thresholds:
        """Where quality becomes poor."""
        return self._thresholds

    def add(self, report: ConferenceReport) -> None:
        """Count one conference and its participants."""
        self.add_values(*values_of_report(report))

    def add_values(
        self, conference: ConferenceValues, participants: Iterable[ParticipantValues]
    ) -> None:
        """Count one conference and its participants, given as values."""
        self.add_conference(conference)
        for participant in participants:
            self.add_participant(conference, participant)

    def add_conference(self, conference: ConferenceValues) -> None:
        """Count one conference (its participants follow with :meth:`add_participant`)."""
        self._conferences += 1
        self._status[_key(conference.status)] += 1
        self._end_reason[_key(conference.end_reason)] += 1
        self._mixer_region[_key(conference.mixer_region)] += 1
        for tag in conference.tags:
            self._tag[tag] += 1
        if not conference.complete:
            self._incomplete.append(conference.conference_sid or NONE_KEY)

    def add_participant(
        self, conference: ConferenceValues, participant: ParticipantValues
    ) -> Measured | None:
        """Count one participant of ``conference``; its quality, ``None`` if not measured."""
        self._participants += 1
        worse = worse_of(participant.inbound, participant.outbound)
        if worse is None:
            return None
        self._with_metrics += 1
        mos, loss, jitter = worse
        region = region_of(conference, participant)
        if mos is not None:
            collect(self._mos, region, mos)
        problems = self._thresholds.problems(mos, loss, jitter)
        if problems:
            quality = ParticipantQuality(
                conference_sid=conference.conference_sid,
                friendly_name=conference.friendly_name,
                participant_sid=participant.participant_sid,
                label=participant.label,
                region=region,
                mos=mos,
                packet_loss_percentage=loss,
                jitter_avg=jitter,
                problems=problems,
            )
            self._poor.append((quality, participant))
        return Measured(region, mos, loss, jitter, problems)

    def poor(self) -> list[tuple[ParticipantQuality, ParticipantValues]]:
        """The poor participants so far, worst first (see :func:`poor_order`), with values."""
        return sorted(self._poor, key=lambda entry: poor_order(entry[0]))

    def mos_values(self) -> Mapping[str, Sequence[float]]:
        """The (worse-direction) MOS values counted so far, by region."""
        return self._mos

    def result(
        self, poor: Sequence[tuple[ParticipantQuality, ParticipantValues]] | None = None
    ) -> QualityReport:
        """The report of everything added so far.

        ``poor`` is what :meth:`poor` returned, for a caller that needed it too (sorted once).
        """
        if poor is None:
            poor = self.poor()
        regions = []
        for region, values in sorted(self._mos.items(), key=lambda item: (-len(item[1]), item[0])):
            count, ordered, mean = mos_summary(values)
            regions.append(
                MosPercentiles(
                    region=region,
                    participants=count,
                    # Rounded: interpolation leaves float noise (3.9450000000000003).
                    p10=round(percentile(ordered, 0.1), 4),
                    p50=round(percentile(ordered, 0.5), 4),
                    p90=round(percentile(ordered, 0.9), 4),
                    mean=mean,
                )
            )
        return QualityReport(
            conferences=self._conferences,
            participants=self._participants,
            participants_with_metrics=self._with_metrics,
            by_status=ranked(self._status),
            by_end_reason=ranked(self._end_reason),
            by_mixer_region=ranked(self._mixer_region),
            by_tag=ranked(self._tag),
            poor_participants=tuple(quality for quality, _ in poor),
            mos_by_region=tuple(regions),
            incomplete_conferences=tuple(self._incomplete),
            thresholds=self._thresholds,
        )


def build_report(
    reports: Iterable[ConferenceReport], thresholds: Thresholds | None = None
) -> QualityReport:
    """The quality report of ``reports``."""
    builder = ReportBuilder(thresholds)
    for report in reports:
        builder.add(report)
    return builder.result()
