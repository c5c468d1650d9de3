"""A FastAPI service receiving Twilio Event Streams: every conference and participant summary
Voice Insights pushes is kept, newest first, seconds after the conference ends."""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated

import attrs
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import PlainTextResponse, Response

from twilio_conf_insights import ConferenceSummary, ParticipantSummary
from twilio_conf_insights.eventstreams import (
    Delivery,
    MalformedDeliveryError,
    SinkUnavailableError,
    SummaryEvent,
    parse_delivery,
)
from twilio_conf_insights.webhooks import SignatureCheck, VerifiedRequest

Sink = Callable[[Delivery], Awaitable[None]]


def create_app(sink: Sink, check: SignatureCheck) -> FastAPI:
    """The service: ``POST /events`` takes deliveries Twilio signed and gives them to ``sink``."""
    app = FastAPI()
    app.state.sink = sink
    app.state.check = check
    app.include_router(router)
    return app


async def twilio_request(request: Request) -> VerifiedRequest:
    """The request, if Twilio signed it: 403 otherwise (413 over the size limit)."""
    check: SignatureCheck = request.app.state.check
    return await check.starlette(request)


TwilioRequest = Annotated[VerifiedRequest, Depends(twilio_request)]
router = APIRouter()


@router.post("/events")
async def events(request: Request, delivery: TwilioRequest) -> Response:
    """One Event Streams delivery: 204 once the sink has it, so Twilio does not send it again."""
    try:
        batch = parse_delivery(delivery.body)
    except MalformedDeliveryError as error:
        return PlainTextResponse(str(error), status_code=400)
    if batch.records:  # other event types are acknowledged and not kept
        try:
            await request.app.state.sink(batch)
        except SinkUnavailableError:
            return PlainTextResponse("try again later", status_code=503)  # Twilio retries
    return Response(status_code=204)


def _rank(record: SummaryEvent) -> tuple[bool, datetime | None]:
    """Which of two versions of a record is newer: a complete one, then the later event."""
    state = record.summary.processing_state
    partial = getattr(record, "partial", False)
    return (not partial and str(state) == "complete", record.time)


@attrs.define
class LatestSummaries:
    """A sink keeping the newest version of each summary in memory, by SID.

    Deliveries come at least once and in any order: a duplicate, an older event or a
    ``.partial`` after the ``.complete`` never replaces what is kept. (A real service writes
    to its database here, in one transaction, and raises SinkUnavailableError when it
    cannot commit.)
    """

    conferences: dict[str, ConferenceSummary] = attrs.field(factory=dict)
    participants: dict[str, ParticipantSummary] = attrs.field(factory=dict)
    _ranks: dict[str, tuple[bool, datetime | None]] = attrs.field(factory=dict)

    async def __call__(self, delivery: Delivery) -> None:
        """Keep each record of the delivery unless a newer version is kept already."""
        for record in delivery.records:
            summary = record.summary
            sid = getattr(summary, "participant_sid", None) or summary.conference_sid
            if sid is None:
                continue
            rank, kept = _rank(record), self._ranks.get(sid)
            if kept is not None and not _newer(rank, kept):
                continue
            self._ranks[sid] = rank
            if isinstance(summary, ParticipantSummary):
                self.participants[sid] = summary
            else:
                self.conferences[sid] = summary


def _newer(rank: tuple[bool, datetime | None], kept: tuple[bool, datetime | None]) -> bool:
    if rank[0] != kept[0]:
        return rank[0]  # complete beats partial, whatever the times
    return rank[1] is not None and (kept[1] is None or rank[1] > kept[1])


def main() -> None:
    """Serve on port 8080 until Ctrl-C (set PUBLIC_URL to the sink's URL without its path)."""
    import uvicorn

    check = SignatureCheck(
        auth_token=os.environ["TWILIO_AUTH_TOKEN"], public_url=os.environ.get("PUBLIC_URL")
    )
    uvicorn.run(create_app(LatestSummaries(), check), port=8080)


if __name__ == "__main__":
    main()
