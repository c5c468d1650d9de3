"""``python -m twilio_conf_insights.testing``: the same as ``twilio-conf-insights fake-server``.

One entry, so one set of options, defaults (the ``--demo`` data set: seed 7, 200
conferences) and units (``--latency`` in milliseconds). It prints the ``export`` lines that
point the command line, or :meth:`InsightsClient.from_env`, at the fake, and serves until
Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

from ..cli import main as cli_main


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``fake-server`` with ``argv`` (default: ``sys.argv[1:]``); the exit status."""
    return cli_main(["fake-server", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    raise SystemExit(main())
