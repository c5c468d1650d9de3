"""The client-wide bound on response bodies held at once (``max_buffered_bytes``).

``max_body_bytes`` bounds each response; without a client-wide bound, 32 concurrent gzip
bombs (each inflating far past that limit) made the process hold 32 of them at once.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
from pathlib import Path

import pytest
from aiohttp import web

from tests.helpers import serving
from twilio_conf_insights import (
    DecodeError,
    InsightsClient,
    RetryPolicy,
    TransportError,
)

ACCOUNT = "AC" + "1" * 32
TOKEN = "0123456789abcdef0123456789abcdef"
MIB = 1024 * 1024
#: The client-wide budget of the test: 32 bombs would hold 1 GiB without it.
BUDGET = 64 * MIB
#: What the rest of the process may add meanwhile (buffers, the server's side, allocator).
SLACK = 64 * MIB


@functools.cache
def _bomb() -> bytes:
    """A gzip body of 64 KiB that inflates to 64 MiB (twice the default max_body_bytes)."""
    return gzip.compress(b" " * (64 * MIB), compresslevel=9)


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} in /proc/self/status")


def _reset_peak_rss() -> int:
    """Restart the kernel's peak-RSS count (VmHWM) from now; the RSS now, in bytes."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_kib("VmRSS") * 1024


async def test_concurrent_gzip_bombs_stay_within_the_client_wide_budget() -> None:
    """32 bombs at once: bodies held never pass max_buffered_bytes, nor does the process RSS."""
    sent = 0

    async def bomb(request: web.Request) -> web.StreamResponse:
        # Streamed in small pieces, as a network delivers it: the 32 responses are read
        # side by side, each one's body growing while the others' do.
        nonlocal sent
        sent += 1
        response = web.StreamResponse(
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"}
        )
        await response.prepare(request)
        body = _bomb()
        for start in range(0, len(body), 1024):
            await response.write(body[start : start + 1024])
            await asyncio.sleep(0)
        await response.write_eof()
        return response

    _bomb()  # compressed before the measurement starts
    async with serving(bomb) as base:
        client = InsightsClient(
            ACCOUNT,
            TOKEN,
            insights_base_url=base,
            max_concurrency=32,
            max_buffered_bytes=BUDGET,
            retry=RetryPolicy.disabled(),
        )
        async with client:
            before = _reset_peak_rss()
            outcomes = await asyncio.gather(
                *(client.conferences.fetch("CF" + f"{n:032x}") for n in range(32)),
                return_exceptions=True,
            )
            grown = _status_kib("VmHWM") * 1024 - before
            stats = client.buffer_stats()
    assert sent == 32
    refused = [e for e in outcomes if isinstance(e, TransportError) and e.kind == "budget"]
    too_large = [e for e in outcomes if isinstance(e, DecodeError) and "max_body_bytes" in str(e)]
    assert len(refused) + len(too_large) == 32, outcomes
    assert refused, "the budget was never reached: the test proves nothing"
    assert stats.peak_bytes <= BUDGET
    assert stats.refusals == len(refused)
    assert stats.held_bytes == 0  # every body's budget was given back
    assert grown < BUDGET + SLACK, f"RSS grew by {grown / MIB:.0f} MiB"


@pytest.mark.parametrize("bad", [0, -1, 1.5])
def test_the_budget_must_be_a_positive_number_of_bytes(bad: object) -> None:
    """max_buffered_bytes is checked when the client is built."""
    with pytest.raises(ValueError, match="max_buffered_bytes"):
        InsightsClient(ACCOUNT, TOKEN, max_buffered_bytes=bad)  # type: ignore[arg-type]
