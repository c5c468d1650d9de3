"""Regenerate the documentation's screenshot of the HTML report: ``nox -s screenshot``.

Makes the report of the ``--demo`` data with the command line, opens it in headless
Chromium (see :mod:`tests.browser`) and saves a full-page PNG, by default to
``docs/images/report.png``. Fails if the page logs an error or fetches anything.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import tempfile
from pathlib import Path

from .browser import file_url, open_page

DEFAULT_OUTPUT = Path("docs/images/report.png")


def make_report(target: Path) -> None:
    """The demo report, as a user would make it."""
    command = ["--demo", "--quiet", "report", "--top", "10", "--html", str(target)]
    subprocess.run([sys.executable, "-m", "twilio_conf_insights", *command], check=True)


async def screenshot(page_path: Path) -> bytes:
    """A full-page PNG of the report, after its charts are drawn."""
    async with open_page() as page:
        await page.load(page_path)
        await page.evaluate("window.reportReady")
        seen = page.record(file_url(page_path))
        if seen.exceptions or seen.console_errors or seen.requests:
            raise RuntimeError(f"the report did not load cleanly: {seen}")
        return await page.screenshot(full_page=True)


def main(argv: list[str]) -> None:
    output = Path(argv[0]) if argv else DEFAULT_OUTPUT
    with tempfile.TemporaryDirectory() as directory:
        page_path = Path(directory) / "report.html"
        make_report(page_path)
        png = asyncio.run(screenshot(page_path))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(png)
    print(f"{output}: {len(png):,} bytes")


if __name__ == "__main__":
    main(sys.argv[1:])
