"""A sink writing each delivery's summaries into a sync store, acknowledged once committed.

:class:`StoreSink` turns every summary record of a delivery into a
:class:`~twilio_conf_insights.sync.ConferenceRecord` (the event's ``data`` exactly as
Twilio sent it, observed at the event's ``time``) and writes them with the store's
``write``: the same tables, the same merge rules as a sync, so events and syncs are two ways
into one store. The store keeps, of every summary, the most final and then the latest
version, which makes a duplicate delivery change nothing and a late ``.partial`` or an older
event never overwrite a newer record.

**Group commit.** One write is in flight at a time; the deliveries that arrive meanwhile go
into the next transaction together. Under load, one transaction carries many deliveries
(fewer commits, each one's cost shared); when deliveries are rare, each is committed on its
own as soon as it arrives. A delivery is answered only once the transaction holding it
committed. A delivery lives or dies whole: when a transaction fails, no part of any delivery
in it was kept, each is answered 503 (:class:`SinkUnavailableError`) and Twilio delivers it
again. When the store as a whole cannot commit (busy, full, read-only) that is all; on any
other failure each delivery of the transaction is written again alone, so that one the
store refuses cannot take the deliveries grouped with it down too.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from datetime import UTC, datetime
from typing import Any, Self

import attrs

from .._closing import ClosedOnExit
from .._validation import is_sid
from ..sync._store import (
    ConferenceRecord,
    Store,
    StoreBusyError,
    StoreError,
    StoreFullError,
    StoreReadOnlyError,
    WriteCounts,
)
from ._app import SinkUnavailableError
from ._delivery import ConferenceSummaryEvent, Delivery, SummaryEvent

__all__ = ["StoreSink", "StoreSinkStats", "records_of"]

_log = logging.getLogger("twilio_conf_insights.eventstreams")

#: Summaries per transaction at most, however many deliveries wait.
DEFAULT_MAX_RECORDS = 2000


@attrs.define
class StoreSinkStats:
    """What a :class:`StoreSink` wrote (``sink.stats``), counted since it was created."""

    #: Deliveries committed.
    deliveries: int = 0
    #: Summaries committed (each once per delivery that carried it: duplicates count).
    records: int = 0
    #: Transactions committed.
    transactions: int = 0
    #: What those transactions changed in the store, summed.
    changes: WriteCounts = attrs.field(factory=WriteCounts)
    #: Summary events that name no conference or participant (not stored; logged).
    unstorable: int = 0
    #: Deliveries refused because the store could not commit them (answered 503).
    unavailable: int = 0


def _observed_at(record: SummaryEvent) -> datetime | None:
    moment = record.time
    if moment is not None and moment.utcoffset() is None:
        return moment.replace(tzinfo=UTC)  # CloudEvents times are UTC when they omit it
    return moment


def _storable(record: SummaryEvent, data: Any) -> bool:
    """Whether the event's data names what the store keys it by."""
    if not isinstance(data, dict):
        return False
    conference = data.get("conference_sid")
    if not isinstance(conference, str) or not is_sid(conference, "CF"):
        return False
    if isinstance(record, ConferenceSummaryEvent):
        return True
    participant = data.get("participant_sid")
    return isinstance(participant, str) and is_sid(participant, "CP")


def records_of(delivery: Delivery) -> tuple[list[ConferenceRecord], int]:
    """The store records of a delivery's summaries, and how many could not become one.

    Each summary event becomes a record of its own: the event's ``data`` as received (what
    the API returns for the same summary), observed at the event's ``time``. An event whose
    data names no conference (or, for a participant summary, no participant) cannot be
    stored and is counted instead.
    """
    records: list[ConferenceRecord] = []
    unstorable = 0
    for record in delivery.records:
        data = record.event.data
        if not _storable(record, data):
            unstorable += 1
            event = record.event
            _log.warning("event %s (%s) names no conference; not stored", event.id, event.type)
            continue
        assert isinstance(data, dict)
        at = _observed_at(record)
        if isinstance(record, ConferenceSummaryEvent):
            records.append(ConferenceRecord.of_summary(data, observed_at=at))
        else:
            records.append(ConferenceRecord.of_participant(data, observed_at=at))
    return records, unstorable


@attrs.define(eq=False)
class _Waiting:
    """One delivery's records, and the answer its request waits for."""

    records: list[ConferenceRecord]
    done: asyncio.Future[None]


class StoreSink(ClosedOnExit):
    """A :data:`~twilio_conf_insights.eventstreams.Sink` writing summaries into a sync store.

    ::

        async with SQLiteStore("insights.db") as store, StoreSink(store) as sink:
            app = eventstreams.create_app(sink, auth_token=token, public_url=public_url)
            ...

    Each delivery returns once the transaction holding it committed, or raises
    :class:`SinkUnavailableError` (answer 503) when the store could not commit it (busy,
    down, full, read-only): nothing of it was written then. Deliveries arriving while a
    write runs are committed together in the next one, up to ``max_records`` summaries
    (see the module documentation).

    The sink does not own the store: close the store after the sink (``aclose`` waits for
    the write in flight and refuses what has not been written).
    """

    def __init__(self, store: Store, *, max_records: int = DEFAULT_MAX_RECORDS) -> None:
        if max_records < 1:
            raise ValueError(f"max_records must be at least 1, got {max_records!r}")
        self._store = store
        self._max_records = max_records
        self._queue: deque[_Waiting] = deque()
        self._writer: asyncio.Task[None] | None = None
        self._closed = False
        #: What was written so far.
        self.stats = StoreSinkStats()

    def __repr__(self) -> str:
        return f"<StoreSink {self._store!r} {self.stats.deliveries} deliveries>"

    @property
    def waiting(self) -> int:
        """Deliveries waiting for the next transaction (not counting the one being written)."""
        return sum(not waiting.done.done() for waiting in self._queue)

    async def __call__(self, delivery: Delivery) -> None:
        """Commit the delivery's summaries; return once they are committed."""
        records, unstorable = records_of(delivery)
        self.stats.unstorable += unstorable
        if not records:
            return
        if self._closed:
            self.stats.unavailable += 1
            raise SinkUnavailableError("the sink is closed")
        waiting = _Waiting(records, asyncio.get_running_loop().create_future())
        self._queue.append(waiting)
        if self._writer is None:
            self._writer = asyncio.ensure_future(self._write_queued())
        # Cancelled (the request's deadline, or Twilio hung up): the future is cancelled too,
        # and a delivery not yet taken into a transaction is dropped from the queue.
        await waiting.done

    # -- the writer ---------------------------------------------------------------------------

    def _next_group(self) -> list[_Waiting]:
        group: list[_Waiting] = []
        size = 0
        while self._queue:
            waiting = self._queue[0]
            if waiting.done.done():  # its request gave up: Twilio sends it again
                self._queue.popleft()
                continue
            if group and size + len(waiting.records) > self._max_records:
                break
            group.append(self._queue.popleft())
            size += len(waiting.records)
        return group

    async def _write_queued(self) -> None:
        try:
            while self._queue:
                group = self._next_group()
                if group:
                    await self._commit(group)
        finally:
            self._writer = None

    async def _commit(self, group: list[_Waiting]) -> None:
        records = [record for waiting in group for record in waiting.records]
        _log.debug("writing %d summaries of %d deliveries", len(records), len(group))
        try:
            counts = await self._store.write(records)
        except asyncio.CancelledError:
            # Stopped mid-write: the store undoes the transaction; Twilio delivers it again.
            self._refuse(group, SinkUnavailableError("the sink is closed"))
            raise
        except (StoreBusyError, StoreFullError, StoreReadOnlyError) as error:
            # The whole store cannot commit now: every delivery alone would fail the same.
            self._refuse(group, error)
        except Exception as error:
            if len(group) == 1:
                self._refuse(group, error)
            else:
                # Maybe one delivery the store cannot take: each alone, so the others pass.
                for waiting in group:
                    if not waiting.done.done():
                        await self._commit([waiting])
        else:
            self._committed(group, records, counts)

    def _committed(
        self, group: list[_Waiting], records: list[ConferenceRecord], counts: WriteCounts
    ) -> None:
        stats = self.stats
        stats.transactions += 1
        stats.deliveries += len(group)
        stats.records += len(records)
        stats.changes += counts
        _log.debug("committed %d summaries of %d deliveries: %s", len(records), len(group), counts)
        for waiting in group:
            if not waiting.done.done():
                waiting.done.set_result(None)

    def _refuse(self, group: list[_Waiting], error: Exception) -> None:
        self.stats.unavailable += sum(not waiting.done.done() for waiting in group)
        if isinstance(error, StoreError):
            # The message names the store (never a password); the answer stays generic.
            _log.warning("the store could not commit %d deliveries: %s", len(group), error)
            error = SinkUnavailableError("the store cannot commit now")
        for waiting in group:
            if not waiting.done.done():
                waiting.done.set_exception(error)

    async def __aenter__(self) -> Self:
        return self

    async def aclose(self, *, grace: float = 5.0) -> None:
        """Stop: deliveries not written yet are refused (503). Idempotent.

        The write in flight may finish within ``grace`` seconds (its deliveries are
        answered 2xx); after that it is cancelled, and the store undoes it.
        """
        self._closed = True
        pending = list(self._queue)
        self._queue.clear()
        self._refuse(pending, SinkUnavailableError("the sink is closed"))
        writer = self._writer
        if writer is not None:
            _, running = await asyncio.wait({writer}, timeout=grace)
            for task in running:
                task.cancel()
            await asyncio.gather(writer, return_exceptions=True)
