"""The fake's Event Streams: signed deliveries of Voice Insights events to a sink URL.

As Twilio's webhook sink does: each delivery is a POST of a JSON array of CloudEvents to the
sink URL with ``bodySHA256`` added, signed with ``X-Twilio-Signature`` (the account's auth
token), with Basic credentials when the sink URL has user info. Delivery is at least once:
a delivery answered with anything but a 2xx, or not within ``timeout``, is sent again with
exponential backoff and jitter (tenacity), for up to ``give_up_after`` seconds.

What is emitted follows the fake's data (:meth:`FakeData.subscribe`): a conference that
appears (:meth:`FakeData.add_conferences`) sends ``conference-summary.partial``; a summary
that settles (:class:`ProcessingStates`: on command, after polls, or in time, which this
module applies while it runs) sends ``conference-summary.complete`` and one
``participant-summary.complete`` per participant, under either of Twilio's spellings.

On demand (:class:`EventDelivery`), deliveries also carry duplicates (an event delivered
again later), events out of order (a batch shuffled, a stale ``.partial`` after its
``.complete``) and events of unrelated types.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import random
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import aiohttp
import attrs
import tenacity
from yarl import URL

from ..webhooks import SIGNATURE_HEADER, compute_signature, with_body_sha256
from ._data import ADDED
from ._processing import TERMINAL

if TYPE_CHECKING:
    from ._data import FakeData, JSONDict

__all__ = ["DeliveryAttempt", "EventDelivery", "EventStream"]

_log = logging.getLogger("twilio_conf_insights.testing")

_PREFIX = "com.twilio.voice.insights."
_PARTIAL = _PREFIX + "conference-summary.partial"
_COMPLETE = _PREFIX + "conference-summary.complete"
_PARTICIPANT_SPELLINGS = (
    _PREFIX + "conference-participant-summary.complete",
    _PREFIX + "participant-summary.complete",
)
_UNRELATED = (_PREFIX + "call-summary.complete", "com.twilio.eventstreams.test-event")
_SCHEMAS = "https://events-schemas.twilio.com/VoiceInsights."


@attrs.frozen
class EventDelivery:
    """How the fake delivers events (``FakeTwilio(event_delivery=...)``).

    Batches hold up to ``batch_size`` events gathered for ``batch_window`` seconds;
    ``concurrency`` deliveries are in flight at most. A delivery not answered 2xx within
    ``timeout`` seconds is retried after ``initial_backoff`` growing to ``max_backoff``
    (random exponential), until ``give_up_after`` seconds. ``duplicates``,
    ``out_of_order`` and ``unrelated`` are the shares of events delivered twice, of batches
    shuffled (with a stale ``.partial`` after each ``.complete`` in them), and of deliveries
    carrying an event of another type; all drawn from ``seed``. ``tick`` is how often
    time-based settling (:meth:`ProcessingStates.settle_after` with ``seconds``) is applied.
    """

    batch_size: int = 50
    batch_window: float = 0.005
    concurrency: int = 2
    timeout: float = 5.0
    initial_backoff: float = 0.05
    max_backoff: float = 2.0
    give_up_after: float = 4 * 3600.0
    duplicates: float = 0.0
    out_of_order: float = 0.0
    unrelated: float = 0.0
    seed: int = 0
    tick: float = 0.02


@attrs.frozen
class DeliveryAttempt:
    """One POST to the sink: the events it carried and how it went."""

    #: The CloudEvent ids, in the order sent.
    event_ids: tuple[str, ...]
    #: The status answered, or ``None`` when there was none (timeout, connection refused).
    status: int | None
    #: Why it failed without a status, else ``None``.
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the sink acknowledged it (a 2xx)."""
        return self.status is not None and 200 <= self.status < 300


class _NotDelivered(Exception):
    pass


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class EventStream:
    """The fake's deliveries to one sink (``fake.events``); see the module documentation.

    Counters: :attr:`emitted` events, :attr:`acknowledged` ids, :attr:`attempts` (every
    POST, in order). :meth:`drain` waits until every emitted event was acknowledged.
    """

    def __init__(
        self, data: FakeData, sink_url: str, *, auth_token: str, options: EventDelivery
    ) -> None:
        url = URL(sink_url, encoded=True)
        if url.scheme not in ("http", "https") or not url.host:
            raise ValueError("event_sink must be an absolute http(s) URL")
        self._data = data
        self._signed_url = sink_url
        self._post_url = str(url.with_user(None))
        self._authorization = (
            aiohttp.encode_basic_auth(url.user, url.password or "") if url.user else None
        )
        self._token = auth_token
        self.options = options
        self._rng = random.Random(options.seed)
        self._queue: asyncio.Queue[JSONDict] = asyncio.Queue()
        self._outstanding: set[str] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self.emitted = 0
        """Events emitted so far (duplicates not counted again)."""
        self.acknowledged: set[str] = set()
        """Ids of the events a 2xx acknowledged."""
        self.attempts: list[DeliveryAttempt] = []
        """Every POST to the sink, oldest first."""
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._unsubscribe = data.subscribe(self._changed)
        self._partials: dict[str, JSONDict] = {}
        self._duplicated: set[str] = set()

    def __repr__(self) -> str:
        return f"<EventStream to {self._post_url} emitted={self.emitted}>"

    @property
    def pending(self) -> int:
        """Events emitted but not yet acknowledged."""
        return len(self._outstanding)

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Start delivering (the fake calls this when it starts)."""
        self._session = aiohttp.ClientSession()
        self._tasks = [
            asyncio.create_task(self._deliver_forever()) for _ in range(self.options.concurrency)
        ]
        self._tasks.append(asyncio.create_task(self._tick_forever()))

    async def close(self) -> None:
        """Stop: pending deliveries are abandoned (the fake calls this when it closes)."""
        self._unsubscribe()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def drain(self) -> None:
        """Return once every event emitted so far was acknowledged."""
        await self._idle.wait()

    # -- what is emitted --------------------------------------------------------------------

    def emit(self, event: JSONDict) -> None:
        """Queue any CloudEvent (a JSON object) for delivery, e.g. of an unrelated type."""
        self.emitted += 1
        self._queue_event(event)

    def emit_unrelated(self) -> JSONDict:
        """Queue an event of a type that carries no Insights summary; return it."""
        event = self._event(self._rng.choice(_UNRELATED), "EventStreams.Other/1", {"x": 1})
        self.emit(event)
        return event

    def _queue_event(self, event: JSONDict) -> None:
        self._outstanding.add(event["id"])
        self._idle.clear()
        self._queue.put_nowait(event)

    def _event(self, type_: str, schema: str, data: Any, *, time: str | None = None) -> JSONDict:
        return {
            "specversion": "1.0",
            "type": type_,
            "source": "/v1/Conferences",
            "id": "EV" + secrets.token_hex(16),
            "dataschema": _SCHEMAS + schema,
            "datacontenttype": "application/json",
            "time": time or _now(),
            "data": data,
        }

    def _changed(self, sid: str, what: str) -> None:
        summary = self._data.conference(sid)
        if summary is None:
            return
        if what == ADDED:
            partial = self._event(_PARTIAL, "ConferenceSummary/2", copy.deepcopy(summary))
            self._partials[sid] = partial
            self.emit(partial)
            what = str(summary.get("processing_state"))
        if what not in TERMINAL:
            return
        self.emit(self._event(_COMPLETE, "ConferenceSummary/2", copy.deepcopy(summary)))
        for participant in self._data.participant_summaries[sid]:
            spelling = self._rng.choice(_PARTICIPANT_SPELLINGS)
            schema = "ConferenceParticipantSummary/2"
            self.emit(self._event(spelling, schema, copy.deepcopy(participant)))

    # -- delivering -------------------------------------------------------------------------

    async def _tick_forever(self) -> None:
        while True:
            self._data.processing.tick()  # settles what is due, which emits its events
            await asyncio.sleep(self.options.tick)

    async def _next_batch(self) -> list[JSONDict]:
        batch = [await self._queue.get()]
        await asyncio.sleep(self.options.batch_window)  # let a batch gather
        while len(batch) < self.options.batch_size and not self._queue.empty():
            batch.append(self._queue.get_nowait())
        return batch

    def _arranged(self, batch: list[JSONDict]) -> list[JSONDict]:
        """The batch as sent: shuffled, with stale partials or an unrelated event on demand."""
        rng, options = self._rng, self.options
        sent = list(batch)
        if rng.random() < options.out_of_order:
            rng.shuffle(sent)
            for event in batch:
                partial = self._partials.get(_sid_of(event)) if event["type"] == _COMPLETE else None
                if partial is not None:  # an older partial after the newer complete
                    sent.append(partial)
        if rng.random() < options.unrelated:
            sent.insert(rng.randrange(len(sent) + 1), self._unrelated_event())
        return sent

    def _unrelated_event(self) -> JSONDict:
        event = self._event(self._rng.choice(_UNRELATED), "EventStreams.Other/1", {"x": 1})
        self.emitted += 1
        return event

    async def _deliver_forever(self) -> None:
        while True:
            batch = await self._next_batch()
            sent = self._arranged(batch)
            try:
                await self._deliver_with_retries(sent)
            except _NotDelivered:
                _log.warning("gave up delivering %d events to the sink", len(sent))
            else:
                for event in sent:
                    self.acknowledged.add(event["id"])
                    self._outstanding.discard(event["id"])
                for event in batch:  # on demand, the same event (same id) once more, later
                    if event["id"] not in self._duplicated and (
                        self._rng.random() < self.options.duplicates
                    ):
                        self._duplicated.add(event["id"])
                        self._queue_event(event)
            if not self._outstanding:
                self._idle.set()

    async def _deliver_with_retries(self, events: Sequence[JSONDict]) -> None:
        options = self.options
        retrying = tenacity.AsyncRetrying(
            retry=tenacity.retry_if_exception_type(_NotDelivered),
            wait=tenacity.wait_random_exponential(
                multiplier=options.initial_backoff, max=options.max_backoff
            ),
            stop=tenacity.stop_after_delay(options.give_up_after),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                await self._post(events)

    async def _post(self, events: Sequence[JSONDict]) -> None:
        assert self._session is not None
        body = json.dumps(list(events), separators=(",", ":")).encode("utf-8")
        signed = with_body_sha256(self._signed_url, body)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: compute_signature(signed, key=self._token),
        }
        if self._authorization is not None:
            headers["Authorization"] = self._authorization
        post_url = with_body_sha256(self._post_url, body)
        ids = tuple(event["id"] for event in events)
        try:
            async with self._session.post(
                URL(post_url, encoded=True),
                data=body,
                headers=headers,
                timeout=aiohttp.ClientTimeout(total=self.options.timeout),
            ) as response:
                await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as error:
            self.attempts.append(DeliveryAttempt(ids, None, type(error).__name__))
            raise _NotDelivered from None
        self.attempts.append(DeliveryAttempt(ids, status))
        if not 200 <= status < 300:
            raise _NotDelivered


def _sid_of(event: JSONDict) -> str:
    data = event.get("data")
    return str(data.get("conference_sid")) if isinstance(data, dict) else ""
