"""``report --html``: check for the ``report`` extra, then write the page like any output.

This module imports nothing from the extra, so the command can say what is missing (one
line, exit status 2) instead of failing with an ``ImportError``. The page is written as
every ``-o PATH`` is (``_files.open_output``): atomically over a regular file, keeping its
mode; through a symlink to its target; straight into a FIFO; ``-`` to standard output.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from datetime import UTC, datetime
from typing import TextIO

from ._files import open_output
from ._html_data import ReportContent

__all__ = ["REPORT_EXTRA_INSTALL", "missing_report_extra", "write_html_report"]

#: How to install what ``--html`` needs.
REPORT_EXTRA_INSTALL = "pip install 'twilio-conf-insights[report]'"
_REQUIRED = ("jinja2", "plotly")


def missing_report_extra() -> str | None:
    """A one-line message naming what ``--html`` lacks and how to install it, or ``None``."""
    missing = [name for name in _REQUIRED if importlib.util.find_spec(name) is None]
    if not missing:
        return None
    return f"--html needs {' and '.join(missing)} (the report extra): {REPORT_EXTRA_INSTALL}"


def write_html_report(
    path: str | os.PathLike[str],
    content: ReportContent,
    *,
    source: str,
    generated: datetime | None = None,
    stdout: TextIO | None = None,
) -> int:
    """Write the report page to ``path`` (whole or not at all); return its size in bytes.

    ``path`` is handled as ``-o PATH`` is (see the module documentation); ``-`` writes to
    ``stdout`` (default: ``sys.stdout``).
    """
    # Imported here: only with the extra installed (see missing_report_extra).
    from ._html_report import render_html

    page = render_html(content, generated=generated or datetime.now(UTC), source=source)
    with open_output(os.fspath(path), stdout if stdout is not None else sys.stdout) as stream:
        stream.write(page)
    return len(page.encode("utf-8"))
