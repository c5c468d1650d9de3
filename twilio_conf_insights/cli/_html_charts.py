"""The HTML report's charts: Plotly figures built from a :class:`~._html_data.ReportContent`.

Each figure is returned as the JSON-ready dict that ``Plotly.newPlot`` takes, validated by
``plotly.graph_objects`` on the way. Plotly reads a small subset of HTML in labels (``<b>``,
``<br>``, links), so every name that comes from the data (regions, tags, call types) is
HTML-escaped before it reaches a figure: Plotly decodes the entities back and shows the
name as it is, never as markup.
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Mapping
from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from ._html_data import DIRECTIONS, MEASURES, Histogram, ReportContent

__all__ = ["COLORS", "figures"]

#: Colours: regions in order of participants, then the two stream directions.
COLORS = ("#2563eb", "#f97316", "#10b981", "#a855f7", "#ef4444", "#0ea5e9", "#eab308", "#64748b")
_DIRECTION_COLORS = {"inbound": "#0d9488", "outbound": "#f97316"}
_POOR_COLOR = "#dc2626"
#: Regions drawn as their own line over time; the others are left to the table and boxes.
TIMELINE_REGIONS = 5

_FONT = "system-ui, -apple-system, 'Segoe UI', Roboto, Helvetica, Arial, sans-serif"


def _text(value: str) -> str:
    # Plotly decodes &lt; &gt; &amp; but not &quot;: quotes are left as they are (outside a
    # tag they mean nothing to it).
    return html.escape(value, quote=False)


def _layout(**overrides: Any) -> dict[str, Any]:
    layout: dict[str, Any] = {
        "template": "plotly_white",
        "font": {"family": _FONT, "size": 13, "color": "#1f2937"},
        "margin": {"l": 60, "r": 20, "t": 36, "b": 50},
        "height": 340,
        "legend": {"orientation": "h", "y": 1.02, "x": 0, "yanchor": "bottom"},
        "hoverlabel": {"font": {"family": _FONT}},
    }
    layout.update(overrides)
    return layout


def _as_json(figure: go.Figure) -> dict[str, Any]:
    # Through plotly's encoder: validated and made of plain JSON types.
    result: dict[str, Any] = json.loads(figure.to_json())
    return result


def _add_threshold(figure: Any, axis: str, value: float, text: str) -> None:
    """A dashed line at ``value`` on ``axis`` ("x" or "y"), labelled ``text`` at its end."""
    line: dict[str, Any] = {
        "type": "line",
        "line": {"color": _POOR_COLOR, "width": 1.5, "dash": "dash"},
    }
    label: dict[str, Any] = {"text": text, "showarrow": False}
    if axis == "y":  # across the plot, labelled at its right end, above the line
        line.update(xref="paper", x0=0, x1=1, y0=value, y1=value)
        label.update(xref="paper", x=1, y=value, xanchor="right", yanchor="bottom")
    else:  # up the plot, labelled at its top, right of the line
        line.update(yref="paper", y0=0, y1=1, x0=value, x1=value)
        label.update(yref="paper", x=value, y=1, xanchor="left", yanchor="top")
    figure.add_shape(**line)
    figure.add_annotation(**label, font={"color": _POOR_COLOR, "size": 11})


def mos_by_region(content: ReportContent) -> dict[str, Any]:
    """Boxes per region, by participant region and by mixer region side by side.

    Box: 25th-75th percentile and median; whiskers at the 10th and 90th; dotted: the mean.
    """
    lows = [box.p10 for box in (*content.mos_by_participant_region, *content.mos_by_mixer_region)]
    # From a little below the lowest whisker, so that the boxes are not squeezed at the top.
    bottom = max(1.0, math.floor((min(lows, default=1.0) - 0.25) * 2) / 2)
    figure = go.Figure(
        layout=_layout(
            boxmode="group",
            boxgroupgap=0.25,
            yaxis={"title": {"text": "MOS (1 bad … 4.5 excellent)"}, "range": [bottom, 4.6]},
            xaxis={"title": {"text": "region"}, "type": "category"},
        )
    )
    groupings = (
        ("where media met Twilio", content.mos_by_participant_region, COLORS[0]),
        ("conference mixer region", content.mos_by_mixer_region, COLORS[3]),
    )
    for name, boxes, color in groupings:
        figure.add_trace(
            go.Box(
                name=name,
                x=[_text(box.region) for box in boxes],
                q1=[box.p25 for box in boxes],
                median=[box.p50 for box in boxes],
                q3=[box.p75 for box in boxes],
                lowerfence=[box.p10 for box in boxes],
                upperfence=[box.p90 for box in boxes],
                mean=[box.mean for box in boxes],
                customdata=[box.participants for box in boxes],
                marker={"color": color},
                line={"width": 1.5},
                boxmean=True,
                hovertemplate=(f"%{{x}} ({name}): %{{customdata}} participants<extra></extra>"),
            )
        )
    below = content.quality.thresholds.mos_below
    _add_threshold(figure, "y", below, f"poor below {below:g}")
    return _as_json(figure)


def _bars(histogram: Histogram) -> tuple[list[float], list[str]]:
    centers = [
        histogram.start + (index + 0.5) * histogram.width for index in range(len(histogram.counts))
    ]
    labels = []
    for index in range(len(histogram.counts)):
        low = histogram.start + index * histogram.width
        last = index == len(histogram.counts) - 1
        labels.append(
            f"≥ {low:g}" if last and histogram.overflow else f"{low:g} to {low + histogram.width:g}"
        )
    return centers, labels


def distribution(content: ReportContent, measure: str) -> dict[str, Any]:
    """Inbound and outbound histograms of one measure, on one scale."""
    title, unit = next((t, u) for key, t, u in MEASURES if key == measure)
    thresholds = content.quality.thresholds
    figure = go.Figure(
        layout=_layout(
            barmode="group",
            bargap=0.15,
            bargroupgap=0.0,
            xaxis={"title": {"text": f"{title.lower()} ({unit})"}, "rangemode": "tozero"},
            # Logarithmic: the few participants in the tail are the ones that matter.
            yaxis={"title": {"text": "participants (log scale)"}, "type": "log", "dtick": 1},
        )
    )
    for direction in DIRECTIONS:
        histogram = content.distributions[measure][direction]
        centers, labels = _bars(histogram)
        figure.add_trace(
            go.Bar(
                x=centers,
                y=list(histogram.counts),
                name=direction,
                customdata=labels,
                marker={"color": _DIRECTION_COLORS[direction]},
                opacity=0.85,
                hovertemplate=(
                    f"{direction}: %{{customdata}} {unit}<br>%{{y}} participants<extra></extra>"
                ),
            )
        )
    limit = {"jitter": thresholds.jitter_above, "packet_loss": thresholds.packet_loss_above}.get(
        measure
    )
    if limit is not None:
        _add_threshold(figure, "x", limit, f"poor above {limit:g} {unit}")
    return _as_json(figure)


def timeline(content: ReportContent) -> dict[str, Any]:
    """Median MOS and share of poor participants per period, one line per large region."""
    regions = [row.region for row in content.quality.mos_by_region[:TIMELINE_REGIONS]]
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08)
    for index, region in enumerate(regions):
        buckets = [bucket for bucket in content.timeline if bucket.region == region]
        color = COLORS[index % len(COLORS)]
        times = [bucket.start.isoformat() for bucket in buckets]
        counts = [bucket.participants for bucket in buckets]
        figure.add_trace(
            go.Scatter(
                x=times,
                y=[bucket.median_mos for bucket in buckets],
                customdata=counts,
                name=_text(region),
                legendgroup=_text(region),
                mode="lines+markers",
                line={
                    "color": color,
                    "width": 2,
                },
                marker={"size": 5},
                connectgaps=True,
                hovertemplate=(
                    "%{y:.2f} median MOS, %{customdata} participants<extra>%{fullData.name}</extra>"
                ),
            ),
            row=1,
            col=1,
        )
        figure.add_trace(
            go.Scatter(
                x=times,
                y=[round(100.0 * bucket.poor / bucket.participants, 1) for bucket in buckets],
                customdata=counts,
                name=_text(region),
                legendgroup=_text(region),
                showlegend=False,
                mode="lines+markers",
                line={
                    "color": color,
                    "width": 2,
                },
                marker={"size": 5},
                hovertemplate=(
                    "%{y}% poor of %{customdata} participants<extra>%{fullData.name}</extra>"
                ),
            ),
            row=2,
            col=1,
        )
    period = content.bucket
    figure.update_layout(
        _layout(height=460, margin={"l": 60, "r": 20, "t": 30, "b": 40}, hovermode="x unified")
    )
    figure.update_yaxes(title_text="median MOS", row=1, col=1)
    figure.update_yaxes(title_text="poor quality (%)", rangemode="tozero", row=2, col=1)
    figure.update_xaxes(title_text=f"conference start, per {period} (UTC)", row=2, col=1)
    return _as_json(figure)


def counts_bar(counts: Mapping[str, int], axis_title: str, color: str) -> dict[str, Any]:
    """Horizontal bars of counts, largest on top."""
    names = [_text(name) for name in counts]
    values = list(counts.values())
    figure = go.Figure(
        go.Bar(
            x=values[::-1],
            y=names[::-1],
            orientation="h",
            marker={"color": color},
            text=values[::-1],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y}: %{x}<extra></extra>",
        ),
        layout=_layout(
            height=max(220, 60 + 24 * len(names)),
            margin={"l": 20, "r": 40, "t": 36, "b": 50},
            xaxis={"title": {"text": axis_title}},
            yaxis={"automargin": True, "type": "category"},
            showlegend=False,
        ),
    )
    return _as_json(figure)


def figures(content: ReportContent) -> dict[str, dict[str, Any]]:
    """Every chart of the report, by the id of the element it is drawn in."""
    charts: dict[str, dict[str, Any]] = {"mos-by-region": mos_by_region(content)}
    for measure, _title, _unit in MEASURES:
        charts[f"dist-{measure}"] = distribution(content, measure)
    charts["timeline"] = timeline(content)
    charts["tags"] = counts_bar(content.quality.by_tag, "conferences", COLORS[3])
    charts["issues"] = counts_bar(
        {name.replace("_", " "): count for name, count in content.detected_issues.items()},
        "conferences",
        _POOR_COLOR,
    )
    charts["call-types"] = counts_bar(content.call_types, "participants", COLORS[5])
    return charts
