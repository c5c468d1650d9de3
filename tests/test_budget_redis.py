"""The shared budget's Redis scripts against a real redis-server: the reference's rules, atomic."""

from __future__ import annotations

import asyncio
import itertools
import sys
import textwrap
from collections.abc import Awaitable, Callable

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from redis.asyncio import Redis

from tests.helpers import PATIENCE
from tests.servers import RedisServer
from twilio_conf_insights import ThrottlePolicy
from twilio_conf_insights.distributed._budget_redis import BudgetKeys, RedisLeases
from twilio_conf_insights.distributed._fleet import FleetLaw, Grant, LeaseTable

_accounts = (f"AC{n:032x}" for n in itertools.count(1))


def _member(
    redis: Redis,
    name: str,
    account: str,
    *,
    limit: int = 16,
    lease_ttl: float = 60.0,
    wait_ttl: float = 60.0,
    law: FleetLaw | None = None,
) -> RedisLeases:
    law = law or FleetLaw(limit, ThrottlePolicy(enabled=False))
    keys = BudgetKeys.for_account(account)
    return RedisLeases(redis, keys, name, law, lease_ttl=lease_ttl, wait_ttl=wait_ttl)


#: Steps of a run: (member, leases to ask for, leases to give back first).
steps = st.lists(
    st.tuples(st.sampled_from("abcd"), st.integers(0, 6), st.integers(0, 3)), max_size=40
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps)
def test_the_scripts_grant_exactly_what_the_reference_table_grants(
    redis_server: RedisServer, run: list[tuple[str, int, int]]
) -> None:
    """Any sequence of releases, hand-offs and acquires gives the same leases, levels,
    line, quotas and shares in Redis as in the in-memory LeaseTable (fed Redis's clock)."""

    async def compare() -> None:
        account = next(_accounts)
        async with Redis.from_url(redis_server.url) as redis:
            members = {m: _member(redis, m, account, limit=7) for m in "abcd"}
            table = LeaseTable(
                FleetLaw(7, ThrottlePolicy(enabled=False)), lease_ttl=60, wait_ttl=60
            )
            held: dict[str, list[tuple[str, str]]] = {m: [] for m in "abcd"}
            for name, ask, give_back in run:
                member = members[name]
                if give_back and held[name]:
                    ours, theirs = held[name].pop(0)
                    reply = await member.release(ours, count=ask)
                    table.release(theirs, reply.now)
                    expected = table.acquire(name, ask, reply.now) if ask else []
                else:  # asking for none leaves the line
                    reply = await member.acquire(ask)
                    expected = table.acquire(name, ask, reply.now)
                assert reply.quota == table.quota(name, reply.now)
                assert reply.share == table.share(name, reply.now)
                assert reply.in_flight == table.in_flight(reply.now)
                assert [g.level for g in reply.grants] == [g.level for g in expected]
                held[name] += zip(
                    [g.lease for g in reply.grants], [g.lease for g in expected], strict=True
                )
                line = await redis.zrange(member.keys.all[2], 0, -1)
                names = sorted(m.decode() for m in line if isinstance(m, bytes))
                assert len(names) == len(line) and names == sorted(table.waiting(reply.now))

    asyncio.run(compare())


async def test_leases_beyond_the_limit_wait_and_a_release_hands_one_on(redis: Redis) -> None:
    """Grants stop at the limit with the fleet's level; a freed lease goes to whoever's turn."""
    account = next(_accounts)
    a, b = (_member(redis, name, account, limit=4) for name in "ab")
    first = await a.acquire(3)
    second = await b.acquire(3)
    assert [g.level for g in first.grants + second.grants] == [1, 2, 3, 4]
    handed = await a.release(first.grants[0].lease, count=1)
    assert handed.grants == ()  # b waits, and a holds 2, its whole share of 4 / 2
    assert len((await b.acquire(2)).grants) == 1
    handed = await b.release(second.grants[0].lease, count=1)
    assert len(handed.grants) == 1  # a hand-off: b holds 1 of its share of 2


async def _until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Ask Redis until ``check()`` holds, with the tests' deadline (Redis has no event for it)."""
    async with asyncio.timeout(PATIENCE):
        # Leases expire inside Redis, which signals nothing: ask again shortly.
        while not await check():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


async def test_an_unrenewed_lease_expires_and_a_renewed_one_lives_on(redis: Redis) -> None:
    """A lease not renewed within lease_ttl comes back; renewing pushes the expiry out."""
    account = next(_accounts)
    kept = _member(redis, "kept", account, limit=2, lease_ttl=0.3)
    lost = _member(redis, "lost", account, limit=2, lease_ttl=0.3)
    other = _member(redis, "other", account, limit=2)
    mine = (await kept.acquire(1)).grants
    assert len((await lost.acquire(1)).grants) == 1
    got: list[Grant] = []

    async def renew_and_ask() -> bool:
        renewed = await kept.renew([g.lease for g in mine])
        assert renewed.count == 1, "the kept lease never expires while renewed"
        got.extend((await other.acquire(1)).grants)
        return bool(got)

    await _until(renew_and_ask, "the unrenewed lease came back")
    assert got[0].level == 2  # the kept lease still counts


_HOLDER = textwrap.dedent(
    """
    import asyncio, sys
    from redis.asyncio import Redis
    from twilio_conf_insights import ThrottlePolicy
    from twilio_conf_insights.distributed._budget_redis import BudgetKeys, RedisLeases
    from twilio_conf_insights.distributed._fleet import FleetLaw

    async def main(url, account):
        async with Redis.from_url(url) as redis:
            law = FleetLaw(4, ThrottlePolicy(enabled=False))
            keys = BudgetKeys.for_account(account)
            member = RedisLeases(redis, keys, "holder", law, lease_ttl=0.5, wait_ttl=60)
            leases = [g.lease for g in (await member.acquire(4)).grants]
            while True:
                renewed = await member.renew(leases)
                print("renewed", renewed.count, flush=True)
                await asyncio.sleep(0.1)

    asyncio.run(main(sys.argv[1], sys.argv[2]))
    """
)


async def test_a_killed_holders_leases_come_back_and_not_before(
    redis: Redis, redis_server: RedisServer
) -> None:
    """A live holder keeps its leases past their ttl by renewing; SIGKILLed, it loses them."""
    account = next(_accounts)
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _HOLDER, redis_server.url, account, stdout=asyncio.subprocess.PIPE
    )
    assert holder.stdout is not None
    try:
        waiter = _member(redis, "waiter", account, limit=4)
        for _ in range(12):  # 1.2 s of renewals: more than twice the 0.5 s lease
            line = await asyncio.wait_for(holder.stdout.readline(), PATIENCE)
            assert line == b"renewed 4\n"
            assert (await waiter.acquire(4)).grants == ()
        holder.kill()
        await holder.wait()
        got: list[Grant] = []

        async def all_back() -> bool:
            got.extend((await waiter.acquire(4 - len(got))).grants)
            return len(got) == 4

        await _until(all_back, "the killed holder's leases came back")
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()
    assert sorted(g.level for g in got) == [1, 2, 3, 4]


async def _stored(redis: Redis, key: str, field: str) -> int:
    value = await redis.hget(key, field)
    assert value is not None
    return int(value)


async def test_a_reported_throttle_moves_the_fleets_limit_by_the_law(redis: Redis) -> None:
    """A 429 at fleet level n stores limit n - 1; other members load it; stale reports retry."""
    account = next(_accounts)
    laws = [FleetLaw(64, ThrottlePolicy(initial_limit=20)) for _ in range(2)]
    a, b = (_member(redis, n, account, law=law) for n, law in zip("ab", laws, strict=True))
    grants = (await a.acquire(12)).grants
    assert len(grants) == 12
    last = grants[-1]
    assert laws[0].on_throttle(last.level, last.generation)
    reply = await a.release(last.lease, report=laws[0].dump())
    assert reply.count == 1 and reply.state == ""  # stored; a already knows it
    laws[0].version = reply.version
    law_key = a.keys.all[5]
    assert await _stored(redis, law_key, "limit") == 11
    # b never saw that state: its own report is refused and it gets the stored one.
    assert laws[1].on_throttle(9, 0)
    refused = await b.release("", report=laws[1].dump())
    assert refused.count == 0 and refused.version == 1
    laws[1].load(refused.version, refused.state)
    assert (laws[1].limit, laws[1].generation) == (11, 1)
    # Applied again to the stored state: the same burst (generation 0), a lower level.
    assert laws[1].on_throttle(9, 0)
    stored = await b.release("", report=laws[1].dump())
    assert stored.count == 1 and stored.version == 2
    # Refined towards 8, but a burst never cuts below its floor: half the limit of 20.
    assert await _stored(redis, law_key, "limit") == 10
    assert await _stored(redis, law_key, "generation") == 1  # one burst, one decrease
    assert len((await b.acquire(5)).grants) == 0  # 11 held, the fleet's limit is 10


async def test_three_greedy_members_share_the_budget_evenly(redis: Redis) -> None:
    """Members that always want more end up holding 6, 5 and 5 of 16 (ceil and floor share)."""
    account = next(_accounts)
    members = {n: _member(redis, n, account, limit=16) for n in "abc"}
    held: dict[str, list[str]] = {n: [] for n in members}
    for name, member in members.items():
        held[name] += [g.lease for g in (await member.acquire(32)).grants]
    for _ in range(30):
        for name, member in members.items():
            lease = held[name].pop(0) if held[name] else ""
            reply = await member.release(lease, count=32)
            held[name] += [g.lease for g in reply.grants]
            for other, leases in held.items():  # the woken members ask
                if other != name:
                    leases += [g.lease for g in (await members[other].acquire(32)).grants]
    assert sorted(len(leases) for leases in held.values()) == [5, 5, 6]


async def test_a_freed_lease_wakes_the_next_member_in_line(redis: Redis) -> None:
    """A release that leaves a lease free publishes on the waiting member's own channel."""
    account = next(_accounts)
    a, b = (_member(redis, n, account, limit=2) for n in "ab")
    lease = (await a.acquire(2)).grants[0].lease
    async with redis.pubsub() as pubsub:
        await pubsub.subscribe(b.keys.wake_channel("b"))
        subscribed = await pubsub.get_message(timeout=5)
        assert subscribed is not None and subscribed["type"] == "subscribe"
        assert (await b.acquire(1)).grants == ()
        await a.release(lease)
        message = await pubsub.get_message(timeout=5)
    assert message is not None and message["data"] == b"1"
    assert len((await b.acquire(1)).grants) == 1


async def test_keys_are_namespaced_per_account_and_expire(redis: Redis) -> None:
    """Two accounts' budgets never meet; a renewal gives every key an expiry."""
    one, two = next(_accounts), next(_accounts)
    a = _member(redis, "a", one, limit=2)
    b = _member(redis, "a", two, limit=2)
    assert len((await a.acquire(2)).grants) == 2
    assert len((await b.acquire(2)).grants) == 2
    await a.renew([])
    ttl = await redis.pttl(a.keys.all[0])
    assert 0 < ttl <= 3_600_000
    assert all(key.startswith(f"twilio-conf-insights:budget:{{{one}}}:") for key in a.keys.all)
    assert await redis.hget(a.keys.all[5], "state") is None  # no report yet: nothing stored
