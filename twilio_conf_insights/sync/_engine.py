"""The sync engine: plan the windows, list them, fetch what is not settled, write, close.

Each :class:`~._units.WorkUnit` is one account's window. Adjacent windows of one scope are
listed together (:class:`~._units.Listing`, up to :data:`~._units.LIST_SPAN` at a time):
one listing of their whole range, each conference counted to the window its
``create_time`` falls in. Per page, the store says which conferences it holds settled;
the participant summaries of the rest are listed, of whichever listing, through one
bounded fan-out (the client's limiter stays full until the last fetch), and the records
go to the store as they arrive (:class:`~._writer.BatchWriter`). Once a listing is
complete and its records committed, each of its windows is marked listed, and closed if
it is older than :data:`~._units.CLOSE_AFTER` and everything in it settled; a window
holding a conference that could not be fetched stays open.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from .._bulk import map_bounded
from .._errors import DecodeError, InvalidArgumentError
from .._resources.conferences import conference_query
from .._validation import is_sid, positive_int, sid
from ._collections import sync_collections
from ._store import ConferenceRecord, Store, StoreError
from ._units import Listing, WorkUnit, cut_windows, join_windows, scope_key
from ._writer import BatchWriter

if TYPE_CHECKING:
    from .._client import InsightsClient

__all__ = [
    "DEFAULT_WINDOW",
    "FIRST_RUN",
    "SyncPlan",
    "SyncProgress",
    "SyncRun",
    "SyncSummary",
    "plan_sync",
    "run_sync",
]

#: The width of a window unless told otherwise.
DEFAULT_WINDOW = timedelta(hours=1)
#: How far back a first sync reaches without a range.
FIRST_RUN = timedelta(hours=24)
#: Listings run at once (each a page ahead at most); their fetches share one pool.
LISTINGS_AT_ONCE = 4


@attrs.frozen
class SyncProgress:
    """Where a sync stands; handed to ``on_progress`` as it advances."""

    windows_done: int
    windows_total: int
    #: Conferences listed so far.
    conferences: int
    #: Conferences whose participants were fetched so far.
    fetched: int


@attrs.frozen
class SyncSummary:
    """What a sync changed, and what it could not do."""

    #: Conferences the store did not have.
    new: int
    #: Conferences the store had whose summary or participants changed.
    updated: int
    #: Conferences that became settled (stored before, unsettled then).
    settled: int
    #: Conferences written this time that are still unsettled (they will be fetched again).
    unsettled: int
    #: Participant summaries inserted or changed.
    participants: int
    #: Conferences listed.
    conferences: int
    #: Conferences skipped because the store holds them settled.
    skipped: int
    #: Windows listed, and how many of them are now closed.
    windows: int
    windows_closed: int
    #: Failures that left part of the range unsynced (a re-run picks it up).
    errors: tuple[Exception, ...] = ()

    @property
    def ok(self) -> bool:
        """Whether the whole range was synced."""
        return not self.errors

    def line(self) -> str:
        """One line for a terminal or a log."""
        text = (
            f"{self.new} new, {self.updated} updated, {self.settled} settled, "
            f"{self.unsettled} still unsettled ({self.conferences} conferences listed in "
            f"{self.windows} windows, {self.skipped} already settled, "
            f"{self.windows_closed} windows closed)"
        )
        if self.errors:
            text += f"; {len(self.errors)} failed, re-run to finish: {self.errors[0]}"
        return text


@attrs.frozen
class SyncPlan:
    """The units a sync will process, in order."""

    units: tuple[WorkUnit, ...]
    #: Windows known closed, which are not listed.
    skipped_closed: int


def _covered(unit: WorkUnit, closed: Sequence[WorkUnit]) -> bool:
    """Whether ``unit``'s range lies inside the union of closed windows."""
    cursor = unit.start
    for window in sorted(closed, key=lambda w: w.start):
        if window.start <= cursor < window.end:
            cursor = window.end
        if cursor >= unit.end:
            return True
    return cursor >= unit.end


async def plan_units(
    store: Store,
    *,
    now: datetime,
    created_after: datetime | None,
    created_before: datetime | None,
    window: timedelta,
    subaccounts: Sequence[str | None],
    query: Mapping[str, str | int],
    refresh: bool,
) -> SyncPlan:
    """The windows to list, recorded in the store before any is listed.

    The range asked for (minus windows closed already), plus any earlier window of the
    same scope that is not closed yet (unsettled conferences, or an interrupted run).
    """
    filters = [(name, str(value)) for name, value in query.items()]
    units: list[WorkUnit] = []
    skipped = 0
    for account in subaccounts:
        known = await store.windows(scope_key(account, query))
        if created_after is not None:
            start = created_after
        elif known:
            start = max(state.unit.end for state in known)
        else:
            start = now - FIRST_RUN
        end = created_before if created_before is not None else now
        closed = [state.unit for state in known if state.closed]
        wanted = cut_windows(start, end, window, subaccount=account, filters=filters)
        chosen = []
        for unit in wanted:
            if not refresh and _covered(unit, closed):
                skipped += 1
            else:
                chosen.append(unit)
        chosen_set = set(chosen)
        # Windows of earlier runs that are still open: unsettled conferences wait there,
        # or a run stopped before listing them. Those inside the range are cut again above.
        earlier = [
            state.unit
            for state in known
            if not state.closed
            and state.unit not in chosen_set
            and not (start <= state.unit.start and state.unit.end <= end)
        ]
        units += chosen + earlier
    await store.add_windows(units)
    return SyncPlan(tuple(units), skipped)


@attrs.define
class SyncRun:
    """One sync run over a store: what :func:`run_sync` drives, and a worker runs per unit.

    A runner elsewhere (``distributed``) processes the units it is handed with
    ``run = SyncRun(client, store, now, refresh)``, ``await run.unit(unit)``, then
    ``await run.writer.flush()`` and ``await run.writer.aclose()``; :meth:`totals` and
    :attr:`errors` say what it did.
    """

    client: InsightsClient
    store: Store
    now: datetime
    refresh: bool
    #: Conferences fetched at once (default: the client's ``max_concurrency``).
    concurrency: int = attrs.field(
        default=attrs.Factory(lambda run: run.client.stats().max_concurrency, takes_self=True)
    )
    on_progress: Callable[[SyncProgress], None] | None = None
    windows_total: int = 1
    writer: BatchWriter = attrs.field(
        default=attrs.Factory(lambda run: BatchWriter(run.store), takes_self=True)
    )
    windows_done: int = 0
    windows_closed: int = 0
    conferences: int = 0
    fetched: int = 0
    skipped: int = 0
    errors: list[Exception] = attrs.Factory(list)
    #: A store failure met while marking windows: it ends the run.
    store_failure: StoreError | None = attrs.field(default=None, init=False)

    def totals(self) -> dict[str, int]:
        """The counts a summary of this run reports (its writer's and its own)."""
        return {
            **attrs.asdict(self.writer.counts),
            "conferences": self.conferences,
            "skipped": self.skipped,
            "windows": self.windows_done,
            "windows_closed": self.windows_closed,
        }

    def report(self) -> None:
        """Hand the progress so far to ``on_progress``, if given."""
        if self.on_progress is not None:
            self.on_progress(
                SyncProgress(self.windows_done, self.windows_total, self.conferences, self.fetched)
            )

    async def participants_of(self, summary: Mapping[str, Any]) -> list[dict[str, Any]]:
        """Every participant summary (as JSON) of the conference a summary describes."""
        conference = summary.get("conference_sid")
        if not isinstance(conference, str) or not is_sid(conference, "CF"):
            # Server data, not the caller's argument: a decode problem.
            raise DecodeError(
                f"conference_sid is not a conference SID: {conference!r}",
                resource="ConferenceSummary",
                field="$.conference_sid",
            )
        return await self.client.participant_summaries.list_raw(conference).collect()

    async def unit(self, unit: WorkUnit) -> None:
        """Sync one window (what a worker of a distributed sync runs for its unit)."""
        await self.units([unit])

    async def units(self, units: Sequence[WorkUnit]) -> None:
        """Sync ``units``: adjacent windows listed together, all fetches through one pool.

        One task lists (a page ahead of the fetches, across listings); the conferences to
        fetch, of whichever window, go through one fan-out of ``concurrency`` fetches, so
        the client's limiter stays full from the first page to the last. A listing's
        windows are marked once its last conference is back and committed. Failures of a
        listing or a conference are in :attr:`errors`; a :class:`StoreError` ends it all.
        """
        listings = [_ListingState(listing) for listing in join_windows(units)]
        queue: asyncio.Queue[_Queued] = asyncio.Queue(maxsize=1)
        producer = asyncio.ensure_future(self._list_all(listings, queue))
        try:
            fetches = map_bounded(self._queued(queue), self._fetch, concurrency=self.concurrency)
            async with contextlib.aclosing(fetches) as outcomes:
                async for (state, summary, listed_at), participants, error in outcomes:
                    if self.store_failure is not None:
                        raise self.store_failure
                    state.pending -= 1
                    if error is not None:
                        state.mark(state.failed, summary)
                        self.errors.append(error)
                    else:
                        # Stamped with the time its summary was listed: its participants
                        # were fetched later, so the record never claims to be newer.
                        record = ConferenceRecord(
                            summary, participants or [], observed_at=listed_at
                        )
                        if not record.settled:
                            state.mark(state.unsettled, summary)
                        self.writer.add(record)
                        self.fetched += 1
                        self.report()
                    self._finish_when_done(state)
            await producer
            await asyncio.gather(*(state.finish for state in listings if state.finish))
        finally:
            tasks = [producer, *(state.finish for state in listings if state.finish)]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _list_all(self, listings: list[_ListingState], queue: asyncio.Queue[_Queued]) -> None:
        """Run the listings, a few at once, handing each page's unsettled conferences on."""

        async def one(state: _ListingState) -> None:
            await self._list(state, queue)

        try:
            runs = map_bounded(listings, one, concurrency=LISTINGS_AT_ONCE)
            async with contextlib.aclosing(runs) as outcomes:
                async for _, _, error in outcomes:
                    if error is not None:
                        raise error  # only a store failure gets here
        except Exception as error:  # the fetching side raises it: it ends the run
            await queue.put(error)
        else:
            await queue.put(None)

    async def _list(self, state: _ListingState, queue: asyncio.Queue[_Queued]) -> None:
        query = state.listing.query()
        pages = self.client.conferences.list_raw(query, page_size=1000).pages()
        try:
            async with contextlib.aclosing(pages) as stream:
                async for page in stream:
                    listed_at = datetime.now(UTC)
                    self.conferences += len(page.items)
                    sids = [s.get("conference_sid") for s in page.items]
                    known = [sid for sid in sids if isinstance(sid, str)]
                    done = set() if self.refresh else await self.store.settled(known)
                    todo = [s for s in page.items if s.get("conference_sid") not in done]
                    self.skipped += len(page.items) - len(todo)
                    if todo:
                        state.pending += len(todo)
                        await queue.put([(state, summary, listed_at) for summary in todo])
        except StoreError:
            raise
        except Exception as error:
            # Not listed completely: none of its windows is marked; the next run lists them.
            state.broken = True
            self.errors.append(error)
        state.listed = True
        self._finish_when_done(state)

    @staticmethod
    async def _queued(queue: asyncio.Queue[_Queued]) -> AsyncIterator[_Item]:
        while (batch := await queue.get()) is not None:
            if isinstance(batch, Exception):
                raise batch
            for item in batch:
                yield item

    async def _fetch(self, item: _Item) -> list[dict[str, Any]]:
        return await self.participants_of(item[1])

    def _finish_when_done(self, state: _ListingState) -> None:
        if state.listed and not state.pending and not state.broken and state.finish is None:
            state.finish = asyncio.ensure_future(self._finish(state))
            state.finish.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        error = None if task.cancelled() else task.exception()
        if isinstance(error, StoreError) and self.store_failure is None:
            self.store_failure = error

    async def _finish(self, state: _ListingState) -> None:
        # The windows' records must be committed before a window may be marked.
        await self.writer.flush()
        for unit in state.listing.units:
            if unit in state.failed:
                continue  # not fetched completely: the next run lists it again
            closed = unit.closable(self.now) and unit not in state.unsettled
            await self.store.finish_window(unit, closed=closed, listed_at=self.now)
            self.windows_done += 1
            self.windows_closed += int(closed)
            self.report()


#: What the listing side hands the fetching side: a page's conferences to fetch, the
#: error that ended the listing (a store failure), or ``None`` after the last listing.
_Item = tuple["_ListingState", Mapping[str, Any], datetime]
_Queued = list[_Item] | Exception | None


@attrs.define(eq=False)
class _ListingState:
    """Where one listing of a run stands."""

    listing: Listing
    #: Conferences handed to the fetches and not back yet.
    pending: int = 0
    #: Its last page was listed (or the listing failed).
    listed: bool = False
    #: The listing failed: none of its windows is marked.
    broken: bool = False
    #: Windows holding a conference still unsettled / one that could not be fetched.
    unsettled: set[WorkUnit] = attrs.Factory(set)
    failed: set[WorkUnit] = attrs.Factory(set)
    #: Committing and marking its windows, once everything is back.
    finish: asyncio.Task[None] | None = None

    def mark(self, windows: set[WorkUnit], summary: Mapping[str, Any]) -> None:
        """Add the window of ``summary`` to ``windows`` (every window, if it is not known)."""
        unit = self.listing.unit_of(summary.get("create_time"))
        windows.update(self.listing.units if unit is None else (unit,))


def _subaccounts(values: Iterable[str]) -> list[str | None]:
    checked = [sid(value, "AC", "subaccount") for value in values]
    return list(dict.fromkeys(checked)) or [None]


async def plan_sync(
    store: Store,
    *,
    window: timedelta = DEFAULT_WINDOW,
    subaccounts: Iterable[str] = (),
    refresh: bool = False,
    now: datetime | None = None,
    filters: Mapping[str, Any] | None = None,
) -> tuple[SyncPlan, datetime]:
    """Check a sync's arguments, plan its units (recorded in the store) and fix its "now".

    Shared by :func:`run_sync` and runners that hand the units to other processes.
    """
    rest = dict(filters or {})
    created_after = rest.pop("created_after", None)
    created_before = rest.pop("created_before", None)
    one_subaccount = rest.pop("subaccount", None)
    conference_query({"created_after": created_after, "created_before": created_before})
    query = conference_query(rest)
    accounts = [*([one_subaccount] if one_subaccount else []), *subaccounts]
    moment = now if now is not None else datetime.now(UTC)
    conference_query({"created_before": moment})  # aware, like the range
    if not isinstance(window, timedelta) or window.total_seconds() < 1:
        raise InvalidArgumentError(f"window must be a timedelta of a second or more: {window!r}")
    plan = await plan_units(
        store,
        now=moment,
        created_after=created_after,
        created_before=created_before,
        window=window,
        subaccounts=_subaccounts(accounts),
        query=query,
        refresh=refresh,
    )
    return plan, moment


async def run_sync(
    client: InsightsClient,
    store: Store,
    *,
    window: timedelta = DEFAULT_WINDOW,
    subaccounts: Iterable[str] = (),
    refresh: bool = False,
    now: datetime | None = None,
    concurrency: int | None = None,
    on_progress: Callable[[SyncProgress], None] | None = None,
    filters: Mapping[str, Any] | None = None,
) -> SyncSummary:
    """Bring ``store`` up to date; see :meth:`InsightsClient.sync`."""
    width = positive_int(concurrency, "concurrency") if concurrency is not None else None
    plan, moment = await plan_sync(
        store, window=window, subaccounts=subaccounts, refresh=refresh, now=now, filters=filters
    )
    run = SyncRun(client, store, moment, refresh, on_progress=on_progress)
    run.concurrency = width or run.concurrency
    run.windows_total = len(plan.units)
    writer = run.writer
    run.report()
    with sync_collections():  # full collections do not stall the loop (see _collections)
        try:
            try:
                await run.units(plan.units)
            except StoreError:
                raise  # the store cannot take more: stop everything
            except Exception as error:
                run.errors.append(error)
            await writer.flush()
        finally:
            await writer.aclose()
    return SyncSummary(**run.totals(), errors=tuple(run.errors))
