"""A process's side of the shared budget over a real redis-server: waiting, hand-offs, failure."""

from __future__ import annotations

import asyncio
import itertools

import pytest
from redis.asyncio import Redis

from tests.helpers import wait_until
from tests.servers import RedisServer
from twilio_conf_insights import ThrottlePolicy
from twilio_conf_insights.distributed._member import BudgetMember, BudgetUnavailableError

_accounts = (f"AC{n:032x}" for n in itertools.count(1000))


async def _members(redis: Redis, count: int, account: str, **options: object) -> list[BudgetMember]:
    members = [BudgetMember(redis, account, **options) for _ in range(count)]  # type: ignore[arg-type]
    for member in members:
        await member.start()
    return members


async def test_members_never_hold_more_than_the_fleets_limit_together(redis: Redis) -> None:
    """Three members' 60 concurrent requests have 8 leases at once, never more."""
    members = await _members(
        redis, 3, next(_accounts), max_concurrency=8, policy=ThrottlePolicy(enabled=False)
    )
    holding = peak = done = 0
    # Requests hold their leases until the fleet's limit is reached once: without it, a
    # member handing one lease from request to request could serve them all in turn.
    full = asyncio.Event()

    async def request(member: BudgetMember) -> None:
        nonlocal holding, peak, done
        grant = await member.acquire()
        holding += 1
        peak = max(peak, holding)
        if holding == 8:
            full.set()
        await full.wait()
        for _ in range(3):
            await asyncio.sleep(0)  # other requests run meanwhile
        holding -= 1
        member.release(grant, ok=True)
        done += 1

    try:
        async with asyncio.timeout(60):
            await asyncio.gather(*(request(m) for m in members for _ in range(20)))
    finally:
        for member in members:
            await member.aclose()
    assert done == 60 and peak == 8


async def test_throttles_reported_by_members_move_the_fleets_limit(redis: Redis) -> None:
    """A 429 reported through one member lowers the limit every member then sees."""
    account = next(_accounts)
    one, two = await _members(
        redis, 2, account, max_concurrency=64, policy=ThrottlePolicy(initial_limit=20)
    )
    try:
        grants = [await one.acquire() for _ in range(12)]
        for grant in grants[:-1]:
            one.release(grant)
        one.release(grants[-1], throttled=429)
        await wait_until(lambda: one.law.version == 1, "the cut is stored")
        assert one.law.limit == 11

        async def two_sees_it() -> None:
            grant = await two.acquire()  # any reply carries the newer state
            two.release(grant)

        await two_sees_it()
        assert (two.law.limit, two.law.generation) == (11, 1)
    finally:
        await one.aclose()
        await two.aclose()


async def test_a_cancelled_wait_leaves_no_lease_behind(redis: Redis) -> None:
    """A request cancelled while waiting does not keep a lease: the next one gets it."""
    (member,) = await _members(
        redis, 1, next(_accounts), max_concurrency=1, policy=ThrottlePolicy(enabled=False)
    )
    try:
        first = await member.acquire()
        waiting = asyncio.create_task(member.acquire())
        await wait_until(lambda: member.waiting == 1, "the second request waits")
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        member.release(first)
        async with asyncio.timeout(30):
            third = await member.acquire()
        assert member.in_flight == 1
        member.release(third)
    finally:
        await member.aclose()


async def test_redis_going_away_fails_every_waiter_within_the_deadline(
    redis: Redis, redis_server: RedisServer
) -> None:
    """Stopped Redis: waiting requests get BudgetUnavailableError, and so does every new one."""
    failures: list[BaseException] = []
    (member,) = await _members(
        redis,
        1,
        next(_accounts),
        max_concurrency=1,
        policy=ThrottlePolicy(enabled=False),
        call_timeout=0.5,
        on_failure=failures.append,
    )
    try:
        held = await member.acquire()
        waiters = [asyncio.create_task(member.acquire()) for _ in range(3)]
        await wait_until(lambda: member.waiting == 3, "the requests wait")
        redis_server.stop()
        # A throttle always goes to Redis (a success would hand the lease on without a
        # call): its call fails, and the member stops.
        member.release(held, throttled=429)
        async with asyncio.timeout(10):
            outcomes = await asyncio.gather(*waiters, return_exceptions=True)
        assert all(isinstance(o, BudgetUnavailableError) for o in outcomes)
        assert member.failed and len(failures) == 1
        with pytest.raises(BudgetUnavailableError):
            await member.acquire()
    finally:
        await member.aclose()


async def test_a_lease_within_the_quota_goes_to_a_request_waiting_here_without_a_call(
    redis: Redis,
) -> None:
    """Alone in the budget, a member hands an ending request's lease to its own waiting one."""
    (member,) = await _members(
        redis, 1, next(_accounts), max_concurrency=2, policy=ThrottlePolicy(enabled=False)
    )
    try:
        first, second = await member.acquire(), await member.acquire()
        waiting = asyncio.create_task(member.acquire())
        await wait_until(lambda: member.waiting == 1, "the third request waits")
        member.release(first, ok=True)
        async with asyncio.timeout(30):
            third = await waiting
        # The same lease (a call would have granted a new one), still renewed as held.
        assert third.lease == first.lease and member.in_flight == 2
        member.release(second)
        member.release(third)
    finally:
        await member.aclose()


async def test_a_member_starting_to_wait_stops_another_from_keeping_leases(redis: Redis) -> None:
    """A member holding the whole budget, with requests of its own waiting, gives a freed
    lease to a newly waiting member once it is told (not keeping it for itself)."""
    account = next(_accounts)
    greedy, newcomer = await _members(
        redis, 2, account, max_concurrency=4, policy=ThrottlePolicy(enabled=False)
    )
    try:
        held = [await greedy.acquire() for _ in range(4)]
        mine = asyncio.create_task(greedy.acquire())
        await wait_until(lambda: greedy.waiting == 1, "the greedy member's request waits")
        theirs = asyncio.create_task(newcomer.acquire())
        # Told on its channel: the greedy member holds 4, above the new floor share of 2.
        await wait_until(lambda: greedy._quota == 2, "the greedy member is told")
        greedy.release(held.pop(), ok=True)
        async with asyncio.timeout(30):
            granted = await theirs
        assert not mine.done()  # 3 held, above its share while the newcomer waits
        newcomer.release(granted)
        for grant in held:
            greedy.release(grant)
        async with asyncio.timeout(30):
            greedy.release(await mine)
    finally:
        await greedy.aclose()
        await newcomer.aclose()


@pytest.mark.parametrize("turn", [60.0, 0.0], ids=["within-its-turn", "turn-over"])
async def test_a_lease_of_the_remainder_is_kept_for_a_turn_then_goes_round(
    redis: Redis, turn: float
) -> None:
    """Two members on a limit of 3: the one granted the remainder's lease (its second) hands
    it to its own next request during its turn; once the turn is over, it gives the lease
    back and the other member, first in line, gets it."""
    account = next(_accounts)
    a, b = await _members(
        redis,
        2,
        account,
        max_concurrency=3,
        policy=ThrottlePolicy(enabled=False),
        remainder_turn=turn,
    )
    try:
        first = await a.acquire()
        b_held = [await b.acquire(), await b.acquire()]
        a_second = asyncio.create_task(a.acquire())
        await wait_until(lambda: a.waiting == 1, "a's second request waits")
        b_third = asyncio.create_task(b.acquire())
        await wait_until(lambda: b.waiting == 1, "b's third request waits")
        # b holds 2, above the floor share of 1: it gives the lease back, a (first in line)
        # gets it and holds 2, its share, one of them the remainder's.
        b.release(b_held.pop(), ok=True)
        async with asyncio.timeout(30):
            second = await a_second
        assert (a.in_flight, b.in_flight) == (2, 1)
        a_third = asyncio.create_task(a.acquire())
        await wait_until(lambda: a.waiting == 1, "a's third request waits")
        a.release(first, ok=True)
        if turn:
            async with asyncio.timeout(30):
                third = await a_third
            assert third.lease == first.lease and not b_third.done()  # kept: no call
            a.release(third)
        else:
            async with asyncio.timeout(30):
                b_held.append(await b_third)
            assert not a_third.done() and b.in_flight == 2  # gone round to b
            b.release(b_held.pop())
            async with asyncio.timeout(30):
                a.release(await a_third)
        a.release(second)
        for grant in b_held:
            b.release(grant)
    finally:
        await a.aclose()
        await b.aclose()


async def test_a_newcomer_tells_the_others_their_new_shares(redis: Redis) -> None:
    """A member holding the whole budget and making no call (no request waiting, renewals
    minutes apart) learns the new floor share and share from the newcomer's message alone."""
    account = next(_accounts)
    greedy, newcomer = await _members(
        redis, 2, account, max_concurrency=4, policy=ThrottlePolicy(enabled=False), lease_ttl=600.0
    )
    try:
        held = [await greedy.acquire() for _ in range(4)]
        assert (greedy._quota, greedy._share) == (4, 4)  # alone: the whole limit
        theirs = asyncio.create_task(newcomer.acquire())
        await wait_until(
            lambda: (greedy._quota, greedy._share) == (2, 2), "the greedy member is told"
        )
        greedy.release(held.pop(), ok=True)  # no request of its own waits: given back
        async with asyncio.timeout(30):
            newcomer.release(await theirs)
        for grant in held:
            greedy.release(grant)
    finally:
        await greedy.aclose()
        await newcomer.aclose()


@pytest.mark.parametrize(
    ("message", "told"),
    [(b"y 2 3", (2, 3)), (b"y 9 9", (4, 5)), (b"y", (0, 0)), (b"y two", (0, 0)), (b"y 1", (0, 0))],
)
async def test_a_message_lowers_the_quota_and_share_never_raises_them(
    redis: Redis, message: bytes, told: tuple[int, int]
) -> None:
    """``y FLOOR SHARE`` caps the quota and share; a bare ``y`` (a cut) or anything else
    leaves nothing to keep until the next reply."""
    member = BudgetMember(redis, next(_accounts), max_concurrency=8)
    member._quota, member._share = 4, 5
    member._told(message)
    assert (member._quota, member._share) == told
