"""What every contestant does, so that the workloads can run them side by side."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Protocol, Self

import attrs

__all__ = ["BulkCount", "Checkpoint", "Contestant", "ContestantFactory", "check_bulk"]

#: Called by a streaming contestant after each page, so memory can be sampled there too.
Checkpoint = Callable[[], None]


@attrs.frozen
class BulkCount:
    """What a bulk listing returned: checked against the server, so nobody skips work."""

    conferences: int
    participants: int


def check_bulk(name: str, got: BulkCount, conferences: int, participants: int) -> None:
    """Fail loudly when a contestant returned less (or more) than the server holds."""
    if got != BulkCount(conferences, participants):
        raise RuntimeError(
            f"{name} listed {got.conferences} conferences / {got.participants} participants, "
            f"the server holds {conferences} / {participants}"
        )


class Contestant(Protocol):
    """One way of talking to the API: the raw floor, this SDK or twilio-python.

    Entering opens the client (one connection pool); leaving closes it.
    """

    name: str

    async def __aenter__(self) -> Self: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def bulk(self, *, concurrency: int, page_size: int) -> BulkCount:
        """W1: every conference summary, then every participant summary of each."""
        ...

    async def fetch_conference(self, conference_sid: str) -> None:
        """W2: one conference summary."""
        ...

    async def first_conference(self, *, page_size: int) -> None:
        """W5: return as soon as the first conference summary of a listing is available."""
        ...

    async def first_report(self, *, concurrency: int, page_size: int) -> None:
        """W5: return as soon as one conference and all its participants are available."""
        ...

    async def stream_participants(
        self, conference_sid: str, *, page_size: int, limit: int, checkpoint: Checkpoint
    ) -> int:
        """W4: iterate ``limit`` participant summaries, keeping none; return the count."""
        ...


class ContestantFactory(Protocol):
    """Builds a contestant for a server (the classes themselves fit)."""

    def __call__(self, origin: str, account_sid: str, auth_token: str) -> Contestant: ...
