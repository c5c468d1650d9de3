"""``python -m twilio_conf_insights``: the command line (see :mod:`twilio_conf_insights.cli`)."""

import sys

from .cli import main

if __name__ == "__main__":
    sys.exit(main())
