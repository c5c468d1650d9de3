"""W8's fake Twilio in a process of its own, with a control port that counts requests.

The fake must not share a core with the clients it measures; a second loopback port
answers ``GET /requests`` (count so far) and ``POST /reset``.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import datetime

from aiohttp import web

from twilio_conf_insights.testing import FakeTwilio


async def _serve(options: argparse.Namespace) -> None:
    subaccounts = [f"AC{i:032x}" for i in range(1, options.subaccounts + 1)]
    fake = FakeTwilio(
        conferences=options.conferences,
        participants_per_conference=options.participants,
        seed=options.seed,
        subaccount_sid=subaccounts,
        latency=options.latency_ms / 1000,
        port=options.port,
        now=datetime.fromisoformat(options.now),
    )
    app = web.Application()

    async def count(_: web.Request) -> web.Response:
        return web.json_response({"requests": len(fake.requests)})

    async def reset(_: web.Request) -> web.Response:
        fake.reset_stats()
        return web.json_response({"requests": 0})

    app.add_routes([web.get("/requests", count), web.post("/reset", reset)])
    runner = web.AppRunner(app)
    async with fake:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", options.control_port).start()
        print("ready", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--control-port", type=int, required=True)
    parser.add_argument("--conferences", type=int, required=True)
    parser.add_argument("--participants", type=int, required=True)
    parser.add_argument("--subaccounts", type=int, required=True)
    parser.add_argument("--latency-ms", type=float, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--now", required=True)
    asyncio.run(_serve(parser.parse_args()))


if __name__ == "__main__":
    main()
