"""What the fake remembers about each request (never its credentials)."""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from ._faults import FaultKind

__all__ = ["RecordedRequest", "Recorder", "without_secrets"]

# Headers that carry secrets; they are dropped before anything is stored.
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization"})


def without_secrets(headers: Iterable[tuple[str, str]]) -> dict[str, str]:
    """A plain dict of request header pairs minus the credential-bearing ones.

    Repeated headers are joined with ``", "`` as HTTP allows.
    """
    kept: dict[str, str] = {}
    for name, value in headers:
        if name.lower() in _SECRET_HEADERS:
            continue
        kept[name] = f"{kept[name]}, {value}" if name in kept else value
    return kept


@attrs.frozen
class RecordedRequest:
    """One request as the fake saw it.

    ``status`` is the status sent, or 0 while the request is still being handled and when
    no response was sent (connection reset, client gone during a stall). ``headers``
    excludes ``Authorization``; ``has_authorization`` says whether one was sent and
    ``username`` which user name it carried (an account or API key SID, not a secret).
    """

    method: str
    path: str
    raw_path: str
    query: dict[str, list[str]]
    status: int
    fault: FaultKind | None
    authorized: bool
    headers: dict[str, str]
    has_authorization: bool = False
    username: str | None = None
    #: ``time.monotonic()`` at arrival, for rate assertions.
    received_at: float = 0.0

    @property
    def user_agent(self) -> str | None:
        """The ``User-Agent`` header, if any."""
        for name, value in self.headers.items():
            if name.lower() == "user-agent":
                return value
        return None

    def param(self, name: str) -> str | None:
        """The first value of query parameter ``name`` (Twilio spelling), if sent."""
        values = self.query.get(name)
        return values[0] if values else None


class Recorder:
    """Arrival-ordered request log whose entries get their status when it is known."""

    def __init__(self) -> None:
        self._records: list[RecordedRequest] = []
        # Bumped by clear(), so a request finishing after a reset does not write into
        # the new log.
        self._generation = 0

    def add(self, record: RecordedRequest) -> tuple[int, int]:
        """Log ``record``; returns the ticket :meth:`finish` needs."""
        self._records.append(record)
        return self._generation, len(self._records) - 1

    def finish(self, ticket: tuple[int, int], status: int) -> None:
        """Set the status of the logged request ``ticket`` names."""
        generation, index = ticket
        if generation == self._generation:
            self._records[index] = attrs.evolve(self._records[index], status=status)

    def clear(self) -> None:
        """Forget every request."""
        self._records = []
        self._generation += 1

    def snapshot(self) -> list[RecordedRequest]:
        """A copy of the log, oldest first."""
        return list(self._records)
