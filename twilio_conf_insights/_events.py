"""Instrumentation: what the client reports about each request, retry and throttle change.

Pass callables as ``InsightsClient(hooks=[...])``; each is called synchronously with every
event, in the order things happen. A hook must be quick and must not raise (an exception
from a hook is logged and swallowed, so observing a client can never break it)::

    def log_retries(event: ClientEvent) -> None:
        if isinstance(event, RetryScheduled):
            print(f"retry {event.attempt} of {event.url} in {event.wait:.2f}s: {event.cause}")

Every attempt of one call carries the same ``call_id`` (:class:`RequestSent`,
:class:`ResponseReceived`, :class:`RetryScheduled`), so two concurrent calls to one URL can be
told apart; ``ResponseReceived.request_id`` is Twilio's id of the response
(``Twilio-Request-Id``), the one its support asks for.

No event carries a header, so none carries a credential; the text fields (``url``,
``cause``, ``error``) are redacted when the event is built, since they may quote a peer's
answer, and page tokens in URLs are replaced.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

import attrs

from ._limiter import LimiterStats
from ._redaction import redact, redact_url

__all__ = [
    "ClientEvent",
    "EventHook",
    "RecordProblems",
    "RequestSent",
    "ResponseReceived",
    "RetryScheduled",
    "ThrottleChanged",
]

_log = logging.getLogger("twilio_conf_insights")


def _redact_optional(text: str | None) -> str | None:
    return None if text is None else redact(text)


@attrs.frozen
class RequestSent:
    """An attempt is about to be sent (after it was granted a slot)."""

    method: str
    url: str = attrs.field(converter=redact_url)
    #: 1 for the first attempt of a call, 2 for its first retry, ...
    attempt: int
    #: The call this attempt belongs to (the same for all of its attempts; 0: unknown).
    call_id: int = 0


@attrs.frozen
class ResponseReceived:
    """An attempt ended: with a status, or with ``status=None`` and an ``error``."""

    method: str
    url: str = attrs.field(converter=redact_url)
    attempt: int
    status: int | None
    #: Seconds from sending to the end of the body.
    elapsed: float
    #: The failure, for attempts that did not give a usable response.
    error: str | None = attrs.field(default=None, converter=_redact_optional)
    #: The call this attempt belongs to (see :class:`RequestSent`).
    call_id: int = 0
    #: Twilio's id of the response (``Twilio-Request-Id``), when one came with it.
    request_id: str | None = None


@attrs.frozen
class RetryScheduled:
    """An attempt failed with a retryable error; the call will be retried after ``wait``."""

    method: str
    url: str = attrs.field(converter=redact_url)
    #: The attempt that failed.
    attempt: int
    #: Seconds until the next attempt.
    wait: float
    #: What went wrong, as text (never containing a header or credential).
    cause: str = attrs.field(converter=redact)
    #: The error's class name, e.g. ``"RateLimitError"``.
    cause_type: str
    #: The call being retried (see :class:`RequestSent`).
    call_id: int = 0


@attrs.frozen
class ThrottleChanged:
    """The client-wide limiter changed: ``reason`` is ``"throttle"`` or ``"increase"``."""

    reason: str
    stats: LimiterStats


@attrs.frozen
class RecordProblems:
    """A record decoded, but some of its values did not fit their documented type.

    Those values read as ``None`` in the model, which keeps them as received (``to_dict()``
    gives them back). Sent once per record; a WARNING log line says the same.
    """

    #: The model, e.g. ``"ParticipantSummary"``.
    resource: str
    #: The URL the record came from.
    url: str
    #: Where the record sits in the response body, e.g. ``"$.participants[3]"``.
    path: str
    #: The API's field names that did not fit, each with the reason.
    problems: Mapping[str, str]


#: Every event a hook may receive.
ClientEvent = RequestSent | ResponseReceived | RetryScheduled | ThrottleChanged | RecordProblems
#: The type of a hook.
EventHook = Callable[[ClientEvent], None]


class EventDispatcher:
    """Fans events out to hooks, isolating the client from a failing hook."""

    __slots__ = ("_hooks",)

    def __init__(self, hooks: Sequence[EventHook] = ()) -> None:
        self._hooks = tuple(hooks)

    def __bool__(self) -> bool:
        return bool(self._hooks)

    def with_hook(self, hook: EventHook) -> EventDispatcher:
        """A dispatcher delivering to these hooks, then to ``hook``."""
        return EventDispatcher((*self._hooks, hook))

    def emit(self, event: ClientEvent) -> None:
        """Deliver ``event`` to every hook."""
        for hook in self._hooks:
            try:
                hook(event)
            except Exception:
                _log.exception("event hook %r raised; ignored", hook)
