"""One process's side of a shared budget: its waiting requests, hand-offs, wakes, renewals.

A :class:`BudgetMember` turns the scripts of :mod:`._budget_redis` into slots for the
requests of one process:

* requests that want a lease wait in a local queue; one ``acquire`` at a time asks Redis
  for as many leases as are wanted;
* a request that ends while another request here waits hands its lease straight to it,
  without a call, while this process holds no more than its quota (each reply's
  :attr:`~._budget_redis.Reply.quota`: what the budget would grant it back anyway);
  beyond its quota it gives the lease back and, in the same round trip, takes leases for
  the requests still waiting here (a hand-off through Redis). A grant that takes it above
  its quota (a lease of the remainder) starts its turn at the remainder: for
  ``remainder_turn`` seconds it keeps up to its share (each reply's
  :attr:`~._budget_redis.Reply.share`). A ``y FLOOR SHARE`` on its channel (another
  member started waiting) lowers its quota and share to those; a ``y`` alone (a cut of the
  limit) stops the keeping until the next reply;
* a member that was refused stands in line and asks again only when Redis wakes it (a
  message on its own channel when a lease came free) or, should that message be lost,
  after ``poll_interval`` (twice that after a poll that was refused);
* every ``lease_ttl / 3`` it renews the leases it holds, so they expire only if it dies;
* the outcome of each request moves the fleet's law (:class:`~._fleet.FleetLaw`): outcomes
  that may change the law's state wait for the next release call, which applies them all
  and stores the state by compare-and-set (one such call at a time per member; if another
  member stored first, the batch is applied again to its state).

Every Redis call has a deadline (``call_timeout``). A call that fails or misses it raises
:class:`BudgetUnavailableError` to whoever waits, and the member stops: its owner
(:class:`~.SharedBudget`) falls back to a limiter of its own and starts a new member when
Redis answers again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from redis.asyncio import Redis
from redis.exceptions import RedisError

from .._throttle import ThrottlePolicy
from ._budget_redis import BudgetKeys, RedisLeases, Reply
from ._fleet import REMAINDER_TURN, FleetLaw, Grant, keeps, kept_level

__all__ = ["BudgetMember", "BudgetUnavailableError", "member_name"]

_log = logging.getLogger("twilio_conf_insights.budget")
_T = TypeVar("_T")

#: Attempts at storing one report before it is dropped (the law tolerates a lost report;
#: it cannot tolerate a member stuck retrying while others keep storing).
_REPORT_ATTEMPTS = 4


class BudgetUnavailableError(Exception):
    """Redis did not answer the budget in time (or at all)."""


def member_name() -> str:
    """A name for this process in the budget: unique, and saying nothing secret."""
    return f"{os.getpid()}-{uuid.uuid4().hex[:12]}"


class BudgetMember:
    """Leases of one account's budget for the requests of this process; see the module docs."""

    def __init__(
        self,
        redis: Redis,
        account_sid: str,
        *,
        max_concurrency: int,
        policy: ThrottlePolicy | None = None,
        lease_ttl: float = 3.0,
        poll_interval: float = 0.1,
        call_timeout: float = 0.5,
        on_failure: Callable[[BaseException], None] | None = None,
        on_limit: Callable[[int, int], None] | None = None,
        remainder_turn: float = REMAINDER_TURN,
    ) -> None:
        self._redis = redis
        self._offset = 0.0  # Redis's clock minus ours
        self.law = FleetLaw(max_concurrency, policy, self._clock)
        self.leases = RedisLeases(
            redis,
            BudgetKeys.for_account(account_sid),
            member_name(),
            self.law,
            lease_ttl=lease_ttl,
            wait_ttl=max(4 * poll_interval, 1.0),
        )
        self._lease_ttl = lease_ttl
        self._poll_interval = poll_interval
        self._call_timeout = call_timeout
        self._on_failure = on_failure
        self._on_limit = on_limit
        self._limit_seen = self.law.limit
        #: Leases this process may keep for its own waiting requests (the last reply's), and
        #: the most it may keep during its turn at the remainder, which ends at _turn_ends.
        self._quota = 0
        self._share = 0
        self._remainder_turn = remainder_turn
        self._turn_ends = 0.0
        #: The fleet's leases in flight, as the last reply said.
        self._fleet_in_flight = 0
        self._waiters: deque[asyncio.Future[Grant]] = deque()
        #: Leases asked for in calls not answered yet.
        self._asked = 0
        self._asking = False
        self._ask_again = False
        self._ask_again_turn = False
        #: How long a refused member waits for a wake before asking again (it grows while
        #: polls are refused, up to twice ``poll_interval``; a grant resets it).
        self._poll_delay = poll_interval
        #: Whether this member stands in the fleet's line (its last ask was refused).
        self._in_line = False
        self._poll: asyncio.TimerHandle | None = None
        #: Leases held by this process's requests (renewed while they are).
        self._held: set[str] = set()
        #: Outcomes that may move the law, not stored yet: (grant, ok, throttled, pause).
        self._outcomes: list[tuple[Grant, bool, int | None, float]] = []
        #: Whether a call carrying a report is on its way (one at a time).
        self._reporting = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._failure: BaseException | None = None
        self._closed = False

    @property
    def failed(self) -> bool:
        """Whether a Redis call failed: this member grants nothing more."""
        return self._failure is not None

    @property
    def in_flight(self) -> int:
        """Leases this process holds now."""
        return len(self._held)

    @property
    def waiting(self) -> int:
        """Requests of this process waiting for a lease."""
        return len(self._waiters)

    def _clock(self) -> float:
        return time.monotonic() + self._offset

    async def start(self) -> None:
        """Check that Redis answers (raises :class:`BudgetUnavailableError`), then run."""
        reply = await self._call(self.leases.renew([]))
        self._sync(reply)
        self._spawn(self._renewing())
        self._spawn(self._listening())

    async def acquire(self) -> Grant:
        """Wait for a lease; raises :class:`BudgetUnavailableError` if Redis fails meanwhile."""
        if self._failure is not None:
            raise BudgetUnavailableError("the shared budget is unavailable") from self._failure
        waiter: asyncio.Future[Grant] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        self._pump()
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self.release(waiter.result())  # granted as we were cancelled: give it back
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    def release(
        self, grant: Grant, *, ok: bool = False, throttled: int | None = None, pause: float = 0.0
    ) -> None:
        """Give ``grant`` back with its request's outcome, in the background.

        ``ok``: a 2xx; ``throttled``: 429 or 503; neither: nothing learned (another status,
        a transport error). ``pause``: the response's ``Retry-After``, if any.
        """
        if self._failure is not None or self._closed:
            self._held.discard(grant.lease)
            return  # the lease expires by itself
        if throttled is not None or (ok and self.law.may_grow(grant.level)):
            self._outcomes.append((grant, ok, throttled, pause))
        if throttled is None and self._keep(grant):
            if self._outcomes and not self._reporting:
                self._reporting = True
                self._spawn(self._release("", True))
            return
        self._held.discard(grant.lease)
        carry = bool(self._outcomes) and not self._reporting
        self._reporting |= carry
        self._spawn(self._release(grant.lease, carry))

    def _keep(self, grant: Grant) -> bool:
        """Hand ``grant``'s lease to a request waiting here, if within the quota (or turn)."""
        if grant.lease not in self._held or not keeps(
            held=len(self._held),
            quota=self._quota,
            share=self._share,
            in_turn=time.monotonic() < self._turn_ends,
        ):
            return False
        while self._waiters and self._waiters[0].done():
            self._waiters.popleft()  # cancelled meanwhile
        if not self._waiters:
            return False
        # The fleet's total (the swap leaves it as is), in the generation known now.
        level = kept_level(
            fleet_in_flight=self._fleet_in_flight, limit=self.law.limit, quota=self._quota
        )
        self._waiters.popleft().set_result(Grant(grant.lease, level, self.law.generation))
        if not self._waiters:
            self._pump()  # served here: out of the fleet's line, if it stood in it
        return True

    async def aclose(self) -> None:
        """Stop: give back nothing more (the leases still held expire), end the tasks."""
        self._closed = True
        self._fail(BudgetUnavailableError("the shared budget was closed"), log=False)
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- asking for leases -------------------------------------------------------------

    def _wanted(self) -> int:
        return max(0, len(self._waiters) - self._asked)

    def _pump(self, *, turn: bool = False) -> None:
        """Ask Redis for the leases wanted, unless an ask is already on its way.

        ``turn``: a wake or the poll asks. A member standing in line asks only then: its
        place is kept, and an ask for a request that came meanwhile would be refused (a
        call for nothing, of which six workers on a cap of 16 made two per request).
        """
        if self._failure is not None:
            return
        if self._asking:
            self._ask_again = True
            self._ask_again_turn |= turn
            return
        wanted = self._wanted()
        if wanted and self._in_line and not turn:
            self._schedule_poll()
            return
        # Nothing wanted while standing in line (the requests were served by leases kept
        # here): an ask for none leaves the line, which would otherwise hold back others'
        # turns until it expires.
        if wanted or (self._in_line and not self._waiters):
            self._asking = True
            self._spawn(self._ask(wanted))

    async def _ask(self, count: int) -> None:
        self._asked += count
        try:
            reply = await self._call(self.leases.acquire(count))
        finally:
            self._asked -= count
            self._asking = False
        self._in_line = len(reply.grants) < count
        self._granted(reply)
        if self._ask_again:
            turn, self._ask_again, self._ask_again_turn = self._ask_again_turn, False, False
            self._pump(turn=turn)

    def _granted(self, reply: Reply) -> None:
        self._sync(reply)
        if reply.grants:
            self._poll_delay = self._poll_interval
        if len(self._held) <= self._quota < len(self._held) + len(reply.grants):
            # Above its quota by these grants: a lease of the remainder, and a turn with it.
            self._turn_ends = time.monotonic() + self._remainder_turn
        for grant in reply.grants:
            while self._waiters and self._waiters[0].done():
                self._waiters.popleft()  # cancelled meanwhile
            if self._waiters:
                self._held.add(grant.lease)
                self._waiters.popleft().set_result(grant)
            else:  # nobody here wants it any more
                self._spawn(self._release(grant.lease, False))
        if self._wanted():
            self._schedule_poll()

    def _schedule_poll(self) -> None:
        """Refused: a wake comes when a lease is free; the poll is in case it is lost."""
        if self._poll is None:
            self._poll = asyncio.get_running_loop().call_later(self._poll_delay, self._polled)

    def _polled(self) -> None:
        self._poll = None
        # Each poll without a grant meanwhile waits longer; within the line's wait_ttl.
        self._poll_delay = min(2 * self._poll_delay, 2 * self._poll_interval)
        self._pump(turn=True)

    # -- giving leases back and reporting ------------------------------------------------

    async def _release(self, lease: str, carry: bool) -> None:
        """Give ``lease`` back; ``carry``: with the outcomes waiting to move the law."""
        if not carry:
            await self._give_back(lease, None)
            return
        try:
            await self._report(lease)
        finally:
            self._reporting = False
        if self._outcomes and self._failure is None and not self._reporting:
            self._reporting = True  # outcomes that came meanwhile: their own call
            self._spawn(self._release("", True))

    async def _report(self, lease: str) -> None:
        """Apply the waiting outcomes to the law, store the state by compare-and-set.

        One such call at a time: outcomes that come meanwhile wait for the next, so a report
        never queues behind another and a batch costs one round trip. If another member
        stored first, the reply brings its state; the batch is applied again to that.
        """
        batch, self._outcomes = self._outcomes, []
        for _ in range(_REPORT_ATTEMPTS):
            changed = False
            for grant, ok, throttled, pause in batch:
                if ok:
                    changed |= self.law.on_success(grant.level)
                elif throttled is not None:
                    level = grant.level if throttled == 429 else None
                    changed |= self.law.on_throttle(level, grant.generation, pause or None)
            self._limit_check()
            if not changed:
                break
            if (await self._give_back(lease, self.law.dump())).count:
                return
            lease = ""  # given back; only the report is left to store
        if lease:
            await self._give_back(lease, None)

    async def _give_back(self, lease: str, report: str | None) -> Reply:
        """One release call: the lease, the report, and leases for whoever waits here."""
        count = self._wanted()
        self._asked += count
        try:
            reply = await self._call(self.leases.release(lease, count=count, report=report))
        finally:
            self._asked -= count
        if report is not None and reply.count:
            self.law.version = reply.version
        if count:
            self._in_line = len(reply.grants) < count
        self._granted(reply)
        return reply

    def _limit_check(self) -> None:
        """Tell ``on_limit`` when the fleet's limit, as this member knows it, moved."""
        limit = self.law.limit
        if limit != self._limit_seen:
            before, self._limit_seen = self._limit_seen, limit
            if limit < before:
                self._quota = self._share = 0  # a cut: keep nothing until a reply says how much
            if self._on_limit is not None:
                self._on_limit(before, limit)

    def _sync(self, reply: Reply) -> None:
        """Redis's clock, and the law's state when Redis holds a newer one."""
        self._offset = reply.now - time.monotonic()
        if reply.version != self.law.version:
            if reply.state:
                try:
                    self.law.load(reply.version, reply.state)
                except ValueError as error:  # not ours: keep our replica, overwrite it later
                    _log.warning("shared budget: ignoring a stored law state: %s", error)
            else:  # Redis lost the state (restarted empty): ours is stored by the next report
                self.law.version = reply.version
        self._limit_check()
        self._quota = reply.quota  # as of the state the reply brought
        self._share = reply.share
        self._fleet_in_flight = reply.in_flight

    # -- background ----------------------------------------------------------------------

    async def _renewing(self) -> None:
        while True:
            await asyncio.sleep(self._lease_ttl / 3)
            self._sync(await self._call(self.leases.renew(sorted(self._held))))

    async def _listening(self) -> None:
        """Wake on this member's channel; a lost connection only costs polling meanwhile."""
        channel = self.leases.keys.wake_channel(self.leases.member)
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(channel)
                    async for message in pubsub.listen():
                        if message.get("type") != "message":
                            continue
                        data = message.get("data")
                        if isinstance(data, bytes) and data.startswith(b"y"):
                            self._told(data)
                        else:
                            self._pump(turn=True)
            except (RedisError, OSError) as error:
                _log.debug("shared budget: wake channel lost: %s", error)
            await asyncio.sleep(self._poll_interval)

    def _told(self, message: bytes) -> None:
        """Another member's news: keep to what it says until the next reply.

        ``y FLOOR SHARE``: a member started waiting; these are the new quota and share.
        ``y`` alone (the limit was cut), or anything else: keep nothing.
        """
        floor = share = 0
        with contextlib.suppress(ValueError):
            floor, share = (int(field) for field in message.split()[1:])
        self._quota = min(self._quota, floor)
        self._share = min(self._share, share)

    async def _call(self, call: Awaitable[_T]) -> _T:
        """``call`` within the deadline; a failure stops this member."""
        try:
            async with asyncio.timeout(self._call_timeout):
                return await call
        except (RedisError, OSError, TimeoutError) as error:
            self._fail(error)
            raise BudgetUnavailableError(f"shared budget: Redis failed: {error!r}") from None

    def _fail(self, error: BaseException, *, log: bool = True) -> None:
        if self._failure is not None:
            return
        self._failure = error
        if self._poll is not None:
            self._poll.cancel()
        failure = BudgetUnavailableError("the shared budget is unavailable")
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(failure)
        if log:
            _log.warning("shared budget unavailable, using this process's own limiter: %r", error)
        if self._on_failure is not None:
            self._on_failure(error)

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._finished)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        error = task.exception()  # retrieved: a failed call already stopped this member
        if error is not None and not isinstance(error, BudgetUnavailableError):
            _log.error("shared budget: %r", error)
