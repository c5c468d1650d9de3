"""The HTML report without a browser, as the command writes it: numbers, escaping, size.

Every page here is made by ``report --html`` in a subprocess, from a store filled with a
fake's data (``report --db``, offline and quick) or from a FakeTwilio over HTTP, and read
back as a user's tools would: the headline cards, the worst-participant table, and the
charts' data in its ``<script type="application/json">`` element. The numbers are checked
against ``report --format json`` of the same data and against the data itself.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twilio_conf_insights.cli import main

# The histogram's binning is pure logic, unit-tested here; the page's bars are checked below.
from twilio_conf_insights.cli._html_data import histogram
from twilio_conf_insights.sync import SQLiteStore
from twilio_conf_insights.testing import FakeData, FakeTwilio

from .helpers import Run, cli, conference_records, fake_env

#: Filling a store with 10,000 participants and reporting it takes a while on a busy machine.
SLOW = 300.0


async def _store_of(path: Path, data: FakeData) -> Path:
    """A store holding every conference of ``data``, as a sync would leave it."""
    async with SQLiteStore(path) as store:
        await store.write(conference_records(data))
    return path


async def _html(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> str:
    """The page ``report ... --html`` writes (the command must succeed and print nothing)."""
    target = tmp_path / "report.html"
    run = await cli("--quiet", "report", *args, "--html", str(target), env=env, timeout=SLOW)
    assert run.returncode == 0, run.stderr
    assert run.stdout == ""
    return target.read_text(encoding="utf-8")


async def _json(*args: str) -> dict[str, Any]:
    run: Run = await cli("report", *args, "--format", "json", timeout=SLOW)
    assert run.returncode == 0, run.stderr
    result: dict[str, Any] = json.loads(run.stdout)
    return result


def _figures(page: str) -> dict[str, Any]:
    """The charts' data, by the id of the element each is drawn in."""
    found = re.search(r'<script[^>]*id="report-figures"[^>]*>(.*?)</script>', page, re.DOTALL)
    assert found is not None
    figures: dict[str, Any] = json.loads(found.group(1))
    return figures


def _headline(page: str) -> dict[str, str]:
    """The headline cards: label (its first word) -> value as shown."""
    cards = re.findall(r'<div class="value">([^<]*)</div><div class="label">([^<]*)</div>', page)
    return {label.split()[0]: value for value, label in cards}


def _table_participants(page: str) -> list[str]:
    """The participant SIDs of the worst-participant table, top to bottom."""
    start = page.index('<table id="worst-table">')
    table = page[start : page.index("</table>", start)]
    return re.findall(r'<span class="sid" title="(CP[0-9a-f]{32})">', table)


THRESHOLDS = ("--mos-below", "3.8", "--loss-above", "0.5", "--jitter-above", "20")


@pytest.fixture
async def store(tmp_path: Path) -> Path:
    return await _store_of(tmp_path / "demo.db", FakeData(conferences=120, seed=5))


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


# -- what the page shows --------------------------------------------------------------------


async def test_page_numbers_are_the_text_reports(tmp_path: Path, store: Path) -> None:
    """Headline, MOS per region and the worst participants are those of ``report -f json``."""
    page = await _html(tmp_path, "--db", str(store), *THRESHOLDS, "--top", "10")
    text = await _json("--db", str(store), *THRESHOLDS)
    headline = _headline(page)
    assert headline["conferences"] == f"{text['conferences']:,}"
    assert headline["participants"] == f"{text['participants']:,}"
    poor = text["poor_participants_total"]
    assert headline[f"{poor:,}"] == f"{100.0 * poor / text['participants_with_metrics']:.1f} %"
    assert (
        _table_participants(page) == [p["participant_sid"] for p in text["poor_participants"]][:10]
    )
    by_region, by_mixer = _figures(page)["mos-by-region"]["data"]
    rows = text["mos_by_region"]
    assert by_region["x"] == [row["region"] for row in rows]
    assert by_region["customdata"] == [row["participants"] for row in rows]
    for key, field in (("lowerfence", "p10"), ("median", "p50"), ("upperfence", "p90")):
        assert by_region[key] == [row[field] for row in rows]
    for low, q1, median, q3, high in zip(
        *(by_mixer[k] for k in ("lowerfence", "q1", "median", "q3", "upperfence")), strict=True
    ):
        assert 1.0 <= low <= q1 <= median <= q3 <= high <= 4.5
    assert sum(by_mixer["customdata"]) == sum(by_region["customdata"])
    assert "<b>MOS below 3.8</b>" in page  # the thresholds used are stated


async def test_distributions_and_timeline_count_every_measure(tmp_path: Path) -> None:
    """Each stream's jitter, latency and loss is one bar's count; each region's timeline too."""
    data = FakeData(conferences=120, seed=5)
    store = await _store_of(tmp_path / "s.db", data)
    page = await _html(tmp_path, "--db", str(store))
    text = await _json("--db", str(store))
    figures = _figures(page)
    streams = [
        stream
        for conference in data.conferences
        for participant in data.participant_summaries[conference["conference_sid"]]
        if participant["metrics"]
        for stream in participant["metrics"].values()
        if stream is not None
    ]
    fields = {"jitter": "jitter", "latency": "latency", "packet_loss": "packet_loss_percentage"}
    for measure, field in fields.items():
        inbound, outbound = figures[f"dist-{measure}"]["data"]
        measured = [
            s[field]["avg"] if isinstance(s[field], dict) else s[field]
            for s in streams
            if s.get(field) is not None
        ]
        assert sum(inbound["y"]) + sum(outbound["y"]) == sum(v is not None for v in measured)
        centers = inbound["x"]
        widths = {round(b - a, 9) for a, b in itertools.pairwise(centers)}
        assert len(widths) <= 1  # equal bins
    lines = figures["timeline"]["data"]
    participants = {row["region"]: row["participants"] for row in text["mos_by_region"]}
    shown = lines[: len(lines) // 2]  # median MOS per region; the poor shares follow
    assert shown
    for line in shown:
        assert sum(line["customdata"]) == participants[line["name"]]


async def test_top_all_lists_every_poor_participant(tmp_path: Path, store: Path) -> None:
    """``--top all`` puts every poor participant in the table."""
    page = await _html(tmp_path, "--db", str(store), "--top", "all")
    text = await _json("--db", str(store))
    assert len(_table_participants(page)) == text["poor_participants_total"] > 10


async def test_empty_store_renders(tmp_path: Path) -> None:
    """No conference at all still gives a page (with zeros), not an error."""
    async with SQLiteStore(tmp_path / "empty.db"):
        pass
    page = await _html(tmp_path, "--db", str(tmp_path / "empty.db"))
    assert "No participant with poor quality." in page
    assert _headline(page)["conferences"] == "0"


HOSTILE = '<script>window.__pwned = 1</script>"><img src=x onerror=alert(1)>&amp;'


async def test_data_is_escaped_in_the_page(tmp_path: Path) -> None:
    """A name or tag with markup in it appears escaped in the HTML and in the chart data."""
    async with FakeTwilio(conferences=20, seed=5) as fake:
        first = fake.data.conferences[0]
        first["friendly_name"] = HOSTILE
        first["tags"] = [HOSTILE]
        for participant in fake.data.participant_summaries[first["conference_sid"]]:
            for stream in (participant["metrics"] or {}).values():
                stream["mos"] = 1.2  # poor, so that the conference is named in the table
        page = await _html(tmp_path, "--top", "all", env=fake_env(fake))
    assert HOSTILE not in page
    assert "<script>window.__pwned" not in page
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in page  # the table
    # In the chart data, Jinja2's tojson leaves no "<" that could end the script element.
    figures = re.search(r'id="report-figures">(.*?)</script>', page, re.DOTALL)
    assert figures is not None
    assert "<" not in figures.group(1)
    assert page.count("<script") == 3


async def test_page_fetches_nothing(tmp_path: Path, store: Path) -> None:
    """No script, style, font or image is referenced by URL: the page works offline."""
    page = await _html(tmp_path, "--db", str(store))
    assert not re.search(r"<script[^>]*\bsrc=", page)
    assert not re.search(r"<link\b", page)
    assert not re.search(r"<img\b", page)
    style = page[page.index("<style>") : page.index("</style>")]
    assert "url(" not in style and "@import" not in style


@pytest.mark.timeout(2 * SLOW)
async def test_page_for_10000_participants_is_under_10_mb(tmp_path: Path) -> None:
    """10,000 participants (every poor one listed with --top all) make a page under 10 MB."""
    data = FakeData(conferences=2500, participants_per_conference=4, seed=3)
    store = await _store_of(tmp_path / "big.db", data)
    page = await _html(tmp_path, "--db", str(store), "--top", "all")
    assert _headline(page)["participants"] == "10,000"
    size = len(page.encode("utf-8"))
    assert size < 10_000_000, size


# -- the command ----------------------------------------------------------------------------


async def test_demo_html(tmp_path: Path) -> None:
    """``--demo report --html`` writes the page of the demo's 200 conferences, nothing on stdout."""
    target = tmp_path / "report.html"
    run = await cli("--demo", "--quiet", "report", "--html", str(target))
    assert run.returncode == 0, run.stderr
    assert run.stdout == ""
    page = target.read_text(encoding="utf-8")
    assert "Demo data" in page
    assert _headline(page)["conferences"] == "200"


async def test_api_html_with_filters(tmp_path: Path) -> None:
    """From the API (a FakeTwilio), the filters given are stated in the page's header."""
    async with FakeTwilio(conferences=30, seed=9) as fake:
        page = await _html(tmp_path, "--status", "completed", env=fake_env(fake))
        completed = sum(1 for c in fake.data.conferences if c["status"] == "completed")
    assert "Twilio Voice Insights · status completed" in page
    assert 0 < completed < 30
    assert _headline(page)["conferences"] == str(completed)


def test_missing_extra_is_one_line_and_status_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Without plotly, ``--html`` names the install command, exits 2, and writes no file."""
    monkeypatch.setitem(sys.modules, "plotly", None)
    status = main(["--demo", "report", "--html", str(tmp_path / "r.html")])
    captured = capsys.readouterr()
    assert status == 2
    assert captured.err.count("\n") == 1
    assert "pip install 'twilio-conf-insights[report]'" in captured.err
    assert "Traceback" not in captured.err
    assert list(tmp_path.iterdir()) == []
