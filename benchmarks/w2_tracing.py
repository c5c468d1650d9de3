"""W2 with tracing: the client CPU per request of a fetch, without and with ``otel.instrument``.

    python benchmarks/w2_tracing.py                 # 5 rounds of 2,000 sequential fetches
    python benchmarks/w2_tracing.py --rounds 9

Three clients on the same fake server (a child process, no latency), in alternating rounds:

* ``plain``: not instrumented (the default: the tracing step is not in the chain at all);
* ``api-only``: instrumented, but with OpenTelemetry's API alone (no SDK configured: the
  no-op tracer an application without tracing gets);
* ``sdk``: instrumented with the SDK's ``TracerProvider`` and a span processor that
  exports to nowhere (every span is built, recorded and ended; only the export is free).

Prints the median CPU per request of each and the overhead against ``plain``; needs the
``otel`` extra and ``opentelemetry-sdk``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _server import ServerInfo, ServerProcess

try:
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import (
        SimpleSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )
    from opentelemetry.trace import NoOpTracerProvider

    from twilio_conf_insights.otel import instrument
except ImportError as missing:
    raise SystemExit(
        f"this benchmark needs {missing.name!r}: pip install -e '.[otel]' opentelemetry-sdk"
    ) from None

VARIANTS = ("plain", "api-only", "sdk")


class _Nowhere(SpanExporter):
    """Accepts every span and keeps none."""

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return SpanExportResult.SUCCESS


async def _cpu_per_request(info: ServerInfo, variant: str, requests: int) -> float:
    async with info.client() as client:
        if variant == "api-only":
            instrument(client, tracer_provider=NoOpTracerProvider())
        elif variant == "sdk":
            provider = TracerProvider()
            provider.add_span_processor(SimpleSpanProcessor(_Nowhere()))
            instrument(client, tracer_provider=provider)
        sids = [info.conference_sids[i % len(info.conference_sids)] for i in range(requests)]
        for sid in sids[:50]:  # connection and caches warm, outside the clock
            await client.conferences.fetch(sid)
        cpu = time.process_time()
        for sid in sids:
            await client.conferences.fetch(sid)
        return (time.process_time() - cpu) / requests * 1e6


async def _main(rounds: int, requests: int) -> None:
    with ServerProcess(
        conferences=200, participants_per_conference=5, seed=7, latency=0.0
    ) as server:
        info = server.info
        assert info is not None
        samples: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
        for round_number in range(rounds + 1):
            order = VARIANTS if round_number % 2 else tuple(reversed(VARIANTS))
            for variant in order:
                value = await _cpu_per_request(info, variant, requests)
                if round_number:  # the first round warms up
                    samples[variant].append(value)
            server.reset_stats()
    base = statistics.median(samples["plain"])
    print(f"{'variant':<10} {'CPU µs/request (median)':>24} {'vs plain':>9}  rounds")
    for variant in VARIANTS:
        median = statistics.median(samples[variant])
        spread = ", ".join(f"{value:.0f}" for value in samples[variant])
        print(f"{variant:<10} {median:>24.1f} {median / base:>8.2f}x  {spread}")


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="recorded rounds (default 5)")
    parser.add_argument("--requests", type=int, default=2000, help="fetches per round")
    options = parser.parse_args(argv)
    asyncio.run(_main(options.rounds, options.requests))


if __name__ == "__main__":
    main()
