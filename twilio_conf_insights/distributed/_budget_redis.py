"""A fleet's concurrency budget kept in Redis: a counting semaphore with expiring leases.

The rules are :mod:`._fleet`'s (its :class:`~._fleet.LeaseTable` is the reference these
scripts are tested against); here each operation is one Lua script, so it is atomic
however many members call at once:

* **acquire**: give back expired leases, then grant up to ``count`` leases while the
  fleet has fewer in flight than its limit and the member's turn allows (fairness);
  a member refused stands in line; ``count`` 0 takes the member out of the line (its
  requests were served otherwise).
* **release**: give a lease back, store the member's new law state if the stored one is
  still the version it started from (compare-and-set), take up to ``count`` leases
  for the member's waiting requests (a hand-off: one round trip per request), and wake
  the next members in line, one per free lease, by ``PUBLISH`` on their own channels.
* **renew**: push the expiry of the member's live leases (its heartbeat); a member that
  stops renewing, because it died, loses its leases within ``lease_ttl``.

Every reply also carries the member's quota (``_fleet.quota``: the leases it may keep
for its own waiting requests without a call), its share (``_fleet.share``: the most it may
keep during its turn at the remainder) and the fleet's leases in flight (the level of a
request on a kept lease). A member that starts waiting tells those above the new floor
share its new quota and share (``y FLOOR SHARE`` on their channels), and a report that
cuts the limit tells every other holder to keep nothing until its next call (``y``).

Every reply carries Redis's clock (milliseconds; the leases' expiries are in it, and the
members' law uses it, so machines' clocks need not agree) and, when the stored law state
is newer than the member's, that state. Keys live under
``twilio-conf-insights:budget:{ACCOUNT_SID}:`` (the braces keep one account's keys in one
Redis Cluster slot) and expire after an hour without a renewal.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import attrs
from redis.asyncio import Redis

from ._fleet import FleetLaw, Grant

__all__ = ["BudgetKeys", "Reply", "RedisLeases"]

#: Keys of a budget nobody renewed for this long are removed by Redis.
KEY_TTL_MS = 3_600_000

_PRELUDE = """
local LEASES, HELD, WAITING, ASKED = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local SERIAL, LAW = KEYS[5], KEYS[6]
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)

local function held_by(member)
  return tonumber(redis.call('HGET', HELD, member)) or 0
end

local function drop(member)
  if redis.call('HINCRBY', HELD, member, -1) <= 0 then
    redis.call('HDEL', HELD, member)
  end
end

-- Expired leases come back; members that stopped asking stop waiting.
local function expire(wait_ttl)
  for _, lease in ipairs(redis.call('ZRANGEBYSCORE', LEASES, '-inf', now)) do
    redis.call('ZREM', LEASES, lease)
    drop(string.match(lease, '^(.*)|'))
  end
  for _, member in ipairs(redis.call('ZRANGEBYSCORE', ASKED, '-inf', now - wait_ttl)) do
    redis.call('ZREM', WAITING, member)
    redis.call('ZREM', ASKED, member)
  end
end

local function law_field(name, default)
  return tonumber(redis.call('HGET', LAW, name)) or default
end

-- The waiting members in line: the least-served first, then the longest waiting.
local function line()
  local entries = redis.call('ZRANGE', WAITING, 0, -1, 'WITHSCORES')
  local members = {}
  for i = 1, #entries, 2 do
    members[#members + 1] = {entries[i], held_by(entries[i]), tonumber(entries[i + 1])}
  end
  table.sort(members, function(a, b)
    if a[2] ~= b[2] then return a[2] < b[2] end
    if a[3] ~= b[3] then return a[3] < b[3] end
    return a[1] < b[1]
  end)
  return members
end

-- _fleet.admits, with what it needs gathered from the keys.
local function admits(member, limit)
  local free = limit - redis.call('ZCARD', LEASES)
  if free <= 0 then return false end
  local held = held_by(member)
  local mine = tonumber(redis.call('ZSCORE', WAITING, member))
  local contenders = redis.call('HLEN', HELD)
  if held == 0 then contenders = contenders + 1 end
  local others, ahead = 0, 0
  for _, entry in ipairs(line()) do
    local other, other_held, since = entry[1], entry[2], entry[3]
    if other ~= member then
      others = others + 1
      if other_held == 0 then contenders = contenders + 1 end
      if other_held < held or (other_held == held and (mine == nil or since < mine
          or (since == mine and other < member))) then
        ahead = ahead + 1
      end
    end
  end
  if others == 0 then return true end
  if held >= math.ceil(limit / contenders) then return false end
  return held < math.floor(limit / contenders) or ahead < free
end

-- The members holding or waiting (_fleet: contenders), and whether one besides member waits.
local function contenders_of(member)
  local contenders = redis.call('HLEN', HELD)
  if held_by(member) == 0 then contenders = contenders + 1 end
  local others = false
  for _, other in ipairs(redis.call('ZRANGE', WAITING, 0, -1)) do
    if other ~= member then
      others = true
      if held_by(other) == 0 then contenders = contenders + 1 end
    end
  end
  return contenders, others
end

-- _fleet.quota and _fleet.share: the leases member may keep for its own waiting requests,
-- and the most it may keep during its turn at the remainder.
local function quota(member, limit)
  local in_flight, held = redis.call('ZCARD', LEASES), held_by(member)
  if in_flight > limit then
    local kept = math.max(0, held - (in_flight - limit))
    return kept, kept
  end
  local contenders, others = contenders_of(member)
  if not others then return limit, limit end
  return math.floor(limit / contenders), math.ceil(limit / contenders)
end

-- The end of every reply: the grants, the quota and share, the fleet's leases in flight.
local function standing(granted, member, limit)
  local kept, share = quota(member, limit)
  return {granted, kept, redis.call('ZCARD', LEASES), share}
end

-- LeaseTable.over_share: a member started waiting; those above the new floor share keep
-- no more than it (and, in their turn at the remainder, no more than the new share): told
-- on their channels, with the two.
local function tell_over_share(limit, prefix)
  local contenders = redis.call('HLEN', HELD)
  for _, other in ipairs(redis.call('ZRANGE', WAITING, 0, -1)) do
    if held_by(other) == 0 then contenders = contenders + 1 end
  end
  local floor, share = math.floor(limit / contenders), math.ceil(limit / contenders)
  local held = redis.call('HGETALL', HELD)
  for i = 1, #held, 2 do
    if tonumber(held[i + 1]) > floor then
      redis.call('PUBLISH', prefix .. held[i], string.format('y %d %d', floor, share))
    end
  end
end

-- Up to count leases for member, each with its level; a member refused stands in line.
local function grant(member, count, lease_ttl, limit, prefix)
  local granted = {}
  while #granted < 2 * count and admits(member, limit) do
    local lease = member .. '|' .. redis.call('INCR', SERIAL)
    redis.call('ZADD', LEASES, now + lease_ttl, lease)
    redis.call('HINCRBY', HELD, member, 1)
    granted[#granted + 1] = lease
    granted[#granted + 1] = redis.call('ZCARD', LEASES)
  end
  if count > 0 and #granted < 2 * count then
    local since = redis.call('ZSCORE', WAITING, member)
    local joined = not since
    if #granted > 0 or not since then since = now end
    redis.call('ZADD', WAITING, since, member)
    redis.call('ZADD', ASKED, now, member)
    if joined then tell_over_share(limit, prefix) end
  else  -- served in full, or (count 0) wanting nothing more: out of the line
    redis.call('ZREM', WAITING, member)
    redis.call('ZREM', ASKED, member)
  end
  return granted
end

-- The reply: Redis's clock, the law's version, its state if the caller's is older,
-- the fleet's generation, then the rest.
local function reply(known, count, rest)
  local version = law_field('version', 0)
  local state = ''
  if version ~= known then state = redis.call('HGET', LAW, 'state') or '' end
  local out = {now, version, state, law_field('generation', 0), count}
  for _, value in ipairs(rest) do out[#out + 1] = value end
  return out
end
"""

_ACQUIRE = (
    _PRELUDE
    + """
-- ARGV: member, count, lease_ttl, wait_ttl, initial_limit, known version,
--       wake channel prefix
local member, count = ARGV[1], tonumber(ARGV[2])
expire(tonumber(ARGV[4]))
local limit = law_field('limit', tonumber(ARGV[5]))
local granted = grant(member, count, tonumber(ARGV[3]), limit, ARGV[7])
return reply(tonumber(ARGV[6]), 0, standing(granted, member, limit))
"""
)

_RELEASE = (
    _PRELUDE
    + """
-- ARGV: member, lease ('' for none), count, lease_ttl, wait_ttl, initial_limit,
--       known version, expected version ('' for no report), state, limit, generation,
--       wake channel prefix
local member, lease, count = ARGV[1], ARGV[2], tonumber(ARGV[3])
expire(tonumber(ARGV[5]))
if lease ~= '' and redis.call('ZREM', LEASES, lease) == 1 then drop(member) end
local known, stored = tonumber(ARGV[7]), 0
if ARGV[8] ~= '' then
  if law_field('version', 0) == tonumber(ARGV[8]) then
    if tonumber(ARGV[10]) < law_field('limit', tonumber(ARGV[6])) then
      -- A cut: every member stops keeping leases until its next call brings its quota.
      for _, other in ipairs(redis.call('HKEYS', HELD)) do
        if other ~= member then redis.call('PUBLISH', ARGV[12] .. other, 'y') end
      end
    end
    local version = redis.call('HINCRBY', LAW, 'version', 1)
    redis.call('HSET', LAW, 'state', ARGV[9], 'limit', ARGV[10], 'generation', ARGV[11])
    redis.call('PEXPIRE', LAW, KEY_TTL)
    known, stored = version, 1
  end
end
local limit = law_field('limit', tonumber(ARGV[6]))
local granted = {}
if count > 0 then granted = grant(member, count, tonumber(ARGV[4]), limit, ARGV[12]) end
local free = limit - redis.call('ZCARD', LEASES)
for _, entry in ipairs(line()) do
  if free <= 0 then break end
  if entry[1] ~= member then
    redis.call('PUBLISH', ARGV[12] .. entry[1], '1')
    free = free - 1
  end
end
return reply(known, stored, standing(granted, member, limit))
"""
).replace("KEY_TTL", str(KEY_TTL_MS))

_RENEW = (
    _PRELUDE
    + """
-- ARGV: member, lease_ttl, wait_ttl, initial_limit, leases...
local member, lease_ttl = ARGV[1], tonumber(ARGV[2])
expire(tonumber(ARGV[3]))
local renewed = 0
for i = 5, #ARGV do
  local lease = ARGV[i]
  if string.match(lease, '^(.*)|') == member and redis.call('ZSCORE', LEASES, lease) then
    redis.call('ZADD', LEASES, 'XX', now + lease_ttl, lease)
    renewed = renewed + 1
  end
end
for _, key in ipairs(KEYS) do redis.call('PEXPIRE', key, KEY_TTL) end
local limit = law_field('limit', tonumber(ARGV[4]))
return reply(-1, renewed, standing({}, member, limit))
"""
).replace("KEY_TTL", str(KEY_TTL_MS))


@attrs.frozen
class BudgetKeys:
    """The Redis keys of one account's budget, and the prefix of its wake channels."""

    prefix: str

    @classmethod
    def for_account(cls, account_sid: str) -> BudgetKeys:
        """The keys of ``account_sid``'s budget (one Redis Cluster slot)."""
        return cls(f"twilio-conf-insights:budget:{{{account_sid}}}:")

    @property
    def all(self) -> list[str]:
        """The keys, in the order the scripts take them."""
        return [self.prefix + name for name in ("leases", "held", "waiting", "asked", "serial")] + [
            self.prefix + "law"
        ]

    def wake_channel(self, member: str) -> str:
        """The channel on which ``member`` is told that leases came free."""
        return f"{self.prefix}wake:{member}"


@attrs.frozen
class Reply:
    """What a script answered: Redis's clock, the grants, and what it says of the law."""

    #: Redis's clock, in seconds.
    now: float
    grants: tuple[Grant, ...]
    #: The stored law state's version, and its text when newer than the caller's.
    version: int
    state: str
    #: The release's report was stored (compare-and-set held); the renewal's count.
    count: int
    #: The leases the member may keep for its own waiting requests (``_fleet.quota``).
    quota: int = 0
    #: The fleet's leases in flight: the level of a request on a lease kept by a member.
    in_flight: int = 0
    #: The most leases the member may keep during its turn at the remainder (``_fleet.share``).
    share: int = 0


def _reply(raw: Sequence[Any]) -> Reply:
    now, version, state, generation, count, flat, quota, in_flight, share = raw
    grants = tuple(
        Grant(_text(flat[i]), int(flat[i + 1]), int(generation)) for i in range(0, len(flat), 2)
    )
    return Reply(
        int(now) / 1000,
        grants,
        int(version),
        _text(state),
        int(count),
        int(quota),
        int(in_flight),
        int(share),
    )


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class RedisLeases:
    """One member's calls to one account's budget in Redis (each one script, one round trip).

    ``member`` names this member (no ``|``); the law replica ``law`` says which version of
    the stored state the member knows, and supplies the starting limit.
    """

    def __init__(
        self,
        redis: Redis,
        keys: BudgetKeys,
        member: str,
        law: FleetLaw,
        *,
        lease_ttl: float,
        wait_ttl: float,
    ) -> None:
        if "|" in member:
            raise ValueError("a member's name may not contain '|'")
        self.keys = keys
        self.member = member
        self.law = law
        self._redis = redis
        self._lease_ttl = str(round(lease_ttl * 1000))
        self._wait_ttl = str(round(wait_ttl * 1000))
        self._acquire = redis.register_script(_ACQUIRE)
        self._release = redis.register_script(_RELEASE)
        self._renew = redis.register_script(_RENEW)

    async def acquire(self, count: int) -> Reply:
        """Up to ``count`` leases; the member stands in line if it got fewer."""
        raw = await self._acquire(
            keys=self.keys.all,
            args=[
                self.member,
                count,
                self._lease_ttl,
                self._wait_ttl,
                self.law.limit,  # the fleet's limit while Redis holds no law state
                self.law.version,
                self.keys.wake_channel(""),
            ],
        )
        return _reply(raw)

    async def release(self, lease: str, *, count: int = 0, report: str | None = None) -> Reply:
        """Give ``lease`` back (``""``: none), report, then take up to ``count`` leases.

        ``report`` is the law's new state, stored if Redis still holds the version the
        replica started from (``Reply.count`` says whether it was).
        """
        law = self.law
        cas: list[str | int] = ["", "", "", ""]
        if report is not None:
            # Stored as the version after the one the replica started from, if that holds.
            cas = [law.version, report, law.limit, law.generation]
        raw = await self._release(
            keys=self.keys.all,
            args=[
                self.member,
                lease,
                count,
                self._lease_ttl,
                self._wait_ttl,
                law.limit,
                law.version,
                *cas,
                self.keys.wake_channel(""),
            ],
        )
        return _reply(raw)

    async def renew(self, leases: Sequence[str]) -> Reply:
        """Push the expiry of this member's live ``leases``; ``count`` says how many were."""
        raw = await self._renew(
            keys=self.keys.all,
            args=[self.member, self._lease_ttl, self._wait_ttl, self.law.limit, *leases],
        )
        return _reply(raw)
