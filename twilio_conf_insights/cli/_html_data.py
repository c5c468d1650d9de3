"""What the HTML report shows, computed from conference reports: pure, no I/O, no charts.

:class:`HtmlReportData` takes :class:`~twilio_conf_insights.ConferenceReport` objects one at
a time, like the text report's :class:`~._report.ReportBuilder` (which it feeds, so the
headline numbers, MOS percentiles and worst participants are the text report's own), and
adds what only pictures need: the per-direction distributions of jitter, latency and packet
loss, MOS per region over time, detected issues, and the details of the worst participants.
Like the builder it works on the values of :mod:`._report_values`
(:meth:`HtmlReportData.add_values`), so a report read from a store with SQL and one from the
API or the demo server are computed by the same code.

Quality over time buckets participants by their conference's start time (its creation time
when it never started), in UTC: per hour when the start times span at most two days, per six
hours up to eight days, else per day (see :data:`BUCKETS`), so that a chart has from a dozen
to a few dozen points whatever the period.
"""

from __future__ import annotations

import bisect
import itertools
import math
from array import array
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta

import attrs

from .._results import ConferenceReport
from ._report import (
    ParticipantQuality,
    QualityReport,
    ReportBuilder,
    Thresholds,
    collect,
    mos_summary,
    percentile,
    ranked,
)
from ._report_values import (
    DIRECTIONS,
    ConferenceValues,
    ParticipantValues,
    values_of_report,
)

__all__ = [
    "DIRECTIONS",
    "BUCKETS",
    "DEFAULT_TOP",
    "MEASURES",
    "Histogram",
    "MosBox",
    "HtmlReportData",
    "ReportContent",
    "TimeBucket",
    "WorstParticipant",
    "build_content",
    "histogram",
    "percentile_of_two",
]

#: Time buckets: name, length, and the longest span of start times charted with it.
BUCKETS: tuple[tuple[str, timedelta, timedelta], ...] = (
    ("hour", timedelta(hours=1), timedelta(days=2)),
    ("6 hours", timedelta(hours=6), timedelta(days=8)),
    ("day", timedelta(days=1), timedelta.max),
)
#: Worst participants listed in the table by default (0 lists every poor participant).
DEFAULT_TOP = 500
#: The per-direction measures charted as distributions: key, title and unit.
MEASURES: tuple[tuple[str, str, str], ...] = (
    ("jitter", "Average jitter", "ms"),
    ("latency", "Average latency", "ms"),
    ("packet_loss", "Packet loss", "%"),
)


@attrs.frozen
class Histogram:
    """Counts of values in equal-width bins from ``start``; the last bin takes everything above."""

    start: float
    width: float
    counts: tuple[int, ...]
    #: How many values the last bin holds that lie beyond its upper edge.
    overflow: int


def histogram(values: Sequence[float], bins: int = 30, *, cap: float | None = None) -> Histogram:
    """Bin non-negative ``values`` from 0 to about ``cap`` (default: their 99th percentile).

    The bin width is 1, 2 or 5 times a power of ten, the smallest such that at most ``bins``
    bins reach ``cap``; values beyond the last bin count in it (and in ``overflow``).
    """
    if bins < 1:
        raise ValueError(f"bins must be positive, got {bins!r}")
    if not values:
        return Histogram(start=0.0, width=1.0, counts=(0,), overflow=0)
    ordered = sorted(values)
    return _binned(ordered, bins, cap if cap is not None else percentile(ordered, 0.99))


def _binned(ordered: Sequence[float], bins: int, cap: float) -> Histogram:
    """:func:`histogram` of values already sorted."""
    top = max(cap, 1e-9)
    width = _nice_width(top / bins)
    last = max(1, math.ceil(top / width)) - 1

    def bin_of(value: float) -> int:
        return max(0, math.floor(value / width))

    # The values are sorted and bin_of never decreases along them: each bin's values are
    # the run between two binary searches (a million values, not a million steps).
    starts = [bisect.bisect_left(ordered, index, key=bin_of) for index in range(last + 1)]
    counts = [end - start for start, end in itertools.pairwise([*starts, len(ordered)])]
    overflow = len(ordered) - bisect.bisect_right(ordered, (last + 1) * width)
    return Histogram(start=0.0, width=width, counts=tuple(counts), overflow=overflow)


def _nth(first: Sequence[float], second: Sequence[float], rank: int) -> float:
    """The value of ``rank`` (from 0) in the sorted union of two sorted sequences."""
    # Binary search on how many of the rank + 1 smallest come from ``first``.
    low, high = max(0, rank + 1 - len(second)), min(rank + 1, len(first))
    while low < high:
        taken = (low + high) // 2
        if first[taken] < second[rank - taken]:
            low = taken + 1
        else:
            high = taken
    return max(
        first[low - 1] if low > 0 else -math.inf,
        second[rank - low] if rank - low >= 0 else -math.inf,
    )


def percentile_of_two(first: Sequence[float], second: Sequence[float], q: float) -> float:
    """``percentile(sorted([*first, *second]), q)`` of two sorted sequences, without merging."""
    count = len(first) + len(second)
    if not count:
        raise ValueError("percentile of no values")
    position = (count - 1) * q
    low = math.floor(position)
    below = _nth(first, second, low)
    above = _nth(first, second, min(low + 1, count - 1))
    return below + (above - below) * (position - low)


def _nice_width(raw: float) -> float:
    # A bin width of 1, 2 or 5 times a power of ten, so that bin edges read well.
    magnitude = 10.0 ** math.floor(math.log10(raw))
    for step in (1.0, 2.0, 5.0, 10.0):
        if raw <= step * magnitude:
            return step * magnitude
    return 10.0 * magnitude  # pragma: no cover - the loop always returns


@attrs.frozen
class MosBox:
    """The distribution of participants' (worse-direction) MOS in one region."""

    region: str
    participants: int
    p10: float
    p25: float
    p50: float
    p75: float
    p90: float
    mean: float


@attrs.frozen
class WorstParticipant:
    """A participant with poor quality, with what the table shows beside its measures."""

    quality: ParticipantQuality
    call_type: str | None
    mos_inbound: float | None
    mos_outbound: float | None
    #: The higher average latency of inbound and outbound, in milliseconds.
    latency_avg: float | None


@attrs.frozen
class TimeBucket:
    """The measured participants of one region whose conference started in one period."""

    start: datetime
    region: str
    participants: int
    poor: int
    median_mos: float | None


@attrs.frozen
class ReportContent:
    """Everything the HTML report shows."""

    quality: QualityReport
    #: ``{measure: {direction: histogram}}`` for the keys of :data:`MEASURES`.
    distributions: Mapping[str, Mapping[str, Histogram]]
    #: MOS per region where the participant's media met Twilio (the text report's regions).
    mos_by_participant_region: tuple[MosBox, ...]
    #: MOS per conference mixer region.
    mos_by_mixer_region: tuple[MosBox, ...]
    #: The name of the time bucket (see :data:`BUCKETS`).
    bucket: str
    timeline: tuple[TimeBucket, ...]
    #: Conferences with at least one issue of each detected-issue category.
    detected_issues: Mapping[str, int]
    call_types: Mapping[str, int]
    #: The worst participants, worst first, at most the ``top`` asked for.
    worst: tuple[WorstParticipant, ...]
    first_start: datetime | None
    last_start: datetime | None


def _floor(moment: datetime, length: timedelta) -> datetime:
    # Buckets start at multiples of their length since midnight UTC.
    midnight = moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight + ((moment - midnight) // length) * length


def _boxes(values_by_region: Mapping[str, Sequence[float]]) -> tuple[MosBox, ...]:
    boxes = []
    for region, values in sorted(
        values_by_region.items(), key=lambda item: (-len(item[1]), item[0])
    ):
        count, ordered, mean = mos_summary(values)
        p10, p25, p50, p75, p90 = (
            # Rounded like the text report's percentiles.
            round(percentile(ordered, q), 4)
            for q in (0.1, 0.25, 0.5, 0.75, 0.9)
        )
        boxes.append(MosBox(region, count, p10, p25, p50, p75, p90, mean))
    return tuple(boxes)


def _worst(quality: ParticipantQuality, participant: ParticipantValues) -> WorstParticipant:
    streams = (participant.inbound, participant.outbound)
    latencies = [s.latency for s in streams if s is not None and s.latency is not None]
    return WorstParticipant(
        quality=quality,
        call_type=participant.call_type or None,
        mos_inbound=participant.inbound.mos if participant.inbound is not None else None,
        mos_outbound=participant.outbound.mos if participant.outbound is not None else None,
        latency_avg=max(latencies) if latencies else None,
    )


class HtmlReportData:
    """Accumulates conference reports into the :class:`ReportContent` of an HTML report."""

    def __init__(
        self, thresholds: Thresholds | None = None, *, top: int | None = DEFAULT_TOP
    ) -> None:
        self._builder = ReportBuilder(thresholds)
        self._top = top
        # Compact arrays, not lists of float objects: a year's store has millions of values.
        self._values: dict[tuple[str, str], array[float]] = {
            (measure, direction): array("d")
            for measure, _, _ in MEASURES
            for direction in DIRECTIONS
        }
        # Per direction, where a stream's jitter, latency and packet loss go.
        self._appends = {
            direction: tuple(
                self._values[(measure, direction)].append
                for measure in ("jitter", "latency", "packet_loss")
            )
            for direction in DIRECTIONS
        }
        self._mos_mixer: dict[str, array[float]] = {}
        # start hour -> region -> [measured participants, poor ones], MOS values
        self._timeline: dict[datetime, dict[str, tuple[list[int], array[float]]]] = {}
        self._issues: Counter[str] = Counter()
        self._call_types: Counter[str] = Counter()
        self._first: datetime | None = None
        self._last: datetime | None = None

    def add(self, report: ConferenceReport) -> None:
        """Count one conference and its participants."""
        self.add_values(*values_of_report(report))

    def add_values(
        self, conference: ConferenceValues, participants: Iterable[ParticipantValues]
    ) -> None:
        """Count one conference and its participants, given as values."""
        self._builder.add_conference(conference)
        for issue in conference.issues:
            self._issues[issue] += 1
        started = conference.started
        points = None
        if started is not None:
            self._first = started if self._first is None else min(self._first, started)
            self._last = started if self._last is None else max(self._last, started)
            hour = started.replace(minute=0, second=0, microsecond=0)
            points = self._timeline.setdefault(hour, {})
        mixer = conference.mixer_region or "unknown"
        # Local names: this loop runs once per participant, millions of times for a year.
        count = self._builder.add_participant
        inbound_appends, outbound_appends = self._appends["inbound"], self._appends["outbound"]
        call_types = self._call_types
        for participant in participants:
            measured = count(conference, participant)
            if measured is None:
                continue
            # Each present stream's measures to their arrays, spelled out (not a call per
            # stream): this runs for millions of participants.
            for stream, (jitter, latency, loss) in (
                (participant.inbound, inbound_appends),
                (participant.outbound, outbound_appends),
            ):
                if stream is not None:
                    _, stream_loss, stream_jitter, stream_latency = stream
                    if stream_jitter is not None:
                        jitter(stream_jitter)
                    if stream_latency is not None:
                        latency(stream_latency)
                    if stream_loss is not None:
                        loss(stream_loss)
            call_types[participant.call_type or "unknown"] += 1
            mos = measured.mos
            if mos is not None:
                collect(self._mos_mixer, mixer, mos)
            if points is not None:
                point = points.get(measured.region)
                if point is None:
                    point = points[measured.region] = ([0, 0], array("d"))
                point[0][0] += 1
                point[0][1] += bool(measured.problems)
                if mos is not None:
                    point[1].append(mos)

    def _bucketed(self) -> tuple[str, tuple[TimeBucket, ...]]:
        if self._first is None or self._last is None:
            return BUCKETS[0][0], ()
        span = self._last - self._first
        name, length, _ = next(bucket for bucket in BUCKETS if span <= bucket[2])
        merged: dict[tuple[datetime, str], tuple[list[int], array[float]]] = {}
        for hour, regions in self._timeline.items():
            start = _floor(hour, length)
            for region, (counts, values) in regions.items():
                into_counts, into_values = merged.setdefault((start, region), ([0, 0], array("d")))
                into_counts[0] += counts[0]
                into_counts[1] += counts[1]
                into_values.extend(values)
        buckets = tuple(
            TimeBucket(
                start=start,
                region=region,
                participants=counts[0],
                poor=counts[1],
                median_mos=round(percentile(sorted(values), 0.5), 4) if values else None,
            )
            for (start, region), (counts, values) in sorted(merged.items())
        )
        return name, buckets

    def result(self) -> ReportContent:
        """The content of everything added so far."""
        poor = self._builder.poor()
        quality = self._builder.result(poor)
        bucket, timeline = self._bucketed()
        distributions: dict[str, dict[str, Histogram]] = {}
        for measure, _title, _unit in MEASURES:
            # Sorted into arrays: a year's store has millions of values per measure.
            inbound, outbound = (array("d", sorted(self._values[(measure, d)])) for d in DIRECTIONS)
            # One scale for both directions, so that their bars line up.
            cap = percentile_of_two(inbound, outbound, 0.99) if inbound or outbound else 1.0
            distributions[measure] = {
                direction: _binned(values, 30, cap) if values else histogram(values)
                for direction, values in zip(DIRECTIONS, (inbound, outbound), strict=True)
            }
        return ReportContent(
            quality=quality,
            distributions=distributions,
            mos_by_participant_region=_boxes(self._builder.mos_values()),
            mos_by_mixer_region=_boxes(self._mos_mixer),
            bucket=bucket,
            timeline=timeline,
            detected_issues=ranked(self._issues),
            call_types=ranked(self._call_types),
            worst=tuple(_worst(*entry) for entry in poor[: self._top]),
            first_start=self._first,
            last_start=self._last,
        )


def build_content(
    reports: Iterable[ConferenceReport],
    thresholds: Thresholds | None = None,
    *,
    top: int | None = DEFAULT_TOP,
) -> ReportContent:
    """The HTML report's content of ``reports``."""
    data = HtmlReportData(thresholds, top=top)
    for report in reports:
        data.add(report)
    return data.result()
