"""The six GET routes: path matching and the JSON each answers, without any I/O.

Paths are matched on the *raw* request path, split on ``/`` before percent-decoding, so a
participant label containing an encoded ``/`` (``%2F``) stays one segment.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import unquote

import attrs

from ._data import FakeData, JSONDict
from ._errors import ErrorResponse
from ._filters import conference_filters, insights_participant_filters, live_participant_filters
from ._pagination import PageRequest, PageSlice, page_links, take_page

__all__ = ["RequestContext", "Route", "match_route"]

_CONFERENCE_SID = re.compile(r"CF[0-9a-fA-F]{32}")
_PARTICIPANT_SID = re.compile(r"CP[0-9a-fA-F]{32}")
_ACCOUNT_SID = re.compile(r"AC[0-9a-fA-F]{32}")
_CALL_SID = re.compile(r"CA[0-9a-fA-F]{32}")

API_VERSION = "2010-04-01"


@attrs.frozen
class RequestContext:
    """What a route handler may look at."""

    data: FakeData
    #: Origin of the Insights ``url`` links (no trailing slash).
    base_url: str
    #: Accounts whose 2010 paths the caller may use (its own and its subaccount).
    accounts: frozenset[str]
    #: The raw path as requested (no query), quoted in 404 messages.
    path: str
    #: The first value of each query parameter.
    query: Mapping[str, str]

    def not_found(self) -> ErrorResponse:
        """Twilio's 404 for this request's path."""
        return ErrorResponse.not_found(self.path)


Handler = Callable[[RequestContext, tuple[str, ...]], JSONDict]


@attrs.frozen
class Route:
    """A matched route: its name, handler and decoded path parameters."""

    name: str
    handler: Handler
    params: tuple[str, ...]

    def __call__(self, context: RequestContext) -> JSONDict:
        """Answer ``context`` with this route's JSON, or raise :class:`ErrorResponse`."""
        return self.handler(context, self.params)


def match_route(raw_path: str) -> Route | None:
    """The route of a raw request path (query ignored), or ``None``."""
    raw = raw_path.split("?", 1)[0].split("#", 1)[0]
    if not raw.startswith("/"):
        return None
    segments = [unquote(segment) for segment in raw[1:].split("/")]
    if segments[:2] == ["v1", "Conferences"]:
        rest = segments[2:]
        if not rest:
            return Route("conferences", _list_conferences, ())
        if len(rest) == 1:
            return Route("conference", _fetch_conference, (rest[0],))
        if len(rest) == 2 and rest[1] == "Participants":
            return Route("participant_summaries", _list_participant_summaries, (rest[0],))
        if len(rest) == 3 and rest[1] == "Participants":
            return Route("participant_summary", _fetch_participant_summary, (rest[0], rest[2]))
        return None
    if (
        len(segments) in (6, 7)
        and segments[0] == API_VERSION
        and segments[1] == "Accounts"
        and segments[3] == "Conferences"
    ):
        account_sid, conference_sid = segments[2], segments[4]
        if len(segments) == 6 and segments[5] == "Participants.json":
            return Route("participants", _list_participants, (account_sid, conference_sid))
        if len(segments) == 7 and segments[5] == "Participants" and segments[6].endswith(".json"):
            identifier = segments[6].removesuffix(".json")
            params = (account_sid, conference_sid, identifier)
            return Route("participant", _fetch_participant, params)
    return None


# -- Insights -------------------------------------------------------------------------------


def _conference(context: RequestContext, conference_sid: str) -> JSONDict:
    if not _CONFERENCE_SID.fullmatch(conference_sid):
        raise context.not_found()
    conference = context.data.conference(conference_sid)
    if conference is None:
        raise context.not_found()
    return conference


def _insights_meta(
    context: RequestContext,
    key: str,
    path: str,
    filters: list[tuple[str, str]],
    request: PageRequest,
    page: PageSlice[Any],
) -> JSONDict:
    links = page_links(path, filters, request, page)
    base = context.base_url
    return {
        "page": request.page,
        "page_size": request.page_size,
        "first_page_url": base + links.first,
        "previous_page_url": base + links.previous if links.previous else None,
        "url": base + links.current,
        "next_page_url": base + links.next if links.next else None,
        "key": key,
    }


def _observed(context: RequestContext, conference_sid: str) -> JSONDict:
    """The conference, after counting this request as a poll of its summaries."""
    context.data.processing.observe(conference_sid)
    return _conference(context, conference_sid)


def _fetch_conference(context: RequestContext, params: tuple[str, ...]) -> JSONDict:
    return _observed(context, params[0])


def _list_conferences(context: RequestContext, params: tuple[str, ...]) -> JSONDict:
    request = PageRequest.parse(context.query)
    match, filters = conference_filters(context.query)
    page = take_page(context.data.conferences, match, request)
    meta = _insights_meta(context, "conferences", "/v1/Conferences", filters, request, page)
    return {"meta": meta, "conferences": page.items}


def _fetch_participant_summary(context: RequestContext, params: tuple[str, ...]) -> JSONDict:
    conference_sid, participant_sid = params
    _observed(context, conference_sid)
    if _PARTICIPANT_SID.fullmatch(participant_sid):
        for summary in context.data.participant_summaries[conference_sid]:
            if summary["participant_sid"] == participant_sid:
                return summary
    raise context.not_found()


def _list_participant_summaries(context: RequestContext, params: tuple[str, ...]) -> JSONDict:
    conference_sid = params[0]
    _observed(context, conference_sid)
    request = PageRequest.parse(context.query)
    match, filters = insights_participant_filters(context.query)
    page = take_page(context.data.participant_summaries[conference_sid], match, request)
    path = f"/v1/Conferences/{conference_sid}/Participants"
    meta = _insights_meta(context, "participants", path, filters, request, page)
    return {"meta": meta, "participants": page.items}


# -- 2010 API -------------------------------------------------------------------------------


def _owned_conference(context: RequestContext, account_sid: str, conference_sid: str) -> None:
    """404 unless the caller may use ``account_sid`` and the conference belongs to it."""
    if not _ACCOUNT_SID.fullmatch(account_sid) or account_sid not in context.accounts:
        raise context.not_found()
    if _conference(context, conference_sid)["account_sid"] != account_sid:
        raise context.not_found()


def _fetch_participant(context: RequestContext, params: tuple[str, ...]) -> JSONDict:
    account_sid, conference_sid, identifier = params
    _owned_conference(context, account_sid, conference_sid)
    participants = context.data.participants[conference_sid]
    if _CALL_SID.fullmatch(identifier):
        for participant in participants:
            if participant["call_sid"] == identifier:
                return participant
    # Anything else (or a CA-shaped string that is no call here) may be a label.
    for participant in participants:
        if participant["label"] == identifier:
            return participant
    raise context.not_found()


def _list_participants(context: RequestContext, params: tuple[str, ...]) -> JSONDict:
    account_sid, conference_sid = params
    _owned_conference(context, account_sid, conference_sid)
    request = PageRequest.parse(context.query)
    match, filters = live_participant_filters(context.query)
    page = take_page(context.data.participants[conference_sid], match, request)
    path = f"/{API_VERSION}/Accounts/{account_sid}/Conferences/{conference_sid}/Participants.json"
    links = page_links(path, filters, request, page)
    start = request.page * request.page_size
    return {
        "participants": page.items,
        "first_page_uri": links.first,
        "next_page_uri": links.next,
        "previous_page_uri": links.previous,
        "uri": links.current,
        "page": request.page,
        "page_size": request.page_size,
        "start": start,
        "end": start + len(page.items) - 1 if page.items else start,
    }
