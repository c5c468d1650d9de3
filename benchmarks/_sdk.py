"""This SDK, used the way its documentation shows."""

from __future__ import annotations

import contextlib
from typing import Any, Self

import attrs
from _contestant import BulkCount, Checkpoint

from twilio_conf_insights import InsightsClient, ParticipantSummary
from twilio_conf_insights._decoding import decode_list

__all__ = [
    "SdkContestant",
    "decode_models",
    "decode_models_one_by_one",
    "decode_models_typed",
    "typed_views_are_lazy",
]


def decode_models(items: list[Any]) -> list[ParticipantSummary]:
    """W3: a page's dicts to fully typed models, the way the paginator does it."""
    return decode_list(items, ParticipantSummary)


def typed_views_are_lazy() -> bool:
    """Whether ``metrics``/``properties`` are built on access rather than while decoding.

    Decoding fills the attrs fields only; anything else is computed when first read.
    """
    fields = {field.name for field in attrs.fields(ParticipantSummary)}
    return not fields & {"metrics", "properties"}


def decode_models_typed(items: list[Any]) -> list[ParticipantSummary]:
    """W3 (for information): decode, then read every typed view the model builds on access.

    ``metrics`` and ``properties`` (untyped in the API) become typed models on first access;
    this is the cost when a caller reads all of them.
    """
    models = decode_list(items, ParticipantSummary)
    for model in models:
        model.metrics  # noqa: B018 - the access is the work being measured
        model.properties  # noqa: B018
    return models


def decode_models_one_by_one(items: list[Any]) -> list[ParticipantSummary]:
    """W3 (for information): the public per-object entry point."""
    return [ParticipantSummary.from_dict(item) for item in items]


class SdkContestant:
    """``InsightsClient`` against the fake, with its own connection pool."""

    name = "sdk"

    def __init__(
        self, origin: str, account_sid: str, auth_token: str, *, max_concurrency: int = 32
    ) -> None:
        self._options: dict[str, Any] = {
            "account_sid": account_sid,
            "auth_token": auth_token,
            "insights_base_url": origin,
            "api_base_url": origin,
            "max_concurrency": max_concurrency,
        }
        self._client: InsightsClient | None = None

    @property
    def client(self) -> InsightsClient:
        """The open client."""
        if self._client is None:
            raise RuntimeError("enter the contestant first")
        return self._client

    async def __aenter__(self) -> Self:
        self._client = InsightsClient(**self._options)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def bulk(self, *, concurrency: int, page_size: int) -> BulkCount:
        conferences = participants = 0
        async with contextlib.aclosing(
            self.client.conference_reports(concurrency=concurrency, page_size=page_size)
        ) as reports:
            async for report in reports:
                if report.error is not None:
                    raise report.error
                conferences += 1
                participants += len(report.participants)
        return BulkCount(conferences=conferences, participants=participants)

    async def fetch_conference(self, conference_sid: str) -> None:
        await self.client.conferences.fetch(conference_sid)

    async def first_conference(self, *, page_size: int) -> None:
        async with contextlib.aclosing(self.client.conferences.list(page_size=page_size)) as items:
            await anext(items)

    async def first_report(self, *, concurrency: int, page_size: int) -> None:
        async with contextlib.aclosing(
            self.client.conference_reports(concurrency=concurrency, page_size=page_size)
        ) as reports:
            report = await anext(reports)
            if report.error is not None:
                raise report.error

    async def stream_participants(
        self, conference_sid: str, *, page_size: int, limit: int, checkpoint: Checkpoint
    ) -> int:
        count = 0
        listing = self.client.participant_summaries.list(
            conference_sid, page_size=page_size, limit=limit
        )
        async with contextlib.aclosing(listing) as items:
            async for _ in items:
                count += 1
                if count % page_size == 0:
                    checkpoint()
        return count
