"""The HTML report without a browser: its numbers, its escaping, its size, the CLI option.

The numbers come from the text report's builder; these tests prove the page's own additions
(distributions, time buckets, the worst-participant table) agree with the data, that the
page loads nothing from the network, that data cannot become markup, and that ``--html``
without the ``report`` extra fails with one line and status 2.
"""

from __future__ import annotations

import math
import re
import sys
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from twilio_conf_insights import ConferenceReport, ConferenceSummary, ParticipantSummary
from twilio_conf_insights.cli import main
from twilio_conf_insights.cli._html_data import BUCKETS, build_content, histogram
from twilio_conf_insights.cli._html_file import REPORT_EXTRA_INSTALL, missing_report_extra
from twilio_conf_insights.cli._html_report import render_html
from twilio_conf_insights.cli._report import Thresholds, build_report, worse_direction
from twilio_conf_insights.testing import FakeTwilio

from .helpers import cli, fake_env

GENERATED = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


def reports_of(fake: FakeTwilio) -> Iterator[ConferenceReport]:
    """The fake's data as the SDK would return it, without HTTP."""
    for conference in fake.data.conferences:
        yield ConferenceReport(
            summary=ConferenceSummary.from_dict(conference),
            participants=[
                ParticipantSummary.from_dict(p)
                for p in fake.data.participant_summaries[conference["conference_sid"]]
            ],
        )


@pytest.fixture(scope="module")
def demo_reports() -> list[ConferenceReport]:
    return list(reports_of(FakeTwilio(conferences=120, seed=5)))


# -- histogram ------------------------------------------------------------------------------


@given(
    st.lists(st.floats(min_value=0, max_value=1e6, allow_nan=False), max_size=200),
    st.integers(min_value=1, max_value=60),
)
def test_histogram_counts_every_value_once(values: list[float], bins: int) -> None:
    """Every value lands in exactly one bin; overflow is part of the last bin; widths are 1-2-5."""
    result = histogram(values, bins)
    assert sum(result.counts) == len(values)
    assert 0 <= result.overflow <= result.counts[-1]
    assert len(result.counts) <= bins + 1
    mantissa = result.width / 10 ** math.floor(math.log10(result.width))
    assert any(math.isclose(mantissa, step) for step in (1.0, 2.0, 5.0, 10.0))


def test_histogram_bins_by_value() -> None:
    """Values fall in the bin whose range holds them; the cap sets the scale."""
    result = histogram([0.0, 0.5, 1.0, 1.5, 9.0, 50.0], bins=10, cap=10.0)
    assert result.width == 1.0
    assert len(result.counts) == 10
    assert result.counts[:2] == (2, 2)
    assert result.counts[9] == 2  # 9.0 and, beyond the cap, 50.0
    assert result.overflow == 1


# -- content --------------------------------------------------------------------------------


def test_content_reuses_the_text_report(demo_reports: list[ConferenceReport]) -> None:
    """Headline numbers, MOS per region and poor participants are the text report's own."""
    thresholds = Thresholds(mos_below=3.8, packet_loss_above=0.5, jitter_above=20.0)
    content = build_content(demo_reports, thresholds, top=10)
    assert content.quality == build_report(demo_reports, thresholds)
    assert [row.quality for row in content.worst] == list(content.quality.poor_participants[:10])
    boxes = content.mos_by_participant_region
    assert [(b.region, b.participants, b.p10, b.p50, b.p90, b.mean) for b in boxes] == [
        (r.region, r.participants, r.p10, r.p50, r.p90, r.mean)
        for r in content.quality.mos_by_region
    ]
    for box in (*boxes, *content.mos_by_mixer_region):
        assert 1.0 <= box.p10 <= box.p25 <= box.p50 <= box.p75 <= box.p90 <= 4.5
    by_mixer = {b.region: b.participants for b in content.mos_by_mixer_region}
    expected = Counter(
        str(r.summary.mixer_region or "unknown")
        for r in demo_reports
        for p in r.participants
        if (measured := worse_direction(p.metrics)) is not None and measured[0] is not None
    )
    assert by_mixer == dict(expected)


def test_content_distributions_and_timeline_count_every_measure(
    demo_reports: list[ConferenceReport],
) -> None:
    """Each stream's measures are binned once; each measured participant is in one bucket."""
    content = build_content(demo_reports)
    participants = [p for report in demo_reports for p in report.participants]
    measured = [p for p in participants if worse_direction(p.metrics) is not None]
    for direction in ("inbound", "outbound"):
        streams = [getattr(p.metrics, direction) for p in measured if p.metrics is not None]
        latencies = [
            s for s in streams if s is not None and s.latency and s.latency.avg is not None
        ]
        assert sum(content.distributions["latency"][direction].counts) == len(latencies)
    assert sum(bucket.participants for bucket in content.timeline) == len(measured)
    assert sum(bucket.poor for bucket in content.timeline) == len(content.quality.poor_participants)
    assert content.first_start is not None and content.last_start is not None
    name = next(b[0] for b in BUCKETS if content.last_start - content.first_start <= b[2])
    assert content.bucket == name
    assert all(bucket.start <= content.last_start for bucket in content.timeline)
    worst = content.worst[0]
    assert worst.quality.mos == min(m for m in (worst.mos_inbound, worst.mos_outbound) if m)


def test_all_participants_with_top_zero(demo_reports: list[ConferenceReport]) -> None:
    """``top=None`` lists every poor participant."""
    content = build_content(demo_reports, top=None)
    assert len(content.worst) == len(content.quality.poor_participants) > 10


def test_empty_content_renders() -> None:
    """No conference at all still gives a page (with zeros), not an error."""
    page = render_html(build_content([]), generated=GENERATED, source="nothing")
    assert "No participant with poor quality." in page


# -- the page -------------------------------------------------------------------------------

HOSTILE = '<script>window.__pwned = 1</script>"><img src=x onerror=alert(1)>&amp;'


def test_data_is_escaped_in_the_page(demo_reports: list[ConferenceReport]) -> None:
    """A name or tag with markup in it appears escaped in the HTML and in the chart data."""
    first = demo_reports[0]
    summary = attrs.evolve(first.summary, friendly_name=HOSTILE, tags=[HOSTILE])
    hostile = ConferenceReport(summary=summary, participants=first.participants)
    page = render_html(
        build_content([hostile, *demo_reports[1:]], top=None),
        generated=GENERATED,
        source=HOSTILE,
    )
    assert HOSTILE not in page
    assert "<script>window.__pwned" not in page
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in page  # header and table
    # In the chart data, Jinja2's tojson leaves no "<" that could end the script element.
    figures = re.search(r'id="report-figures">(.*?)</script>', page, re.DOTALL)
    assert figures is not None
    assert "<" not in figures.group(1)
    assert page.count("<script") == 3


def test_page_fetches_nothing(demo_reports: list[ConferenceReport]) -> None:
    """No script, style, font or image is referenced by URL: the page works offline."""
    page = render_html(build_content(demo_reports), generated=GENERATED, source="test")
    assert not re.search(r"<script[^>]*\bsrc=", page)
    assert not re.search(r"<link\b", page)
    assert not re.search(r"<img\b", page)
    style = page[page.index("<style>") : page.index("</style>")]
    assert "url(" not in style and "@import" not in style


def test_page_for_10000_participants_is_under_10_mb() -> None:
    """10,000 participants (every one poor-listed with --top all) make a page under 10 MB."""
    fake = FakeTwilio(conferences=2500, participants_per_conference=4, seed=3)
    content = build_content(reports_of(fake), top=None)
    assert content.quality.participants == 10_000
    size = len(render_html(content, generated=GENERATED, source="size").encode("utf-8"))
    assert size < 10_000_000, size


# -- the command ----------------------------------------------------------------------------


async def test_demo_html(tmp_path: Path) -> None:
    """``--demo report --html`` writes the page and nothing on stdout."""
    target = tmp_path / "report.html"
    run = await cli("--demo", "--quiet", "report", "--html", str(target))
    assert run.returncode == 0, run.stderr
    assert run.stdout == ""
    page = target.read_text(encoding="utf-8")
    assert "Demo data" in page
    assert "200" in page  # the demo's conferences, in the headline


async def test_api_html_with_filters(tmp_path: Path) -> None:
    """From the API (a FakeTwilio), the filters given are stated in the page's header."""
    target = tmp_path / "report.html"
    async with FakeTwilio(conferences=30, seed=9) as fake:
        run = await cli(
            "report", "--status", "completed", "--html", str(target), env=fake_env(fake)
        )
        completed = sum(1 for c in fake.data.conferences if c["status"] == "completed")
    assert run.returncode == 0, run.stderr
    page = target.read_text(encoding="utf-8")
    assert "Twilio Voice Insights · status completed" in page
    assert re.search(rf'<div class="value">{completed}</div><div class="label">conferences', page)


def test_missing_extra_is_one_line_and_status_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Without plotly, ``--html`` names the install command, exits 2, and writes no file."""
    monkeypatch.setitem(sys.modules, "plotly", None)
    assert missing_report_extra() is not None
    status = main(["--demo", "report", "--html", str(tmp_path / "r.html")])
    captured = capsys.readouterr()
    assert status == 2
    assert captured.err.count("\n") == 1
    assert REPORT_EXTRA_INSTALL in captured.err
    assert "Traceback" not in captured.err
    assert list(tmp_path.iterdir()) == []


def test_report_extra_is_present_here() -> None:
    """The test environment has the extra (so the other tests exercise the real page)."""
    assert missing_report_extra() is None
