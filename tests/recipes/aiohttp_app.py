"""An aiohttp.web service that answers from Twilio Conference Insights, and stores each
conference's summary when Twilio's status callback says it ended."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from aiohttp import web

from twilio_conf_insights import (
    ApiError,
    InsightsClient,
    InvalidArgumentError,
    NotFoundError,
    RateLimitError,
    RetryExhaustedError,
    TwilioInsightsError,
)
from twilio_conf_insights.webhooks import SignatureCheck

from .worker import SummaryWorkers, json_files

CLIENT = web.AppKey("client", InsightsClient)
DEADLINE = web.AppKey("deadline", float)
SUMMARIES = web.AppKey("summaries", SummaryWorkers)


def create_app(
    make_client: Callable[[], InsightsClient] = InsightsClient.from_env,
    *,
    deadline: float = 10.0,
    summaries: SummaryWorkers | None = None,
) -> web.Application:
    """The service: one InsightsClient for the whole app, opened and closed with it.

    With ``summaries``, ``POST /twilio/conference-events`` takes Twilio's conference status
    callbacks, and the workers store each ended conference's summary.
    """

    async def insights_client(app: web.Application) -> AsyncIterator[None]:
        # Created on the server's event loop at startup, closed at shutdown: never at import
        # time, never one per request.
        async with make_client() as client:
            app[CLIENT] = client
            if summaries is None:
                yield
                return
            async with summaries.running(client):
                yield

    app = web.Application()
    app[DEADLINE] = deadline
    app.cleanup_ctx.append(insights_client)
    app.add_routes(
        [web.get("/conferences", conferences), web.get("/conferences/{sid}", conference)]
    )
    if summaries is not None:
        app[SUMMARIES] = summaries
        # Only requests Twilio signed reach the handler; any other gets a 403.
        handler = summaries.check.aiohttp(conference_event)
        app.add_routes([web.post("/twilio/conference-events", handler)])
    return app


@contextlib.asynccontextmanager
async def twilio_call(request: web.Request) -> AsyncIterator[None]:
    """Bound the calls to Twilio by the request's deadline; answer their errors with a status."""
    try:
        async with asyncio.timeout(request.app[DEADLINE]):
            yield
    except TimeoutError:
        raise web.HTTPGatewayTimeout(text="Twilio did not answer in time") from None
    except NotFoundError:
        raise web.HTTPNotFound(text="no such conference") from None
    except (RateLimitError, RetryExhaustedError) as error:
        raise web.HTTPServiceUnavailable(
            text="Twilio is unavailable or throttling us", headers={"Retry-After": wait(error)}
        ) from None
    except InvalidArgumentError as error:
        raise web.HTTPBadRequest(text=str(error)) from None
    except TwilioInsightsError:
        raise web.HTTPBadGateway(text="Twilio request failed") from None


def wait(error: RateLimitError | RetryExhaustedError) -> str:
    """Retry-After for our caller: Twilio's own when it sent one, else one second."""
    cause = error.last_error if isinstance(error, RetryExhaustedError) else error
    seconds = cause.retry_after if isinstance(cause, ApiError) else None
    return str(max(1, math.ceil(seconds or 0)))


async def conference(request: web.Request) -> web.Response:
    """GET /conferences/{sid}: one conference summary as JSON."""
    async with twilio_call(request):
        summary = await request.app[CLIENT].conferences.fetch(request.match_info["sid"])
    return web.json_response(summary.to_dict())


async def conferences(request: web.Request) -> web.StreamResponse:
    """GET /conferences?status=completed&limit=100: summaries as NDJSON, page by page."""
    try:
        limit = int(request.query.get("limit", "100"))
    except ValueError:
        raise web.HTTPBadRequest(text="limit must be an integer") from None
    async with twilio_call(request):  # the first page decides the status
        listing = request.app[CLIENT].conferences.list(
            status=request.query.get("status"), limit=limit, page_size=100
        )
        pages = listing.pages()
        page = await anext(pages, None)
    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson"})
    # From here on the status is sent: a failure cuts the connection, so the caller sees
    # an unfinished body, never a short listing that looks complete.
    async with contextlib.aclosing(pages):
        await response.prepare(request)
        while page is not None:
            await response.write(b"".join(json_line(item.to_dict()) for item in page.items))
            page = await anext(pages, None)
    await response.write_eof()
    return response


async def conference_event(request: web.Request) -> web.Response:
    """POST /twilio/conference-events: the conference's statusCallback (signature checked)."""
    form = await request.post()
    fields = {name: value for name, value in form.items() if isinstance(value, str)}
    return web.Response(status=request.app[SUMMARIES].callback_status(fields))


def json_line(value: object) -> bytes:
    """One NDJSON line."""
    return json.dumps(value, separators=(",", ":")).encode() + b"\n"


def main() -> None:
    """Serve on port 8080 until Ctrl-C; summaries go to ./summaries/."""
    check = SignatureCheck(
        auth_token=os.environ["TWILIO_AUTH_TOKEN"],
        # Where Twilio reaches us, e.g. https://hooks.example.com behind a proxy.
        public_url=os.environ.get("PUBLIC_URL"),
    )
    summaries = SummaryWorkers(json_files(Path("summaries")), check)
    # handler_cancellation: a caller that hangs up cancels its handler, and with it the
    # Twilio call it is waiting for.
    web.run_app(create_app(summaries=summaries), port=8080, handler_cancellation=True)


if __name__ == "__main__":
    main()
