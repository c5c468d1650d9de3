"""A one-line progress meter on stderr: records done, rate, retries so far.

It redraws a single line after a carriage return (at most ten times a second, so a fast
export is not slowed down by its own meter) and ends it with a newline when the work
stops, however it stops, so a following error message starts on a line of its own. It is
silent unless stderr is a terminal: logs and pipes get no control characters.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import Self, TextIO

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
    ) -> None:
        self._stream = stream
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
    def on(cls, stream: TextIO, *, label: str, quiet: bool) -> Progress:
        """A meter that shows only when ``stream`` is a terminal and not ``quiet``."""
        try:
            terminal = stream.isatty()
        except (AttributeError, ValueError):
            terminal = False
        return cls(stream, label=label, enabled=terminal and not quiet)

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
        parts = [f"{self._label}: {self.conferences} conferences"]
        if self.participants:
            parts.append(f"{self.participants} participants")
        parts.append(f"{self.conferences / elapsed:.1f}/s")
        parts.append(f"{self.retries} retr{'y' if self.retries == 1 else 'ies'}")
        parts.append(f"{elapsed:.1f}s")
        return ", ".join(parts)

    def _draw(self, *, force: bool = False) -> None:
        if not self._enabled:
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
        if self._enabled:
            self._draw(force=True)
            self._stream.write("\n")
            self._stream.flush()
            self._enabled = False

    def __enter__(self) -> Self:
        self._draw(force=True)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
