"""The call-quality report: pure computation over conference reports, no I/O.

Feed :class:`~twilio_conf_insights.ConferenceReport` objects to a :class:`ReportBuilder`
one at a time (so a report over any number of conferences streams), or all at once to
:func:`build_report`; either gives a :class:`QualityReport`.

The rules:

* A participant's quality is the worse of its two streams: the lower MOS, the higher
  packet loss and the higher average jitter of inbound and outbound.
* It is *poor* when MOS < 3.5, packet loss > 1 % or average jitter > 30 ms (see
  :class:`Thresholds`). Worst first means lowest MOS first (participants without a MOS
  after those with one), then highest packet loss, then highest jitter.
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
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

from .._models import ConferenceSummary, ParticipantMetrics, ParticipantSummary
from .._results import ConferenceReport

__all__ = [
    "NONE_KEY",
    "MosPercentiles",
    "ParticipantQuality",
    "QualityReport",
    "ReportBuilder",
    "Thresholds",
    "build_report",
    "finite_number",
    "participant_region",
    "percentile",
    "worse_direction",
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
        return tuple(
            name
            for name, poor in (
                ("low_mos", mos is not None and mos < self.mos_below),
                (
                    "high_packet_loss",
                    packet_loss is not None and packet_loss > self.packet_loss_above,
                ),
                ("high_jitter", jitter is not None and jitter > self.jitter_above),
            )
            if poor
        )


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
        """Sort key putting the worst first."""
        return (
            self.mos if self.mos is not None else math.inf,
            -(self.packet_loss_percentage or 0.0),
            -(self.jitter_avg or 0.0),
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


def finite_number(value: Any) -> float | None:
    """``value`` as a float if it is a finite number (not a bool), else ``None``."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _streams(
    metrics: ParticipantMetrics | None,
) -> list[tuple[float | None, float | None, float | None]]:
    """``(mos, packet loss, average jitter)`` of each stream present."""
    found = []
    if metrics is not None:
        for stream in (metrics.inbound, metrics.outbound):
            if stream is not None:
                jitter = stream.jitter.avg if stream.jitter is not None else None
                found.append(
                    (
                        finite_number(stream.mos),
                        finite_number(stream.packet_loss_percentage),
                        finite_number(jitter),
                    )
                )
    return found


def _lowest(values: Iterable[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return min(present) if present else None


def _highest(values: Iterable[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return max(present) if present else None


def _key(value: object) -> str:
    return NONE_KEY if value is None else str(value)


def worse_direction(
    metrics: ParticipantMetrics | None,
) -> tuple[float | None, float | None, float | None] | None:
    """``(lowest MOS, highest packet loss, highest average jitter)`` of the streams present.

    ``None`` when the participant has no measured stream.
    """
    streams = _streams(metrics)
    if not streams:
        return None
    return (
        _lowest(stream[0] for stream in streams),
        _highest(stream[1] for stream in streams),
        _highest(stream[2] for stream in streams),
    )


def participant_region(summary: ConferenceSummary, participant: ParticipantSummary) -> str:
    """The region a participant's quality counts under (see the module documentation)."""
    region = _key(
        participant.participant_region or participant.conference_region or summary.mixer_region
    )
    return "unknown" if region == NONE_KEY else region


def _ranked(counter: Counter[str]) -> dict[str, int]:
    return dict(sorted(counter.items(), key=lambda item: (-item[1], item[0])))


class ReportBuilder:
    """Accumulates conference reports into a :class:`QualityReport`."""

    def __init__(self, thresholds: Thresholds | None = None) -> None:
        self._thresholds = thresholds if thresholds is not None else Thresholds()
        self._conferences = 0
        self._participants = 0
        self._with_metrics = 0
        self._status: Counter[str] = Counter()
        self._end_reason: Counter[str] = Counter()
        self._mixer_region: Counter[str] = Counter()
        self._tag: Counter[str] = Counter()
        self._poor: list[ParticipantQuality] = []
        self._mos: dict[str, list[float]] = {}
        self._incomplete: list[str] = []

    def add(self, report: ConferenceReport) -> None:
        """Count one conference and its participants."""
        summary = report.summary
        self._conferences += 1
        self._status[_key(summary.status)] += 1
        self._end_reason[_key(summary.end_reason)] += 1
        self._mixer_region[_key(summary.mixer_region)] += 1
        self._tag.update({str(tag) for tag in summary.tags or ()})
        if report.error is not None:
            self._incomplete.append(summary.conference_sid or NONE_KEY)
        for participant in report.participants:
            self._add_participant(summary, participant)

    def _add_participant(self, summary: ConferenceSummary, participant: ParticipantSummary) -> None:
        self._participants += 1
        measured = worse_direction(participant.metrics)
        if measured is None:
            return
        self._with_metrics += 1
        mos, loss, jitter = measured
        region = participant_region(summary, participant)
        if mos is not None:
            self._mos.setdefault(region, []).append(mos)
        problems = self._thresholds.problems(mos, loss, jitter)
        if problems:
            self._poor.append(
                ParticipantQuality(
                    conference_sid=summary.conference_sid,
                    friendly_name=summary.friendly_name,
                    participant_sid=participant.participant_sid,
                    label=participant.label,
                    region=region,
                    mos=mos,
                    packet_loss_percentage=loss,
                    jitter_avg=jitter,
                    problems=problems,
                )
            )

    def result(self) -> QualityReport:
        """The report of everything added so far."""
        regions = []
        for region, values in sorted(self._mos.items(), key=lambda item: (-len(item[1]), item[0])):
            ordered = sorted(values)
            regions.append(
                MosPercentiles(
                    region=region,
                    participants=len(ordered),
                    # Rounded: interpolation leaves float noise (3.9450000000000003).
                    p10=round(percentile(ordered, 0.1), 4),
                    p50=round(percentile(ordered, 0.5), 4),
                    p90=round(percentile(ordered, 0.9), 4),
                    mean=round(math.fsum(ordered) / len(ordered), 4),
                )
            )
        return QualityReport(
            conferences=self._conferences,
            participants=self._participants,
            participants_with_metrics=self._with_metrics,
            by_status=_ranked(self._status),
            by_end_reason=_ranked(self._end_reason),
            by_mixer_region=_ranked(self._mixer_region),
            by_tag=_ranked(self._tag),
            poor_participants=tuple(sorted(self._poor, key=ParticipantQuality.severity)),
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
