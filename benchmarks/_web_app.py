"""W9's web service in a child process: the README's aiohttp.web recipe, or the same app on
twilio-python's asyncio client.

The child serves on 127.0.0.1 (a free port), prints ``{"port": N}`` when it listens, and
stops cleanly when its stdin closes. The fake's address and credentials come from the
environment (``ServerInfo.to_env``), so the token never shows in a process list.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web

HERE = Path(__file__).resolve().parent
# Runs as a script: the benchmark modules and the repository root (for tests.recipes).
sys.path[:0] = [str(HERE), str(HERE.parent)]

from _server import ServerInfo  # noqa: E402
from _twilio_python import _LoopbackHttpClient  # noqa: E402

from tests.recipes.aiohttp_app import create_app  # noqa: E402
from twilio_conf_insights import InsightsClient  # noqa: E402

#: The recipe's default deadline, for the twilio-python app as well.
DEADLINE = 10.0

APPS = ("sdk", "twilio-python")


def sdk_app(server: ServerInfo) -> web.Application:
    """The README's recipe, unchanged, with its client pointed at the fake."""

    def make_client() -> InsightsClient:
        return InsightsClient(
            server.account_sid,
            server.auth_token,
            insights_base_url=server.origin,
            api_base_url=server.origin,
        )

    return create_app(make_client, deadline=DEADLINE)


TWILIO = web.AppKey("twilio", object)


def twilio_python_app(server: ServerInfo) -> web.Application:
    """The same app shape on twilio-python: one client per app, the same deadline."""
    from twilio.base.exceptions import TwilioRestException
    from twilio.rest import Client

    async def twilio_client(app: web.Application) -> AsyncIterator[None]:
        http = _LoopbackHttpClient(server.origin)
        app[TWILIO] = Client(
            server.account_sid, server.auth_token, http_client=http, environment={"B": "1"}
        )
        yield
        await http.close()

    async def conference(request: web.Request) -> web.Response:
        client: Any = request.app[TWILIO]
        try:
            async with asyncio.timeout(DEADLINE):
                instance = await client.insights.v1.conferences(
                    request.match_info["sid"]
                ).fetch_async()
        except TimeoutError:
            raise web.HTTPGatewayTimeout() from None
        except TwilioRestException as error:
            if error.status == 404:
                raise web.HTTPNotFound() from None
            if error.status == 429:
                raise web.HTTPServiceUnavailable() from None
            raise web.HTTPBadGateway() from None
        return web.json_response(_public_fields(instance))

    app = web.Application()
    app.cleanup_ctx.append(twilio_client)
    app.add_routes([web.get("/conferences/{sid}", conference)])
    return app


def _public_fields(instance: Any) -> dict[str, Any]:
    """An instance's attributes as JSON (twilio-python has no ``to_dict``)."""
    return {
        name: value.isoformat() if isinstance(value, datetime) else value
        for name, value in vars(instance).items()
        if not name.startswith("_")
    }


async def _serve(which: str) -> None:
    server = ServerInfo.from_env(os.environ)
    app = sdk_app(server) if which == "sdk" else twilio_python_app(server)
    runner = web.AppRunner(app, handler_cancellation=True, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        print(json.dumps({"port": runner.addresses[0][1]}), flush=True)
        loop = asyncio.get_running_loop()
        while await loop.run_in_executor(None, sys.stdin.readline):
            pass  # any line is ignored; end of input stops the app
    finally:
        await runner.cleanup()


def _main() -> None:
    parser = argparse.ArgumentParser(description="W9 web app (child process)")
    parser.add_argument("app", choices=APPS)
    asyncio.run(_serve(parser.parse_args().app))


if __name__ == "__main__":
    _main()
