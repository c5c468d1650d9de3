"""The retry test mode behind :func:`twilio_conf_insights.testing.fast_retries`.

One process-wide switch, read by the retry loop each time a call fails (so it applies to
clients created before it was switched on too). It lives in the core, not in ``testing``,
because the retry code must read it without importing the fake server.

While it is on, the retry policy still decides every wait, events and logs still report it,
and the limiter still receives every ``Retry-After`` (its pause, its longer hold before the
next probe): only the sleeping is skipped, that of the waits between attempts and that of
new requests through the client-wide pause. Everything else runs as in production.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterator

import attrs

from ._validation import positive_int

__all__ = ["attempts", "fast_retries", "sleep"]


@attrs.frozen
class _Settings:
    """What :func:`fast_retries` was given."""

    #: At most this many attempts per call (never more than the policy's own), or ``None``.
    attempts: int | None = None


_active: _Settings | None = None


@contextlib.contextmanager
def fast_retries(*, attempts: int | None = None) -> Iterator[None]:
    """Make every client retry without waiting, inside the ``with`` block.

    For your own tests against :class:`FakeTwilio` (or any server that fails on purpose):
    retries still happen, as many as each client's
    :class:`~twilio_conf_insights.RetryPolicy` allows, or at most ``attempts`` per call when
    given (``attempts=1``: no retries at all), but no time is spent waiting between them or
    in the client-wide pause a ``Retry-After`` causes. Only the sleeping is skipped: the
    policy still decides each wait, :class:`~twilio_conf_insights.RetryScheduled` events and
    the INFO log still report it, and the limiter still records the pause (``stats()``
    shows it) and adapts to it as in production, so a test can assert the waits and their
    effects without spending them. Applies to every client, also
    those created before the block; a nested block replaces the settings until it ends.
    Process-wide: do not use it in production code.
    """
    global _active
    if attempts is not None:
        positive_int(attempts, "attempts")
    previous, _active = _active, _Settings(attempts=attempts)
    try:
        yield
    finally:
        _active = previous


def attempts(policy_attempts: int) -> int:
    """The attempts a call may make: the policy's, cut by the test mode's cap if any."""
    if _active is None or _active.attempts is None:
        return policy_attempts
    return min(policy_attempts, _active.attempts)


async def _no_wait(_: float) -> None:
    return None


def sleep(
    configured: Callable[[float], Awaitable[None]],
) -> Callable[[float], Awaitable[None]]:
    """The sleep for a wait the test mode skips: ``configured``, or none in test mode.

    Used for the wait between two attempts and for the client-wide pause after a
    ``Retry-After``.
    """
    return configured if _active is None else _no_wait
