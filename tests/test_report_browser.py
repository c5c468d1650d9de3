"""The HTML report in a real browser: headless Chromium from the system's packages.

The page is made by the command line against a FakeTwilio (real HTTP), opened from disk
with the network unused, and checked after its scripts ran: no JavaScript error, every
chart drawn as SVG, a screenshot with something on it, the table sortable, and names and
tags full of markup shown as text. Without Chromium these tests fail and say how to
install it (see :func:`tests.browser.chromium_path`); they are never skipped.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from PIL import Image

from twilio_conf_insights.testing import FakeTwilio

from .browser import Page, file_url, open_page
from .helpers import cli, fake_env

# Each would set window.__pwned if the page ran it as code.
HOSTILE_NAME = '<script>window.__pwned = "name"</script>Ops "bridge" & co'
HOSTILE_TAG = '"><img src=x onerror="window.__pwned=\'tag\'"></script><script>window.__pwned=2//'
HOSTILE_LABEL = "<img src=x onerror=window.__pwned='label'>"
HOSTILE_REGION = "<svg onload=window.__pwned='region'>"

#: What the page reports after its scripts ran, in one evaluation.
_INSPECT = """(async () => {
  const drawn = await window.reportReady;
  const charts = Array.from(document.querySelectorAll(".chart"));
  return {
    drawn: drawn,
    charts: charts.map(c => [c.id, c.querySelectorAll("svg.main-svg").length,
                             c.querySelectorAll("g.trace path").length]),
    pwned: window.__pwned === undefined ? null : String(window.__pwned),
    handlers: document.querySelectorAll("[onerror], [onload]").length,
    images: document.querySelectorAll("img").length,
    scripts: document.scripts.length,
    table: document.getElementById("worst-table").innerText,
    header: document.querySelector("header").innerText,
    chartText: Array.from(document.querySelectorAll(".chart text")).map(t => t.textContent),
  };
})()"""


async def _inspect(page: Page) -> dict[str, Any]:
    result: dict[str, Any] = await page.evaluate(_INSPECT)
    return result


async def _make_report(fake: FakeTwilio, target: Path, *args: str) -> None:
    run = await cli("--quiet", "report", *args, "--html", str(target), env=fake_env(fake))
    assert run.returncode == 0, run.stderr


def _assert_not_blank(png: bytes) -> None:
    image = Image.open(io.BytesIO(png)).convert("RGB")
    width, height = image.size
    assert width >= 1000 and height >= 800
    colors = image.getcolors(maxcolors=width * height)
    assert colors is not None
    background = max(colors)[0]
    # A blank or error page is one or two colours; the report has text, charts and cards.
    assert len(colors) > 500, len(colors)
    assert background / (width * height) < 0.8


async def test_report_draws_without_errors_offline(tmp_path: Path) -> None:
    """Charts are drawn, nothing errs, nothing is fetched, the screenshot is not blank."""
    target = tmp_path / "report.html"
    async with FakeTwilio(conferences=60, seed=21) as fake:
        await _make_report(fake, target, "--top", "20")
    async with open_page() as page:
        load = await page.load(target)
        seen = await _inspect(page)
        after = page.record(file_url(target))
        png = await page.screenshot()
        # Sorting: the MOS column ascending, then descending on a second click.
        mos = await page.evaluate(
            """(() => {
              const heading = Array.from(document.querySelectorAll("#worst-table th"))
                .find(th => th.textContent === "MOS");
              const column = heading.cellIndex;
              const values = () => Array.from(document.querySelectorAll("#worst-table tbody tr"))
                .map(row => parseFloat(row.cells[column].dataset.value));
              heading.click();
              const up = values();
              heading.click();
              return [up, values(), heading.getAttribute("aria-sort")];
            })()"""
        )
    assert load.exceptions == () and after.exceptions == (), after.exceptions
    assert after.console_errors == (), after.console_errors
    assert after.requests == (), after.requests
    assert seen["drawn"] == len(seen["charts"]) >= 8
    for chart_id, svgs, marks in seen["charts"]:
        assert svgs >= 1, f"{chart_id}: no SVG"
        assert marks >= 1, f"{chart_id}: nothing plotted"
    _assert_not_blank(png)
    ascending, descending, direction = mos
    assert len(ascending) == 20
    assert ascending == sorted(ascending)
    assert descending == sorted(ascending, reverse=True)
    assert direction == "descending"


async def test_hostile_names_and_tags_are_text(tmp_path: Path) -> None:
    """Markup in a friendly name, tag, label or region is shown as text and never runs."""
    target = tmp_path / "report.html"
    async with FakeTwilio(conferences=20, seed=4) as fake:
        conference = fake.data.conferences[0]
        conference["friendly_name"] = HOSTILE_NAME
        conference["tags"] = [HOSTILE_TAG, "low_mos"]
        conference["mixer_region"] = HOSTILE_REGION
        for participant in fake.data.participant_summaries[conference["conference_sid"]]:
            participant["label"] = HOSTILE_LABEL
            participant["participant_region"] = HOSTILE_REGION
            participant["call_type"] = HOSTILE_LABEL
            if participant["metrics"]:
                # Poor, so that the participant is listed in the table.
                for stream in participant["metrics"].values():
                    stream["mos"] = 1.2
        await _make_report(fake, target, "--friendly-name", HOSTILE_NAME)
    async with open_page() as page:
        await page.load(target)
        seen = await _inspect(page)
        after = page.record(file_url(target))
    assert after.exceptions == () and after.console_errors == (), after
    assert seen["pwned"] is None
    assert seen["handlers"] == 0 and seen["images"] == 0
    assert seen["scripts"] == 3  # Plotly, the chart data, the page's own
    assert HOSTILE_NAME in seen["header"]  # the filter, stated in the header
    assert HOSTILE_NAME in seen["table"]
    assert HOSTILE_LABEL in seen["table"]
    assert HOSTILE_REGION in seen["table"]
    assert HOSTILE_TAG in seen["chartText"], seen["chartText"]
    assert HOSTILE_REGION in seen["chartText"]
