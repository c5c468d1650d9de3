"""``processing_state`` that moves: summaries settle on command, after some polls, or in time.

Twilio keeps a conference's summaries ``in_progress`` while it aggregates them and then
marks them ``complete`` (or ``timeout``). :class:`ProcessingStates` reproduces that on the
fake's data so waiters and syncs can be tested: a conference and all of its participant
summaries change together.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._data import FakeData

__all__ = ["TERMINAL", "ProcessingStates"]

#: The ``processing_state`` values a summary ends in.
TERMINAL = frozenset({"complete", "timeout"})


def _check_terminal(state: str) -> str:
    if state not in TERMINAL:
        raise ValueError(f"state must be one of {sorted(TERMINAL)}, got {state!r}")
    return state


class ProcessingStates:
    """Controls when the fake's summaries leave ``in_progress`` (``fake.data.processing``).

    * :meth:`settle` now;
    * :meth:`settle_after` a number of ``polls`` (requests that read the conference's
      summary or its participant summaries) or ``seconds`` (measured on the server's
      monotonic clock, applied when the next request arrives);
    * :meth:`settle_all` every conference still in progress.
    """

    def __init__(self, data: FakeData, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._data = data
        self._clock = clock
        self._polls_left: dict[str, tuple[int, str]] = {}
        self._due: list[tuple[float, str, str]] = []  # (monotonic time, sid, state), a heap

    def unsettled(self) -> list[str]:
        """SIDs of the conferences whose summaries are still ``in_progress``, served order."""
        return [
            summary["conference_sid"]
            for summary in self._data.conferences
            if summary.get("processing_state") not in TERMINAL
        ]

    def settle(self, conference_sid: str, state: str = "complete") -> None:
        """Make a conference and all its participant summaries ``state`` now."""
        _check_terminal(state)
        self._polls_left.pop(conference_sid, None)
        self._data.set_processing_state(conference_sid, state)

    def settle_after(
        self,
        conference_sid: str,
        *,
        polls: int | None = None,
        seconds: float | None = None,
        state: str = "complete",
    ) -> None:
        """Settle a conference after ``polls`` more reads of it, or ``seconds`` from now.

        With ``polls=n``, the first ``n`` reads still see ``in_progress`` and read ``n+1``
        sees ``state``.
        """
        _check_terminal(state)
        if self._data.conference(conference_sid) is None:
            raise KeyError(conference_sid)
        if (polls is None) == (seconds is None):
            raise ValueError("give exactly one of polls= and seconds=")
        if polls is not None:
            if polls < 0:
                raise ValueError(f"polls must be >= 0, got {polls!r}")
            if polls == 0:
                self.settle(conference_sid, state)
            else:
                self._polls_left[conference_sid] = (polls, state)
        elif seconds is not None:
            if seconds < 0:
                raise ValueError(f"seconds must be >= 0, got {seconds!r}")
            heapq.heappush(self._due, (self._clock() + seconds, conference_sid, state))

    def settle_all(self, state: str = "complete", *, seconds: float | None = None) -> int:
        """Settle every conference still in progress (now, or ``seconds`` from now).

        Returns how many conferences that concerns.
        """
        pending = self.unsettled()
        for sid in pending:
            if seconds is None:
                self.settle(sid, state)
            else:
                self.settle_after(sid, seconds=seconds, state=state)
        return len(pending)

    def tick(self) -> None:
        """Apply the time-based changes that are due (the server calls this per request)."""
        now = self._clock()
        while self._due and self._due[0][0] <= now:
            _, sid, state = heapq.heappop(self._due)
            self.settle(sid, state)

    def observe(self, conference_sid: str) -> None:
        """A request is about to read this conference's summaries: count it as a poll."""
        pending = self._polls_left.get(conference_sid)
        if pending is None:
            return
        left, state = pending
        if left > 0:
            self._polls_left[conference_sid] = (left - 1, state)
        else:
            self.settle(conference_sid, state)
