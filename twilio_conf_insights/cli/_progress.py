"""A one-line progress meter on stderr: records done, rate, retries so far.

It redraws a single line after a carriage return (at most ten times a second, so a fast
export is not slowed down by its own meter) and ends it with a newline when the work
stops, however it stops, so a following error message starts on a line of its own. It is
silent unless stderr is a terminal: logs and pipes get no control characters.

When the total is known (``--limit``), the line shows the percentage done and an ETA.
With the optional ``progress`` extra installed (tqdm), the same counts are drawn as tqdm's
progress bar instead; without it, the plain line is shown (see ``pyproject.toml``).
"""

from __future__ import annotations

import importlib
import importlib.util
import time
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self, TextIO

from .._events import ClientEvent, RetryScheduled

__all__ = ["Progress"]


class Progress:
    """Counts conferences, participants and retries; shows them on one redrawn line.

    Pass :meth:`on_event` to the client's ``hooks=`` to count retries. Use it as a context
    manager (or call :meth:`close`) to end the line.
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        label: str,
        enabled: bool,
        interval: float = 0.1,
        clock: Callable[[], float] = time.monotonic,
        total: int | None = None,
        use_bar: bool = False,
    ) -> None:
        self._stream = stream
        #: Conferences expected in all, when known: the meter then shows a percentage.
        self.total = total
        # Draw with tqdm (the extra is installed, see on()): the bar is made on entering the
        # context, so a command that fails before it starts leaves no half-drawn bar.
        self._use_bar = use_bar and enabled
        self._bar: Any = None
        self._label = label
        self._enabled = enabled
        self._interval = interval
        self._clock = clock
        self._started = clock()
        self._drawn_at: float | None = None
        self._width = 0
        #: Conferences done.
        self.conferences = 0
        #: Participants done.
        self.participants = 0
        #: Retries the client scheduled (``RetryScheduled`` events).
        self.retries = 0

    @classmethod
    def on(cls, stream: TextIO, *, label: str, quiet: bool, total: int | None = None) -> Progress:
        """A meter that shows only when ``stream`` is a terminal and not ``quiet``.

        It is a tqdm bar when the ``progress`` extra is installed, else the plain line.
        """
        try:
            terminal = stream.isatty()
        except (AttributeError, ValueError):
            terminal = False
        enabled = terminal and not quiet
        return cls(stream, label=label, enabled=enabled, total=total, use_bar=_tqdm_installed())

    @property
    def enabled(self) -> bool:
        """Whether anything is shown."""
        return self._enabled

    def on_event(self, event: ClientEvent) -> None:
        """Client hook: count retries."""
        if isinstance(event, RetryScheduled):
            self.retries += 1
            self._draw()

    def advance(self, conferences: int = 1, participants: int = 0) -> None:
        """Record finished work."""
        self.conferences += conferences
        self.participants += participants
        self._draw()

    def text(self) -> str:
        """The current line."""
        elapsed = max(self._clock() - self._started, 1e-9)
        rate = self.conferences / elapsed
        if self.total:
            done = min(self.conferences / self.total, 1.0)
            parts = [f"{self._label}: {self.conferences}/{self.total} conferences ({done:.0%})"]
        else:
            parts = [f"{self._label}: {self.conferences} conferences"]
        if self.participants:
            parts.append(f"{self.participants} participants")
        parts.append(f"{rate:.1f}/s")
        parts.append(f"{self.retries} retr{'y' if self.retries == 1 else 'ies'}")
        parts.append(f"{elapsed:.1f}s")
        if self.total and self.conferences:
            left = max(self.total - self.conferences, 0) / rate
            parts.append(f"ETA {left:.0f}s")
        return ", ".join(parts)

    def _draw(self, *, force: bool = False) -> None:
        if not self._enabled:
            return
        if self._bar is not None:
            self._bar.n = self.conferences
            self._bar.set_postfix(
                participants=self.participants, retries=self.retries, refresh=False
            )
            if force:
                self._bar.refresh()
            else:
                self._bar.update(0)  # redraws, at most every tqdm mininterval
            return
        now = self._clock()
        if not force and self._drawn_at is not None and now - self._drawn_at < self._interval:
            return
        self._drawn_at = now
        line = self.text()
        # Pad over the end of a longer previous line instead of relying on terminal codes.
        self._stream.write("\r" + line + " " * max(0, self._width - len(line)))
        self._stream.flush()
        self._width = len(line)

    def close(self) -> None:
        """Show the final counts and end the line. Idempotent."""
        if self._bar is not None and self._enabled:
            if self.total is not None:
                self._bar.total = self.conferences  # fewer than --limit matched: done
            self._draw(force=True)
            self._bar.close()
            self._enabled = False
        if self._enabled:
            self._draw(force=True)
            self._stream.write("\n")
            self._stream.flush()
            self._enabled = False

    def __enter__(self) -> Self:
        if self._use_bar and self._bar is None:
            self._bar = _tqdm_bar(self._stream, self._label, self.total)
        self._draw(force=True)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _tqdm_installed() -> bool:
    return importlib.util.find_spec("tqdm") is not None


def _tqdm_bar(stream: TextIO, label: str, total: int | None) -> Any:
    """A tqdm bar on ``stream`` (the ``progress`` extra is installed)."""
    tqdm = importlib.import_module("tqdm")
    return tqdm.tqdm(
        total=total, desc=label, unit=" conferences", file=stream, dynamic_ncols=True, leave=True
    )
