"""Formatting and drawing helpers of the synthetic data: timestamps, SIDs, cheap choices."""

from __future__ import annotations

import bisect
import functools
import itertools
import random
import time
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

__all__ = [
    "JSONDict",
    "Weighted",
    "derive_credentials",
    "iso8601",
    "new_sid",
    "pick",
    "randint",
    "rfc2822",
]

JSONDict = dict[str, Any]
T = TypeVar("T")


_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@functools.lru_cache(maxsize=4096)
def _day(day: int) -> tuple[str, str]:
    """ISO and RFC 2822 date parts of a day since the epoch (data spans a few days)."""
    t = time.gmtime(day * 86400)
    return (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}",
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year}",
    )


def iso8601(epoch: int) -> str:
    """Insights' timestamp format: ``2021-10-08T02:58:51Z``."""
    day, second = divmod(epoch, 86400)
    hour, second = divmod(second, 3600)
    minute, second = divmod(second, 60)
    return f"{_day(day)[0]}T{hour:02d}:{minute:02d}:{second:02d}Z"


def rfc2822(epoch: int) -> str:
    """The 2010 API's format, ``Fri, 18 Feb 2011 21:07:19 +0000``, independent of locale."""
    day, second = divmod(epoch, 86400)
    hour, second = divmod(second, 3600)
    minute, second = divmod(second, 60)
    return f"{_day(day)[1]} {hour:02d}:{minute:02d}:{second:02d} +0000"


def new_sid(rng: random.Random, prefix: str) -> str:
    return f"{prefix}{rng.getrandbits(128):032x}"


def pick(rand: Callable[[], float], choices: Sequence[T]) -> T:
    # rng.choice goes through _randbelow; one float draw is several times cheaper.
    return choices[int(rand() * len(choices))]


def randint(rand: Callable[[], float], low: int, high: int) -> int:
    """Like ``rng.randint(low, high)`` from one float draw (fine for spans below 2**50)."""
    return low + int(rand() * (high - low + 1))


def derive_credentials(seed: int) -> tuple[str, str]:
    """The default ``(account_sid, auth_token)`` of a seed: fixed, valid-looking, fake."""
    rng = random.Random(f"credentials:{seed}")
    return new_sid(rng, "AC"), f"{rng.getrandbits(128):032x}"


class Weighted(Generic[T]):
    """A weighted choice that precomputes its cumulative table (``random.choices`` doesn't)."""

    __slots__ = ("_cumulative", "_total", "_values")

    def __init__(self, pairs: Sequence[tuple[T, float]]) -> None:
        self._values = [value for value, _ in pairs]
        self._cumulative = list(itertools.accumulate(weight for _, weight in pairs))
        self._total = self._cumulative[-1]

    def pick(self, rng: random.Random) -> T:
        return self._values[bisect.bisect(self._cumulative, rng.random() * self._total)]
