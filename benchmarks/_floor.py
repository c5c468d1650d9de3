"""The floor: what a careful hand-written client does with raw aiohttp and ``json.loads``.

Same requests as the SDK (same page sizes, same concurrency, one ``ClientSession``), no
models, no retries, no validation: the cost of talking HTTP and parsing JSON, and nothing
else. Anything the SDK spends beyond this is overhead.
"""

from __future__ import annotations

import asyncio
import json
from types import TracebackType
from typing import Any, Self

import aiohttp
from _contestant import BulkCount, Checkpoint

__all__ = ["FloorContestant", "decode_json"]


def decode_json(body: bytes) -> list[Any]:
    """W3 floor: the items of a participant-summary page, as plain dicts."""
    items: list[Any] = json.loads(body)["participants"]
    return items


class FloorContestant:
    """Raw aiohttp: one session, an ``Authorization`` header built once, dicts out."""

    name = "floor"

    def __init__(self, origin: str, account_sid: str, auth_token: str) -> None:
        self._origin = origin
        self._headers = {
            "Authorization": aiohttp.encode_basic_auth(account_sid, auth_token),
            "Accept": "application/json",
        }
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _get(self, url: str) -> Any:
        assert self._session is not None
        async with self._session.get(url, headers=self._headers) as response:
            body = await response.read()
            if response.status != 200:
                raise RuntimeError(f"GET {url}: HTTP {response.status}")
        return json.loads(body)

    async def bulk(self, *, concurrency: int, page_size: int) -> BulkCount:
        # One semaphore over every request, as the SDK's client-wide cap. A fixed pool of
        # workers takes conferences from a queue, so the next conference page only waits for
        # a free slot, never behind a thousand queued participant listings.
        slots = asyncio.Semaphore(concurrency)
        queue: asyncio.Queue[str | None] = asyncio.Queue()

        async def get(url: str) -> Any:
            async with slots:
                return await self._get(url)

        async def participants(conference_sid: str) -> int:
            count = 0
            url: str | None = (
                f"{self._origin}/v1/Conferences/{conference_sid}/Participants?PageSize=1000"
            )
            while url:
                page = await get(url)
                count += len(page["participants"])
                url = page["meta"]["next_page_url"]
            return count

        async def worker() -> BulkCount:
            conferences = found = 0
            while (conference_sid := await queue.get()) is not None:
                found += await participants(conference_sid)
                conferences += 1
            return BulkCount(conferences=conferences, participants=found)

        workers = [asyncio.create_task(worker()) for _ in range(concurrency)]
        try:
            url: str | None = f"{self._origin}/v1/Conferences?PageSize={page_size}"
            while url:
                page = await get(url)
                for conference in page["conferences"]:
                    queue.put_nowait(conference["conference_sid"])
                url = page["meta"]["next_page_url"]
            for _ in workers:
                queue.put_nowait(None)
            counts = await asyncio.gather(*workers)
        finally:
            for task in workers:
                task.cancel()
        return BulkCount(
            conferences=sum(c.conferences for c in counts),
            participants=sum(c.participants for c in counts),
        )

    async def fetch_conference(self, conference_sid: str) -> None:
        await self._get(f"{self._origin}/v1/Conferences/{conference_sid}")

    async def first_conference(self, *, page_size: int) -> None:
        page = await self._get(f"{self._origin}/v1/Conferences?PageSize={page_size}")
        if not page["conferences"]:
            raise RuntimeError("the conference listing is empty")

    async def first_report(self, *, concurrency: int, page_size: int) -> None:
        # By hand the first report is two sequential round trips: a conference page, then
        # the participants of its first conference.
        page = await self._get(f"{self._origin}/v1/Conferences?PageSize={page_size}")
        first = page["conferences"][0]["conference_sid"]
        await self._get(f"{self._origin}/v1/Conferences/{first}/Participants?PageSize=1000")

    async def stream_participants(
        self, conference_sid: str, *, page_size: int, limit: int, checkpoint: Checkpoint
    ) -> int:
        count = 0
        url: str | None = (
            f"{self._origin}/v1/Conferences/{conference_sid}/Participants?PageSize={page_size}"
        )
        while url and count < limit:
            page = await self._get(url)
            count += len(page["participants"][: limit - count])
            url = page["meta"]["next_page_url"]
            del page
            checkpoint()
        return count
