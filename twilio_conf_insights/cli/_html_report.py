"""The HTML report: one self-contained file, charts and tables, that works offline.

The page is a Jinja2 template (``templates/report.html.j2``, autoescaped: every name from
the data is text, never markup) with Plotly's JavaScript inlined from the ``plotly``
package, so nothing is fetched from the network when it is opened. The charts' data sits in
one ``<script type="application/json">`` element, written by Jinja2's ``tojson`` (which
escapes ``<``, ``>``, ``&`` and ``'``), so no value can end the element early.

``jinja2`` and ``plotly`` come with the ``report`` extra: import this module only after
:func:`~._html_file.missing_report_extra` found them.
"""

from __future__ import annotations

import math
from datetime import datetime

import jinja2
import plotly.offline

from .. import __version__
from ._html_charts import figures
from ._html_data import MEASURES, ReportContent

__all__ = ["render_html"]


#: How the table names what is poor.
_PROBLEM_NAMES = {"low_mos": "MOS", "high_packet_loss": "loss", "high_jitter": "jitter"}


def _number(value: float | None, digits: int = 2) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:,.{digits}f}"


def _percent(part: int, whole: int) -> str:
    return f"{100.0 * part / whole:.1f} %" if whole else "—"


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("twilio_conf_insights.cli", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["number"] = _number
    environment.globals["percent"] = _percent
    return environment


def _plotly_js() -> str:
    script = plotly.offline.get_plotlyjs()
    # Inside <script>, only "</script" could end the element; the bundle has none, but a
    # future one must not break the page.
    return str(script).replace("</script", "<\\/script")


def render_html(content: ReportContent, *, generated: datetime, source: str) -> str:
    """The report page of ``content``; ``source`` says where the data came from."""
    template = _environment().get_template("report.html.j2")
    return template.render(
        content=content,
        quality=content.quality,
        thresholds=content.quality.thresholds,
        measures=MEASURES,
        figures=figures(content),
        plotly_js=_plotly_js(),
        generated=generated,
        source=source,
        version=__version__,
        problem_names=_PROBLEM_NAMES,
    )
