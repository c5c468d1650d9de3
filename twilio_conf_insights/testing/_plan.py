"""Planning a conference: its status and times, and its participants' key facts.

A plan holds the few facts about each participant that the conference summary depends on
(SIDs, labels, join/leave times, quality problems); the rest is drawn later.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence

import attrs

from ._conference_json import conference_json
from ._format import JSONDict, new_sid, pick, randint
from ._tables import (
    AWKWARD_LABELS,
    CALL_TYPES,
    COUNTRIES,
    END_REASONS,
    FIRST_NAMES,
    HIGH_JITTER,
    HIGH_LATENCY,
    LOW_MOS,
    MIXER_REGIONS,
    PACKET_LOSS,
    SILENT,
)


@attrs.define
class PartPlan:
    call_sid: str
    participant_sid: str
    label: str | None
    role: str
    call_type: str
    region: str
    country: str
    address: str
    joined: int | None
    left: int | None
    flags: int = 0
    coaches: str | None = None  # call SID of the coached participant
    ends_conference: bool = False


@attrs.define
class ConfPlan:
    sid: str
    account_sid: str
    status: str
    processing_state: str
    created: int
    mixer_region: str | None
    twilio_number: str
    parts: list[PartPlan]


@attrs.define
class PlanContext:
    rng: random.Random
    base: int
    account_sid: str
    #: Subaccounts owning about 20% of the conferences between them.
    subaccount_sids: Sequence[str]
    per_conference: tuple[int, int]
    #: ``create_time`` lies within this many seconds before ``base``.
    span: int = 3 * 86400


def phone(rng: random.Random, country: tuple[str, str, int]) -> str:
    _, dial, digits = country
    return f"+{dial}{randint(rng.random, 2 * 10 ** (digits - 1), 10**digits - 1)}"


def _address(rng: random.Random, call_type: str, region: str) -> tuple[str, str]:
    country = pick(rng.random, COUNTRIES[region])
    if call_type == "client":
        name = pick(rng.random, FIRST_NAMES)
        return f"client:{name}_{randint(rng.random, 0, 999)}", country[0]
    if call_type == "sip":
        user = pick(rng.random, FIRST_NAMES)
        return f"sip:{user}@pbx{randint(rng.random, 1, 8)}.sip.twilio.com", country[0]
    return phone(rng, country), country[0]


def _label(rng: random.Random, role: str, used: set[str]) -> str | None:
    roll = rng.random()
    if role == "supervisor":
        label: str | None = "supervisor"
    elif role == "customer":
        label = "customer" if roll < 0.75 else None
    elif roll < 0.15:
        label = None
    elif roll < 0.55:
        label = f"agent {randint(rng.random, 1, 99)}"
    else:
        label = f"agent {pick(rng.random, FIRST_NAMES)}"
    if label is not None and role != "supervisor" and rng.random() < 0.04:
        label = pick(rng.random, AWKWARD_LABELS)
    if label is None:
        return None
    unique, n = label, 2
    while unique in used:
        unique, n = f"{label} ({n})", n + 1
    used.add(unique)
    return unique


def _quality_flags(rng: random.Random) -> int:
    rand = rng.random
    flags = 0
    roll = rand()
    if roll < 0.10:
        # A bad network rarely shows one symptom alone: low MOS comes with jitter and loss.
        flags = LOW_MOS
        if rand() < 0.6:
            flags |= HIGH_JITTER
        if rand() < 0.6:
            flags |= PACKET_LOSS
        if rand() < 0.3:
            flags |= HIGH_LATENCY
    elif roll < 0.13:
        flags = HIGH_LATENCY  # a long media path that still sounds fine
    if rand() < 0.03:
        flags |= SILENT
    return flags


#: How far back ``create_time`` may lie from the data's "now", unless a context says less.
DEFAULT_SPAN = 3 * 86400


@attrs.frozen
class _Times:
    status: str
    created: int
    started: int | None
    ended: int | None
    #: When participants of a conference that has not ended stop.
    horizon: int


def _status(rng: random.Random) -> str:
    roll = rng.random()
    if roll < 0.85:
        return "completed"
    if roll < 0.91:
        return "not_started"
    return "summary_timeout" if roll < 0.95 else "in_progress"


def _times(rng: random.Random, base: int, span: int) -> _Times:
    """Status, creation, start and end of a conference created within ``span`` of ``base``."""
    status = _status(rng)
    # Conference length: log-normal around ten minutes, as real meetings and calls are.
    length = int(min(4 * 3600, max(5, rng.lognormvariate(math.log(600), 0.9))))
    if status == "summary_timeout" and span < 25 * 3600:
        status = "in_progress"  # too recent to have timed out
    if status == "in_progress":
        created = base - randint(rng.random, min(60, span), min(3600, span))
    elif status == "summary_timeout":
        created = base - randint(rng.random, 25 * 3600, span)
    else:
        created = base - randint(rng.random, 0, span)
        if status == "completed" and created + length + 10 > base:
            created = base - length - randint(rng.random, 10, 600)
            if created < base - span:  # a recent window: shorten the call to fit in it
                created = base - span
                length = max(1, base - created - 10)
    started = None if status == "not_started" else created + randint(rng.random, 1, 8)
    if status == "completed" and started is not None:
        ended: int | None = started + length
    elif status == "not_started":
        ended = created + randint(rng.random, 5, 90)
    else:
        ended = None
    # Participants of a conference that has not ended stop at "now"; timed-out ones
    # stop where the conference would have ended.
    horizon = ended if ended is not None else min(base, (started or created) + length)
    return _Times(status, created, started, ended, horizon)


def _plan_parts(rng: random.Random, times: _Times, home: str, count: int) -> list[PartPlan]:
    status, created, horizon = times.status, times.created, times.horizon
    used: set[str] = set()
    parts: list[PartPlan] = []
    for k in range(count):
        role = "customer" if k == 0 else "agent"
        if k == count - 1 and count >= 3 and rng.random() < 0.15:
            role = "supervisor"
        call_type = CALL_TYPES.pick(rng)
        region = home if rng.random() < 0.95 else MIXER_REGIONS.pick(rng)
        address, country = _address(rng, call_type, region)
        joined: int | None
        left: int | None
        never_joined = rng.random() < 0.04 or (status == "not_started" and k > 0)
        if never_joined:
            joined = left = None
        else:
            latest_join = max(created, created + (horizon - created) // 3)
            joined = created + 1 if k == 0 else randint(rng.random, created, latest_join)
            joined = min(joined, horizon)
            still_there = status == "in_progress" and rng.random() < 0.8
            left = None if still_there else randint(rng.random, joined, horizon)
        parts.append(
            PartPlan(
                call_sid=new_sid(rng, "CA"),
                participant_sid=new_sid(rng, "CP"),
                label=_label(rng, role, used),
                role=role,
                call_type=call_type,
                region=region,
                country=country,
                address=address,
                joined=joined,
                left=left,
                flags=_quality_flags(rng) if joined is not None else 0,
            )
        )
    if count >= 2 and rng.random() < 0.02:
        parts[1].address = parts[0].address
    if parts and parts[-1].role == "supervisor":
        parts[-1].coaches = parts[1].call_sid
    return parts


def _end_of(
    rng: random.Random, times: _Times, parts: list[PartPlan]
) -> tuple[str | None, str | None]:
    """``(end_reason, ended_by)``; the participant who ended it leaves at the end."""
    end_reason: str | None = None
    ended_by: str | None = None
    present = [p for p in parts if p.joined is not None]
    if times.status == "completed" and times.ended is not None:
        end_reason = END_REASONS.pick(rng)
        if present and end_reason != "conference_ended_via_api":
            if "end_conference_on_exit" in end_reason:
                ender = pick(rng.random, present)
                ender.ends_conference = True
            else:
                ender = max(present, key=lambda p: p.left or 0)
            ender.left = times.ended
            ended_by = ender.call_sid
    elif times.status == "not_started":
        end_reason = "last_participant_left"
        if present:
            present[0].left = times.ended
            ended_by = present[0].call_sid
    return end_reason, ended_by


def _processing_state(rng: random.Random, times: _Times, base: int) -> str:
    if times.status == "in_progress" or (times.ended is not None and times.ended > base - 1800):
        # Twilio needs up to 30 minutes after the end to build a summary.
        return "in_progress"
    if times.status == "summary_timeout" or rng.random() < 0.01:
        return "timeout"
    return "complete"


def plan_conference(ctx: PlanContext) -> tuple[ConfPlan, JSONDict]:
    """Plan one conference and build its (URL-less) summary JSON."""
    rng, base = ctx.rng, ctx.base
    sid = new_sid(rng, "CF")
    account_sid = ctx.account_sid
    if ctx.subaccount_sids and rng.random() < 0.2:
        account_sids = ctx.subaccount_sids
        # One draw more only with several subaccounts: one subaccount keeps old seeds' data.
        account_sid = account_sids[0] if len(account_sids) == 1 else pick(rng.random, account_sids)
    times = _times(rng, base, ctx.span)

    mixer_region: str | None = MIXER_REGIONS.pick(rng)
    if times.status == "not_started" and rng.random() < 0.6:
        mixer_region = None
    home = mixer_region or "us1"
    twilio_number = phone(rng, COUNTRIES[home][0])

    parts = _plan_parts(rng, times, home, randint(rng.random, *ctx.per_conference))
    end_reason, ended_by = _end_of(rng, times, parts)
    # Order participants the way the API lists them: by join time, never-joined last.
    parts.sort(key=lambda p: (p.joined is None, p.joined or 0))
    processing_state = _processing_state(rng, times, base)

    summary = conference_json(
        rng, sid, account_sid, times.status, processing_state, times.created, times.started,
        times.ended, mixer_region, parts, end_reason, ended_by,
    )  # fmt: skip
    plan = ConfPlan(
        sid,
        account_sid,
        times.status,
        processing_state,
        times.created,
        mixer_region,
        twilio_number,
        parts,
    )
    return plan, summary


def assign_labels(plans: Iterable[ConfPlan], labels: Sequence[str]) -> None:
    """Give ``labels`` to the first participants, keeping labels unique per conference."""
    remaining = list(reversed(labels))
    for plan in plans:
        if not remaining:
            return
        count = min(len(remaining), len(plan.parts))
        given = [remaining.pop() for _ in range(count)]
        if len(set(given)) != len(given):
            raise ValueError(f"labels {given!r} would repeat a label within one conference")
        used = set(given)
        for part, label in zip(plan.parts, given, strict=False):
            part.label = label
        for part in plan.parts[count:]:
            if part.label is not None:
                # A generated label that now clashes gets a suffix, as _label() would do.
                unique, n = part.label, 2
                while unique in used:
                    unique, n = f"{part.label} ({n})", n + 1
                part.label = unique
                used.add(unique)
    if remaining:
        raise ValueError(f"{len(labels)} labels but fewer participants to give them to")
