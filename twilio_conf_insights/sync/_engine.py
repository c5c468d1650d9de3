"""The sync engine: plan the windows, list each, fetch what is not settled, write, close.

For each :class:`~._units.WorkUnit` (one account's window): list its conferences, skip
those the store holds settled, list the participant summaries of the rest, and hand the
records to the store as they arrive (:class:`~._writer.BatchWriter`). Once a window is
listed completely and its records committed, it is marked listed, and closed if it is
older than :data:`~._units.CLOSE_AFTER` and everything in it settled. Windows run
concurrently; the client's own limiter bounds the requests in flight.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import attrs

from .._bulk import map_bounded
from .._errors import DecodeError, InvalidArgumentError
from .._resources.conferences import conference_query
from .._validation import is_sid, positive_int, sid
from ._store import ConferenceRecord, Store, StoreError
from ._units import WorkUnit, cut_windows, scope_key
from ._writer import BatchWriter

if TYPE_CHECKING:
    from .._client import InsightsClient

__all__ = [
    "DEFAULT_WINDOW",
    "FIRST_RUN",
    "SyncPlan",
    "SyncProgress",
    "SyncSummary",
    "plan_sync",
    "run_sync",
]

#: The width of a window unless told otherwise.
DEFAULT_WINDOW = timedelta(hours=1)
#: How far back a first sync reaches without a range.
FIRST_RUN = timedelta(hours=24)


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
class _Run:
    """The mutable state of one sync run."""

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
        if self.on_progress is not None:
            self.on_progress(
                SyncProgress(self.windows_done, self.windows_total, self.conferences, self.fetched)
            )

    async def participants_of(self, summary: Mapping[str, Any]) -> list[dict[str, Any]]:
        conference = summary.get("conference_sid")
        if not isinstance(conference, str) or not is_sid(conference, "CF"):
            # Server data, not the caller's argument: a decode problem.
            raise DecodeError(
                f"conference_sid is not a conference SID: {conference!r}",
                resource="ConferenceSummary",
                field="$.conference_sid",
            )
        return await self.client.participant_summaries._list_raw(conference).collect()

    async def unit(self, unit: WorkUnit) -> None:
        unsettled = False
        failures = 0
        pages = self.client.conferences._list_raw(unit.query(), page_size=1000).pages()
        async with contextlib.aclosing(pages) as stream:
            async for page in stream:
                self.conferences += len(page.items)
                sids = [s.get("conference_sid") for s in page.items]
                known = [sid for sid in sids if isinstance(sid, str)]
                done = set() if self.refresh else await self.store.settled(known)
                todo = [s for s in page.items if s.get("conference_sid") not in done]
                self.skipped += len(page.items) - len(todo)
                fetches = map_bounded(todo, self.participants_of, concurrency=self.concurrency)
                async with contextlib.aclosing(fetches) as outcomes:
                    async for summary, participants, error in outcomes:
                        if error is not None:
                            failures += 1
                            self.errors.append(error)
                            continue
                        record = ConferenceRecord(summary, participants or [])
                        unsettled |= not record.settled
                        self.writer.add(record)
                        self.fetched += 1
                        self.report()
        # The window's records must be committed before the window may be marked.
        await self.writer.flush()
        if failures:
            return  # not listed completely: the next run lists it again
        closed = unit.closable(self.now) and not unsettled
        await self.store.finish_window(unit, closed=closed, listed_at=self.now)
        self.windows_done += 1
        self.windows_closed += int(closed)
        self.report()


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
    run = _Run(client, store, moment, refresh, on_progress=on_progress)
    run.concurrency = width or run.concurrency
    run.windows_total = len(plan.units)
    writer = run.writer
    run.report()
    try:
        # As many windows at once as requests may be in flight: a window spends much of its
        # time waiting (listing, store round trips), and the client's limiter, not the
        # window count, bounds the requests.
        windows = map_bounded(plan.units, run.unit, concurrency=run.concurrency)
        async with contextlib.aclosing(windows) as outcomes:
            async for _, _, error in outcomes:
                if isinstance(error, StoreError):
                    raise error  # the store cannot take more: stop everything
                if error is not None:
                    run.errors.append(error)
        await writer.flush()
    finally:
        await writer.aclose()
    return SyncSummary(**run.totals(), errors=tuple(run.errors))
