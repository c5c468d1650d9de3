"""twilio-python's asyncio client (the ``twilio`` package), used as its documentation shows.

Its HTTP client is subclassed for two things only: requests for Twilio's hosts go to the
fake instead, and credentials travel in an ``Authorization`` header built with
``aiohttp.encode_basic_auth`` (the stock client's ``aiohttp.BasicAuth`` is deprecated in
aiohttp 3.14, and its warning must not fire inside a benchmark). Everything else, from URL
building to instance construction, is twilio-python's own code.
"""

from __future__ import annotations

import asyncio
from typing import Any, Self

import aiohttp
from _contestant import BulkCount, Checkpoint
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client
from twilio.rest.insights.v1.conference.conference_participant import (
    ConferenceParticipantInstance,
)

__all__ = ["TwilioPythonContestant", "decode_instances", "offline_version"]

_TWILIO_ORIGINS = ("https://insights.twilio.com", "https://api.twilio.com")
# twilio-python falls back to os.environ for an empty mapping; this one is not empty.
_ISOLATED_ENV = {"BENCHMARK": "1"}


class _LoopbackHttpClient(AsyncTwilioHttpClient):  # type: ignore[misc]
    """The stock async client, pointed at the fake."""

    def __init__(self, origin: str) -> None:
        super().__init__()
        self._origin = origin

    async def request(
        self,
        method: str,
        url: str,
        params: dict[str, object] | None = None,
        data: dict[str, object] | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - the signature twilio-python calls
        allow_redirects: bool = False,
    ) -> Any:
        for twilio_origin in _TWILIO_ORIGINS:
            if url.startswith(twilio_origin):
                url = self._origin + url[len(twilio_origin) :]
                break
        if auth is not None:
            headers = dict(headers or {})
            headers["Authorization"] = aiohttp.encode_basic_auth(*auth)
        return await super().request(
            method,
            url,
            params=params,
            data=data,
            headers=headers,
            auth=None,
            timeout=timeout,
            allow_redirects=allow_redirects,
        )


def offline_version() -> Any:
    """W3: the ``Version`` object instances are built with (no network involved)."""
    return Client("AC" + "0" * 32, "token", environment=_ISOLATED_ENV).insights.v1


def decode_instances(version: Any, items: list[Any], conference_sid: str) -> list[Any]:
    """W3: a page's dicts to twilio-python instances, as its ``Page`` does for each record."""
    return [ConferenceParticipantInstance(version, item, conference_sid) for item in items]


class TwilioPythonContestant:
    """``twilio.rest.Client`` with ``AsyncTwilioHttpClient``."""

    name = "twilio-python"

    def __init__(self, origin: str, account_sid: str, auth_token: str) -> None:
        self._origin = origin
        self._account_sid = account_sid
        self._auth_token = auth_token
        self._http: _LoopbackHttpClient | None = None
        self._client: Any = None

    async def __aenter__(self) -> Self:
        # The stock client opens its aiohttp session in __init__: it needs a running loop.
        self._http = _LoopbackHttpClient(self._origin)
        self._client = Client(
            self._account_sid,
            self._auth_token,
            http_client=self._http,
            environment=_ISOLATED_ENV,
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None
            self._client = None

    @property
    def _conferences(self) -> Any:
        return self._client.insights.v1.conferences

    async def bulk(self, *, concurrency: int, page_size: int) -> BulkCount:
        conferences = await self._conferences.list_async(page_size=page_size)
        slots = asyncio.Semaphore(concurrency)

        async def participants(conference_sid: str) -> int:
            async with slots:
                found = await self._conferences(conference_sid).conference_participants.list_async(
                    page_size=1000
                )
            return len(found)

        counts = await asyncio.gather(*(participants(c.conference_sid) for c in conferences))
        return BulkCount(conferences=len(conferences), participants=sum(counts))

    async def fetch_conference(self, conference_sid: str) -> None:
        await self._conferences(conference_sid).fetch_async()

    async def first_conference(self, *, page_size: int) -> None:
        # stream_async, not list_async: the latter waits for every page by design.
        records = await self._conferences.stream_async(page_size=page_size)
        try:
            await anext(records)
        finally:
            await records.aclose()

    async def first_report(self, *, concurrency: int, page_size: int) -> None:
        records = await self._conferences.stream_async(page_size=page_size)
        try:
            first = await anext(records)
        finally:
            await records.aclose()
        await self._conferences(first.conference_sid).conference_participants.list_async(
            page_size=1000
        )

    async def stream_participants(
        self, conference_sid: str, *, page_size: int, limit: int, checkpoint: Checkpoint
    ) -> int:
        count = 0
        records = await self._conferences(conference_sid).conference_participants.stream_async(
            limit=limit, page_size=page_size
        )
        async for _ in records:
            count += 1
            if count % page_size == 0:
                checkpoint()
        return count
