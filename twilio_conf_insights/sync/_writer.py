"""Batching writes: at most one store write in flight, everything that arrived meanwhile next.

Under load, records pile up while a write runs and go in the next transaction together;
when fetching is slow, each record is committed almost as soon as it arrives. Either way
a killed run loses little: only what was fetched but not yet committed.
"""

from __future__ import annotations

import asyncio

from ._store import ConferenceRecord, Store, WriteCounts

__all__ = ["BatchWriter"]


class BatchWriter:
    """Feeds a :class:`Store` one transaction at a time; :meth:`flush` waits for all."""

    def __init__(self, store: Store) -> None:
        self._store = store
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
        if self._task is None:
            self._task = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        try:
            while self._pending:
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
        if self._committed < target and self._task is not None and self._error is None:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiters.append((target, future))
            await future
        self._raise_failure()

    async def aclose(self) -> None:
        """Stop: cancel a write in flight (its transaction is rolled back by the store)."""
        task = self._task
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
