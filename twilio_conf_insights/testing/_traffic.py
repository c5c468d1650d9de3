"""Conferences that keep coming: the fake's data as a live account sees it, for demos.

The seeded data set is a fixed past. :class:`ConferenceTraffic` makes new conferences start
on the fake while it runs (each second, a few; the data's "now" moves with the clock) and
schedules each one's summaries to settle a few seconds later, as Twilio's do once it has
aggregated them. With an event sink, the fake delivers each start (``.partial``) and each
settling (``.complete`` and the participants') as they happen: the settling is applied by
the event stream's own ticks.
"""

from __future__ import annotations

import asyncio
import math
import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._data import FakeData

__all__ = ["ConferenceTraffic"]


class ConferenceTraffic:
    """Start ``count`` conferences, ``per_second`` a second, each settling after a while.

    Each conference's summaries settle (``complete``) a random ``settle_after`` seconds
    (low, high) after it started. :attr:`started` lists the SIDs started so far, oldest
    first; :meth:`run` returns once all are started (they settle on the fake's clock).
    """

    def __init__(
        self,
        data: FakeData,
        *,
        count: int,
        per_second: float = 2.0,
        settle_after: tuple[float, float] = (1.0, 4.0),
        seed: int = 0,
    ) -> None:
        low, high = settle_after
        if count < 0 or not per_second > 0 or not 0 <= low <= high:
            raise ValueError(
                "need count >= 0, per_second > 0 and 0 <= settle_after low <= high, got "
                f"{count!r}, {per_second!r}, {settle_after!r}"
            )
        self._data = data
        self.count = count
        """How many conferences :meth:`run` starts."""
        self._per_tick = max(1, math.ceil(per_second))
        self._tick = self._per_tick / per_second
        self._settle_after = (low, high)
        self._rng = random.Random(seed)
        self.started: list[str] = []
        """SIDs of the conferences started so far, oldest first."""

    async def run(self) -> list[str]:
        """Start the conferences, a tick at a time; return their SIDs."""
        while len(self.started) < self.count:
            batch = min(self._per_tick, self.count - len(self.started))
            # One second of the data's time per tick: created "now", as if just ended.
            sids = list(reversed(self._data.add_conferences(batch, seconds=1)))
            for sid in sids:
                delay = self._rng.uniform(*self._settle_after)
                self._data.processing.settle_after(sid, seconds=delay)
            self.started.extend(sids)
            if len(self.started) < self.count:
                await asyncio.sleep(self._tick)
        return list(self.started)
