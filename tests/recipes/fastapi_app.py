"""A FastAPI service that answers from Twilio Conference Insights, and stores each
conference's summary when Twilio's status callback says it ended."""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import os
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse

from twilio_conf_insights import (
    ApiError,
    ConferenceSummary,
    InsightsClient,
    InvalidArgumentError,
    NotFoundError,
    Page,
    RateLimitError,
    RetryExhaustedError,
    TwilioInsightsError,
)
from twilio_conf_insights.webhooks import SignatureCheck, VerifiedRequest

from .worker import SummaryWorkers, json_files

T = TypeVar("T")


def create_app(
    make_client: Callable[[], InsightsClient] = InsightsClient.from_env,
    *,
    deadline: float = 10.0,
    summaries: SummaryWorkers | None = None,
) -> FastAPI:
    """The service: one InsightsClient for the whole app, opened and closed with it.

    With ``summaries``, ``POST /twilio/conference-events`` takes Twilio's conference status
    callbacks, and the workers store each ended conference's summary.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Created on the server's event loop at startup, closed at shutdown: never at import
        # time, never one per request.
        async with make_client() as client:
            app.state.insights = client
            if summaries is None:
                yield
                return
            async with summaries.running(client):
                yield

    app = FastAPI(lifespan=lifespan)
    app.state.deadline = deadline
    app.include_router(router)
    if summaries is not None:
        app.state.summaries = summaries
        app.include_router(callbacks)
    for error in (TimeoutError, InvalidArgumentError, TwilioInsightsError):
        app.add_exception_handler(error, http_status)
    return app


def insights(request: Request) -> InsightsClient:
    """The app's client, for endpoints: ``client: Insights``."""
    client: InsightsClient = request.app.state.insights
    return client


async def twilio_request(request: Request) -> VerifiedRequest:
    """The request, if Twilio signed it (403 otherwise), with its form parameters."""
    summaries: SummaryWorkers = request.app.state.summaries
    return await summaries.check.starlette(request)


Insights = Annotated[InsightsClient, Depends(insights)]
TwilioRequest = Annotated[VerifiedRequest, Depends(twilio_request)]
router = APIRouter()
callbacks = APIRouter()


async def http_status(request: Request, error: Exception) -> Response:
    """Our errors as HTTP statuses (TimeoutError is the request's deadline)."""
    if isinstance(error, TimeoutError):
        return PlainTextResponse("Twilio did not answer in time", status_code=504)
    if isinstance(error, NotFoundError):
        return PlainTextResponse("no such conference", status_code=404)
    if isinstance(error, RateLimitError | RetryExhaustedError):
        return PlainTextResponse(
            "Twilio is unavailable or throttling us",
            status_code=503,
            headers={"Retry-After": wait(error)},
        )
    if isinstance(error, InvalidArgumentError):
        return PlainTextResponse(str(error), status_code=400)
    return PlainTextResponse("Twilio request failed", status_code=502)


def wait(error: RateLimitError | RetryExhaustedError) -> str:
    """Retry-After for our caller: Twilio's own when it sent one, else one second."""
    cause = error.last_error if isinstance(error, RetryExhaustedError) else error
    seconds = cause.retry_after if isinstance(cause, ApiError) else None
    return str(max(1, math.ceil(seconds or 0)))


@router.get("/conferences/{sid}")
async def conference(sid: str, request: Request, client: Insights) -> Response:
    """One conference summary as JSON; a caller who hangs up cancels the Twilio call."""
    async with asyncio.timeout(request.app.state.deadline):
        summary = await unless_hung_up(request, client.conferences.fetch(sid))
    if summary is None:
        return Response(status_code=499)  # nobody is listening any more
    return JSONResponse(summary.to_dict())


@router.get("/conferences")
async def conferences(
    request: Request, client: Insights, status: str | None = None, limit: int = 100
) -> StreamingResponse:
    """Summaries as NDJSON, page by page (?status=completed&limit=100)."""
    async with asyncio.timeout(request.app.state.deadline):  # the first page decides the status
        pages = client.conferences.list(status=status, limit=limit, page_size=100).pages()
        page = await anext(pages, None)
    return StreamingResponse(ndjson(page, pages), media_type="application/x-ndjson")


@callbacks.post("/twilio/conference-events")
async def conference_event(request: Request, callback: TwilioRequest) -> Response:
    """The conference's statusCallback (signature checked by the dependency)."""
    summaries: SummaryWorkers = request.app.state.summaries
    return Response(status_code=summaries.callback_status(callback.params))


async def ndjson(
    page: Page[ConferenceSummary] | None,
    pages: AsyncGenerator[Page[ConferenceSummary], None],
) -> AsyncIterator[bytes]:
    """The listing's lines. Once the status is sent a failure cuts the connection, so the
    caller sees an unfinished body, never a short listing that looks complete."""
    async with contextlib.aclosing(pages):
        while page is not None:
            yield b"".join(json_line(item.to_dict()) for item in page.items)
            page = await anext(pages, None)


def json_line(value: object) -> bytes:
    """One NDJSON line."""
    return json.dumps(value, separators=(",", ":")).encode() + b"\n"


async def unless_hung_up(request: Request, work: Coroutine[Any, Any, T]) -> T | None:
    """Await ``work``; if the caller hangs up first, cancel it and return None.

    uvicorn does not cancel an endpoint whose caller went away (the call would run to its
    end and its answer be dropped): this watches for the disconnect and cancels the call.
    """
    call = asyncio.ensure_future(work)

    async def cancel_on_disconnect() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass
        call.cancel()

    watcher = asyncio.ensure_future(cancel_on_disconnect())
    try:
        return await call
    except asyncio.CancelledError:
        this = asyncio.current_task()
        if this is not None and this.cancelling():  # cancelled from outside: pass it on
            raise
        return None
    finally:
        watcher.cancel()
        await asyncio.wait({watcher})


def main() -> None:
    """Serve on port 8080 until Ctrl-C; summaries go to ./summaries/."""
    import uvicorn

    check = SignatureCheck(
        auth_token=os.environ["TWILIO_AUTH_TOKEN"],
        # Where Twilio reaches us, e.g. https://hooks.example.com behind a proxy.
        public_url=os.environ.get("PUBLIC_URL"),
    )
    summaries = SummaryWorkers(json_files(Path("summaries")), check)
    uvicorn.run(create_app(summaries=summaries), port=8080)


if __name__ == "__main__":
    main()
