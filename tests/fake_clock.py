"""A clock the test moves by hand, for the limiter and its control law (no sleeping)."""

from __future__ import annotations

__all__ = ["FakeClock"]


class FakeClock:
    """Returns ``now``, which only the test changes (``clock.now += 5``)."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
