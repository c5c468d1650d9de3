"""``SharedBudget``: one Twilio account's concurrency budget, shared through Redis.

A :class:`~twilio_conf_insights.Limiter` for clients in many processes (web-service
replicas, sync workers) that use one account: ``InsightsClient(..., limiter=budget)`` in
each, all pointed at one Redis. The fleet then finds Twilio's cap once, with the law one
client uses (applied to the fleet's total), and shares it fairly; see :mod:`._fleet` for
the rules and :mod:`._member` for how a process takes part.

When Redis fails (a call misses its deadline, the connection is refused), the budget falls
back at once to a limiter of its own (an :class:`~twilio_conf_insights.AdaptiveLimiter`
with the same ``max_concurrency`` and ``throttle``, what the client would have without a
shared budget), and rejoins the fleet when Redis answers again. No request waits on Redis
longer than ``call_timeout`` per call.
"""

from __future__ import annotations

import asyncio
import logging
import time

import yarl
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from .. import _testmode
from .._closing import ClosedOnExit
from .._errors import InvalidArgumentError
from .._limiter import (
    SUCCEEDED,
    AdaptiveLimiter,
    LimiterListener,
    LimiterSlot,
    LimiterStats,
    SlotOutcome,
    Throttled,
)
from .._throttle import ThrottlePolicy
from .._validation import positive_int, positive_number
from ._fleet import Grant, fleet_policy
from ._member import BudgetMember, BudgetUnavailableError

__all__ = ["SharedBudget"]

_log = logging.getLogger("twilio_conf_insights.budget")

#: The most the fleet's limit grows to unless told otherwise: far above any cap Twilio is
#: known to set, so that it is the law, not this number, that finds the cap.
DEFAULT_FLEET_MAX = 256


class _LeaseSlot:
    """A slot on a lease of the shared budget."""

    __slots__ = ("_budget", "_member", "grant")

    def __init__(self, budget: SharedBudget, member: BudgetMember, grant: Grant) -> None:
        self._budget: SharedBudget | None = budget
        self._member = member
        self.grant = grant

    def release(self, outcome: SlotOutcome) -> None:
        """Give the lease back with ``outcome`` (in the background); idempotent."""
        budget, self._budget = self._budget, None
        if budget is not None:
            budget._lease_released(self._member, self.grant, outcome)

    def __repr__(self) -> str:
        state = "released" if self._budget is None else "held"
        return f"<shared budget slot level={self.grant.level} {state}>"


class SharedBudget(ClosedOnExit):
    """One account's concurrency budget, shared by every client given one (see the module).

    ``redis_url``: the Redis all members share (``redis://``, ``rediss://`` or ``unix://``;
    a password in it is kept out of every repr and log line). ``account_sid``: the account
    whose cap is shared (one budget per account). ``max_concurrency``: the most requests
    of this process in flight (and its connection pool); ``fleet_max_concurrency``: the
    most the fleet's limit grows to; ``throttle``: the law's settings, for the fleet and for
    the fallback alike. ``lease_ttl``: how long a dead member's leases stay counted;
    ``call_timeout``: the deadline of every Redis call; ``rejoin_interval``: how often to
    try Redis again after a failure; ``poll_interval``: how often a refused member asks
    again if no wake comes.

    Close it with :meth:`aclose` (or ``async with``); its leases then expire by themselves.
    """

    def __init__(
        self,
        redis_url: str,
        *,
        account_sid: str,
        max_concurrency: int = 32,
        fleet_max_concurrency: int = DEFAULT_FLEET_MAX,
        throttle: ThrottlePolicy | None = None,
        lease_ttl: float = 3.0,
        call_timeout: float = 0.5,
        rejoin_interval: float = 0.5,
        poll_interval: float = 0.1,
    ) -> None:
        url = yarl.URL(redis_url)
        if url.scheme not in ("redis", "rediss", "unix"):
            raise InvalidArgumentError(
                f"SharedBudget needs a redis:// URL, got {str(url.with_password(None))!r}"
            )
        if not (
            isinstance(account_sid, str)
            and len(account_sid) == 34
            and account_sid.startswith("AC")
            and all(c in "0123456789abcdef" for c in account_sid[2:])
        ):
            raise InvalidArgumentError("account_sid must be AC followed by 32 hex digits")
        positive_int(max_concurrency, "max_concurrency")
        positive_int(fleet_max_concurrency, "fleet_max_concurrency")
        for value, name in (
            (lease_ttl, "lease_ttl"),
            (call_timeout, "call_timeout"),
            (rejoin_interval, "rejoin_interval"),
            (poll_interval, "poll_interval"),
        ):
            positive_number(value, name)
        self.account_sid = account_sid
        self._where = str(url.with_password(None))
        self._redis = Redis.from_url(
            redis_url,
            socket_timeout=call_timeout,
            socket_connect_timeout=call_timeout,
            retry=Retry(NoBackoff(), 0),  # the fallback is the retry
        )
        self._max = max_concurrency
        self._fleet_max = fleet_max_concurrency
        self._policy = throttle if throttle is not None else ThrottlePolicy()
        self._fleet_policy = fleet_policy(throttle)
        self._lease_ttl = lease_ttl
        self._call_timeout = call_timeout
        self._rejoin_interval = rejoin_interval
        self._poll_interval = poll_interval
        #: This process's own limiter: the fallback while Redis is away.
        self._local = AdaptiveLimiter(max_concurrency, throttle=self._policy)
        self._member: BudgetMember | None = None
        self._joining: asyncio.Task[None] | None = None
        self._tried = False  # whether joining was attempted (the first request does)
        self._rejoin: asyncio.Task[None] | None = None
        self._in_flight = 0  # leases held by this process's requests
        #: At most max_concurrency leases held by this process (its connection pool).
        self._room = asyncio.Semaphore(max_concurrency)
        self._waiting = 0
        self._background: set[asyncio.Task[None]] = set()
        self._pause_until = 0.0
        self._listeners: list[LimiterListener] = []
        self._local.add_listener(self._forward)
        self._throttle_events = 0
        self._fallbacks = 0
        self._closed = False

    def __repr__(self) -> str:
        mode = "shared" if self.joined else "own limiter"
        return f"<SharedBudget {self.account_sid} at {self._where}: {mode}>"

    async def __aenter__(self) -> SharedBudget:
        return self

    # -- the Limiter protocol --------------------------------------------------------------

    @property
    def max_concurrency(self) -> int:
        """The most requests of this process in flight at once (its connection pool)."""
        return self._max

    @property
    def joined(self) -> bool:
        """Whether requests take leases of the shared budget now (else: the fallback)."""
        member = self._member
        return member is not None and not member.failed

    @property
    def fallbacks(self) -> int:
        """Times Redis failed and this process fell back to its own limiter."""
        return self._fallbacks

    def try_acquire(self) -> LimiterSlot | None:
        """The fallback's slot at once when Redis is away; leases always need a call."""
        if not self._tried and not self._closed:
            self._join()
        if self.joined or self._joining is not None:
            return None
        return self._local.try_acquire()

    async def acquire(self) -> LimiterSlot:
        """A lease of the shared budget, or the fallback's slot while Redis is away."""
        if not self._tried and not self._closed:
            self._join()
        if self._joining is not None:
            await asyncio.shield(self._joining)  # the first call: one attempt at joining
        await self._wait_for_pause()
        member = self._member
        if member is not None and not member.failed:
            self._waiting += 1
            try:
                await self._room.acquire()
                try:
                    grant = await member.acquire()
                except BaseException:
                    self._room.release()
                    raise
                self._in_flight += 1
                return _LeaseSlot(self, member, grant)
            except BudgetUnavailableError:
                pass  # fell back meanwhile: the fallback's slot, below
            finally:
                self._waiting -= 1
        return await self._local.acquire()

    async def _wait_for_pause(self) -> None:
        """Wait out a server-sent pause of this process (skipped in the test mode, served)."""
        sleep = _testmode.sleep(asyncio.sleep)
        served = 0.0
        while (until := self._pause_until) > served and (remaining := until - time.monotonic()) > 0:
            await sleep(remaining)
            served = until

    def stats(self) -> LimiterStats:
        """The fleet's limit as this process last saw it, and this process's requests."""
        if not self.joined:
            local = self._local.stats()
            return LimiterStats(
                limit=local.limit,
                max_concurrency=self._max,
                in_flight=local.in_flight + self._in_flight,
                waiting=local.waiting + self._waiting,
                throttle_events=local.throttle_events + self._throttle_events,
                paused_for=local.paused_for,
                ceiling=local.ceiling,
            )
        assert self._member is not None
        law = self._member.law
        local = self._local.stats()
        return LimiterStats(
            limit=law.limit,
            max_concurrency=self._max,
            in_flight=self._in_flight + local.in_flight,
            waiting=self._waiting,
            throttle_events=self._throttle_events + local.throttle_events,
            paused_for=max(0.0, self._pause_until - time.monotonic()),
            ceiling=law.ceiling,
        )

    def add_listener(self, listener: LimiterListener) -> None:
        """Call ``listener(stats, reason)`` when the limit (the fleet's or the fallback's) moves."""
        self._listeners.append(listener)

    def remove_listener(self, listener: LimiterListener) -> None:
        """Stop calling ``listener``; one never added is ignored."""
        if listener in self._listeners:
            self._listeners.remove(listener)

    async def aclose(self) -> None:
        """Leave the budget (leases still held expire within ``lease_ttl``); close Redis."""
        self._closed = True
        for task in (self._joining, self._rejoin):
            if task is not None:
                task.cancel()
        await asyncio.gather(
            *(t for t in (self._joining, self._rejoin) if t is not None), return_exceptions=True
        )
        if self._member is not None:
            await self._member.aclose()
        await asyncio.gather(*self._background, return_exceptions=True)
        await self._redis.aclose()

    # -- joining, falling back, rejoining --------------------------------------------------

    def _join(self) -> None:
        # The first request joins; after a failure only the rejoining loop tries again.
        self._tried = True
        self._joining = asyncio.ensure_future(self._start_member())

    async def _start_member(self) -> None:
        try:
            member = BudgetMember(
                self._redis,
                self.account_sid,
                max_concurrency=self._fleet_max,
                policy=self._fleet_policy,
                lease_ttl=self._lease_ttl,
                poll_interval=self._poll_interval,
                call_timeout=self._call_timeout,
                on_failure=self._failed,
                on_limit=self._limit_moved,
            )
            try:
                await member.start()
            except BudgetUnavailableError:  # the member's failure already fell back
                await member.aclose()
                return
            self._member = member
            _log.info("shared budget joined: %s", self)
        finally:
            self._joining = None

    def _failed(self, error: BaseException) -> None:
        """The member's Redis call failed: fall back now, rejoin later."""
        member = self._member
        if member is not None:
            closing = asyncio.ensure_future(member.aclose())
            self._background.add(closing)
            closing.add_done_callback(self._background.discard)
        self._fall_back()

    def _fall_back(self) -> None:
        if self._closed:
            return
        self._fallbacks += 1
        _log.warning("shared budget: Redis unavailable, using this process's own limiter")
        if self._rejoin is None or self._rejoin.done():
            self._rejoin = asyncio.ensure_future(self._rejoining())

    async def _rejoining(self) -> None:
        while not self._closed:
            await asyncio.sleep(self._rejoin_interval)
            try:
                async with asyncio.timeout(self._call_timeout):
                    # Connections opened before the failure are to the old server (or a
                    # hung one): every call after rejoining starts on a fresh one.
                    await self._redis.connection_pool.disconnect()
                    await self._redis.ping()
            except Exception:  # any failure: still away, try again later
                continue
            self._join()
            assert self._joining is not None
            await self._joining
            if self.joined:
                return

    # -- leases coming back ------------------------------------------------------------------

    def _lease_released(self, member: BudgetMember, grant: Grant, outcome: SlotOutcome) -> None:
        self._in_flight -= 1
        self._room.release()
        if outcome is SUCCEEDED:
            member.release(grant, ok=True)
        elif isinstance(outcome, Throttled):
            pause = outcome.retry_after or 0.0
            level = grant.level if outcome.concurrency else None
            if pause and self._policy.pause_on_retry_after and (level is None or level <= 1):
                # Where a lower concurrency cannot be the answer (the law's rule): pause
                # this process's new requests for the server's wait.
                self._pause_until = max(self._pause_until, time.monotonic() + pause)
            member.release(grant, throttled=outcome.status, pause=pause)
        else:
            member.release(grant)

    def _limit_moved(self, before: int, after: int) -> None:
        """The fleet's limit, as this process sees it, moved (its own report, or another's)."""
        if after < before:
            self._throttle_events += 1
        if self._listeners:
            self._notify("increase" if after > before else "throttle")

    def _forward(self, stats: LimiterStats, reason: str) -> None:
        if not self.joined:
            self._notify(reason)

    def _notify(self, reason: str) -> None:
        stats = self.stats()
        for listener in tuple(self._listeners):
            listener(stats, reason)
