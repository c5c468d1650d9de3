"""``python -m twilio_conf_insights.testing``: serve a fake Twilio until Ctrl-C."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from ._server import FakeTwilio


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line of the standalone fake."""
    parser = argparse.ArgumentParser(
        prog="python -m twilio_conf_insights.testing",
        description="Serve a fake Twilio Conference Insights API on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: any free one)")
    parser.add_argument("--conferences", type=int, default=50, help="conference summaries")
    parser.add_argument(
        "--participants",
        type=int,
        nargs=2,
        metavar=("MIN", "MAX"),
        default=(2, 6),
        help="participants per conference (default: 2 6)",
    )
    parser.add_argument("--seed", type=int, default=1234, help="data seed (default: 1234)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds added per response")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the fake in the foreground; returns the exit status."""
    args = parse_args(argv)
    FakeTwilio.run_forever(
        port=args.port,
        conferences=args.conferences,
        participants_per_conference=tuple(args.participants),
        seed=args.seed,
        latency=args.latency,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
