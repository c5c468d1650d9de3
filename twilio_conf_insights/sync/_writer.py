"""Batching writes: at most one store write in flight, everything that arrived meanwhile next.

Under load, records pile up while a write runs and go in the next transaction together;
when fetching is slow, each record is committed almost as soon as it arrives. Either way
a killed run loses little: only what was fetched but not yet committed.

A writer may also wait for ``min_batch`` records (or a :meth:`BatchWriter.flush`) before
it writes: a distributed sync's unit, which is run again in full if its worker dies, then
commits its window in one transaction instead of one per conference.
"""

from __future__ import annotations

import asyncio

from ._store import ConferenceRecord, Store, WriteCounts

__all__ = ["BatchWriter", "WriterClosedError"]


class BatchWriter:
    """Feeds a :class:`Store` one transaction at a time; :meth:`flush` waits for all."""

    def __init__(self, store: Store, *, min_batch: int = 1) -> None:
        if min_batch < 1:
            raise ValueError(f"min_batch must be at least 1, got {min_batch!r}")
        self._store = store
        self._min_batch = min_batch
        self._pending: list[ConferenceRecord] = []
        self._task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None
        self._added = 0
        self._committed = 0
        # (records that must be committed, future) of each flush() waiting.
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        #: What every completed write changed, summed.
        self.counts = WriteCounts()

    def add(self, record: ConferenceRecord) -> None:
        """Queue a record; raises the error of an earlier failed write, if any."""
        self._raise_failure()
        self._pending.append(record)
        self._added += 1
        if self._task is None and len(self._pending) >= self._min_batch:
            self._task = asyncio.ensure_future(self._drain())

    def _due(self) -> bool:
        """Records to write now: a full batch, or any while a flush waits for them."""
        return len(self._pending) >= self._min_batch or (
            bool(self._pending) and bool(self._waiters)
        )

    async def _drain(self) -> None:
        try:
            while self._due():
                batch, self._pending = self._pending, []
                self.counts += await self._store.write(batch)
                self._committed += len(batch)
                self._wake()
        except BaseException as error:
            self._error = error
            self._pending = []
        finally:
            self._task = None
            self._wake()

    def _wake(self) -> None:
        waiting = []
        for target, future in self._waiters:
            if future.done():
                continue
            if self._error is not None or self._committed >= target or self._task is None:
                future.set_result(None)
            else:
                waiting.append((target, future))
        self._waiters = waiting

    def _raise_failure(self) -> None:
        if self._error is not None:
            raise self._error

    async def flush(self) -> None:
        """Wait until every record added so far is committed (or raise why it was not).

        Records added by others meanwhile are not waited for: one window finishing does
        not wait for all the others.
        """
        target = self._added
        if self._committed < target and self._error is None:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append((target, future))
            if self._task is None:  # records short of a batch: written now
                self._task = asyncio.ensure_future(self._drain())
            await future
        self._raise_failure()

    async def aclose(self) -> None:
        """Stop: cancel a write in flight (its transaction is rolled back by the store).

        Records not committed yet are dropped (a sync's next run fetches them again); a
        flush still waiting, or called after this, raises :class:`WriterClosedError`.
        """
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self._error is None:
            self._error = WriterClosedError(
                "the writer was closed before these records were written"
            )
        self._pending = []
        self._wake()


class WriterClosedError(RuntimeError):
    """A :class:`BatchWriter` was used, or waited on, after :meth:`BatchWriter.aclose`."""
