"""Seeded synthetic Conference Insights data.

Everything here derives from one integer seed through private :class:`random.Random`
instances, so two generators with the same arguments produce byte-identical JSON.

Generation is two-tier to stay cheap at 100k participants: building :class:`FakeData`
plans every conference *and* the few facts about each participant that the conference
summary depends on (SIDs, labels, join/leave times, quality problems). The full participant
JSON (metrics, events, properties, 2010 flags) is produced on first access of a conference,
from a per-conference RNG, so it does not depend on access order.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

import attrs

from ._processing import ProcessingStates
from ._schema import TAGS

__all__ = [
    "FakeData",
    "JSONDict",
    "derive_credentials",
    "iso8601",
    "rfc2822",
]

JSONDict = dict[str, Any]
T = TypeVar("T")

# -- Formatting -----------------------------------------------------------------------------

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


@functools.lru_cache(maxsize=4096)
def _day(day: int) -> tuple[str, str]:
    """ISO and RFC 2822 date parts of a day since the epoch (data spans a few days)."""
    t = time.gmtime(day * 86400)
    return (
        f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}",
        f"{_DAYS[t.tm_wday]}, {t.tm_mday:02d} {_MONTHS[t.tm_mon - 1]} {t.tm_year}",
    )


def iso8601(epoch: int) -> str:
    """Insights' timestamp format: ``2021-10-08T02:58:51Z``."""
    day, second = divmod(epoch, 86400)
    hour, second = divmod(second, 3600)
    minute, second = divmod(second, 60)
    return f"{_day(day)[0]}T{hour:02d}:{minute:02d}:{second:02d}Z"


def rfc2822(epoch: int) -> str:
    """The 2010 API's format, ``Fri, 18 Feb 2011 21:07:19 +0000``, independent of locale."""
    day, second = divmod(epoch, 86400)
    hour, second = divmod(second, 3600)
    minute, second = divmod(second, 60)
    return f"{_day(day)[1]} {hour:02d}:{minute:02d}:{second:02d} +0000"


def _sid(rng: random.Random, prefix: str) -> str:
    return f"{prefix}{rng.getrandbits(128):032x}"


def _pick(rand: Callable[[], float], choices: Sequence[T]) -> T:
    # rng.choice goes through _randbelow; one float draw is several times cheaper.
    return choices[int(rand() * len(choices))]


def _randint(rand: Callable[[], float], low: int, high: int) -> int:
    """Like ``rng.randint(low, high)`` from one float draw (fine for spans below 2**50)."""
    return low + int(rand() * (high - low + 1))


def derive_credentials(seed: int) -> tuple[str, str]:
    """The default ``(account_sid, auth_token)`` of a seed: fixed, valid-looking, fake."""
    rng = random.Random(f"credentials:{seed}")
    return _sid(rng, "AC"), f"{rng.getrandbits(128):032x}"


class _Weighted(Generic[T]):
    """A weighted choice that precomputes its cumulative table (``random.choices`` doesn't)."""

    __slots__ = ("_cumulative", "_total", "_values")

    def __init__(self, pairs: Sequence[tuple[T, float]]) -> None:
        self._values = [value for value, _ in pairs]
        self._cumulative = list(itertools.accumulate(weight for _, weight in pairs))
        self._total = self._cumulative[-1]

    def pick(self, rng: random.Random) -> T:
        return self._values[bisect.bisect(self._cumulative, rng.random() * self._total)]


# -- Realistic distributions ----------------------------------------------------------------

_MIXER_REGIONS = _Weighted(
    [
        ("us1", 52),
        ("ie1", 12),
        ("de1", 9),
        ("au1", 7),
        ("sg1", 6),
        ("jp1", 5),
        ("br1", 4),
        ("us2", 3),
        ("in1", 2),
    ]
)
_END_REASONS = _Weighted(
    [
        ("last_participant_left", 60),
        ("participant_with_end_conference_on_exit_left", 24),
        ("conference_ended_via_api", 9),
        ("last_participant_kicked", 4),
        ("participant_with_end_conference_on_exit_kicked", 3),
    ]
)
_CALL_TYPES = _Weighted([("carrier", 60), ("client", 30), ("sip", 10)])
_JITTER_BUFFERS: _Weighted[str | None] = _Weighted(
    [(None, 70), ("small", 10), ("medium", 10), ("large", 6), ("off", 4)]
)
_FAILED_CALL_STATUSES = ("busy", "noanswer", "fail", "canceled")
_PENDING_LIVE_STATUSES = ("queued", "connecting", "ringing")

# Countries by region: (ISO code, dialling code, national number length).
_COUNTRIES: dict[str, tuple[tuple[str, str, int], ...]] = {
    "us1": (("US", "1", 10), ("US", "1", 10), ("US", "1", 10), ("CA", "1", 10)),
    "us2": (("US", "1", 10), ("MX", "52", 10)),
    "ie1": (("GB", "44", 10), ("IE", "353", 9), ("ES", "34", 9)),
    "de1": (("DE", "49", 11), ("FR", "33", 9), ("NL", "31", 9)),
    "au1": (("AU", "61", 9), ("NZ", "64", 9)),
    "sg1": (("SG", "65", 8), ("MY", "60", 9)),
    "jp1": (("JP", "81", 10),),
    "br1": (("BR", "55", 11),),
    "in1": (("IN", "91", 10),),
}
_FIRST_NAMES = (
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "frank",
    "grace",
    "heidi",
    "ivan",
    "judy",
    "mallory",
    "niaj",
    "olivia",
    "peggy",
    "rupert",
    "sybil",
    "trent",
    "victor",
    "walter",
    "yuki",
)
# Labels a client must percent-encode: each breaks naive URL building in its own way.
_AWKWARD_LABELS = (
    "agent 7",
    "sales/emea",
    "who?",
    "#escalations",
    "100% done",
    "..",
    "a/../b",
    "agent José",
    "客服 3",
    "tier 2 / night?#%",
)
_FRIENDLY_NAMES = (
    "Support call {n}",
    "Daily Standup",
    "Weekly sync",
    "customer-escalation-{n}",
    "outboundConfCallTransferThrice_{n}",
    "conf_{hex}",
    "Soporte técnico {n}",
    "Réunion équipe {n}",
    "会议 {n}",
    "Warm transfer #{n}",
    "Sales demo - ACME {n}",
    "Incident bridge {hex}",
)

# Quality problems of a participant, decided when the conference is planned so the
# conference's tags and detected_issues can agree with the participants' metrics.
_LOW_MOS = 1
_HIGH_JITTER = 2
_PACKET_LOSS = 4
_HIGH_LATENCY = 8
_SILENT = 16
_QUALITY_TAGS = (
    ("high_packet_loss", _PACKET_LOSS),
    ("high_jitter", _HIGH_JITTER),
    ("high_latency", _HIGH_LATENCY),
    ("low_mos", _LOW_MOS),
)


@attrs.define
class _PartPlan:
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
class _ConfPlan:
    sid: str
    account_sid: str
    status: str
    processing_state: str
    created: int
    mixer_region: str | None
    twilio_number: str
    parts: list[_PartPlan]


@attrs.define
class _Context:
    rng: random.Random
    base: int
    account_sid: str
    subaccount_sid: str | None
    per_conference: tuple[int, int]


def _phone(rng: random.Random, country: tuple[str, str, int]) -> str:
    _, dial, digits = country
    return f"+{dial}{_randint(rng.random, 2 * 10 ** (digits - 1), 10**digits - 1)}"


def _address(rng: random.Random, call_type: str, region: str) -> tuple[str, str]:
    country = _pick(rng.random, _COUNTRIES[region])
    if call_type == "client":
        name = _pick(rng.random, _FIRST_NAMES)
        return f"client:{name}_{_randint(rng.random, 0, 999)}", country[0]
    if call_type == "sip":
        user = _pick(rng.random, _FIRST_NAMES)
        return f"sip:{user}@pbx{_randint(rng.random, 1, 8)}.sip.twilio.com", country[0]
    return _phone(rng, country), country[0]


def _label(rng: random.Random, role: str, used: set[str]) -> str | None:
    roll = rng.random()
    if role == "supervisor":
        label: str | None = "supervisor"
    elif role == "customer":
        label = "customer" if roll < 0.75 else None
    elif roll < 0.15:
        label = None
    elif roll < 0.55:
        label = f"agent {_randint(rng.random, 1, 99)}"
    else:
        label = f"agent {_pick(rng.random, _FIRST_NAMES)}"
    if label is not None and role != "supervisor" and rng.random() < 0.04:
        label = _pick(rng.random, _AWKWARD_LABELS)
    if label is None:
        return None
    unique, n = label, 2
    while unique in used:
        unique, n = f"{label} ({n})", n + 1
    used.add(unique)
    return unique


def _friendly_name(rng: random.Random) -> str:
    template = _pick(rng.random, _FRIENDLY_NAMES)
    return template.format(n=_randint(rng.random, 1, 4999), hex=f"{rng.getrandbits(24):06x}")


def _quality_flags(rng: random.Random) -> int:
    rand = rng.random
    flags = 0
    roll = rand()
    if roll < 0.10:
        # A bad network rarely shows one symptom alone: low MOS comes with jitter and loss.
        flags = _LOW_MOS
        if rand() < 0.6:
            flags |= _HIGH_JITTER
        if rand() < 0.6:
            flags |= _PACKET_LOSS
        if rand() < 0.3:
            flags |= _HIGH_LATENCY
    elif roll < 0.13:
        flags = _HIGH_LATENCY  # a long media path that still sounds fine
    if rand() < 0.03:
        flags |= _SILENT
    return flags


def _plan_conference(ctx: _Context) -> tuple[_ConfPlan, JSONDict]:
    """Plan one conference and build its (URL-less) summary JSON."""
    rng, base = ctx.rng, ctx.base
    sid = _sid(rng, "CF")
    account_sid = (
        ctx.subaccount_sid
        if ctx.subaccount_sid is not None and rng.random() < 0.2
        else ctx.account_sid
    )
    roll = rng.random()
    status = (
        "completed"
        if roll < 0.85
        else "not_started"
        if roll < 0.91
        else "summary_timeout"
        if roll < 0.95
        else "in_progress"
    )
    # Conference length: log-normal around ten minutes, as real meetings and calls are.
    length = int(min(4 * 3600, max(5, rng.lognormvariate(math.log(600), 0.9))))
    if status == "in_progress":
        created = base - _randint(rng.random, 60, 3600)
    elif status == "summary_timeout":
        created = base - _randint(rng.random, 25 * 3600, 3 * 86400)
    else:
        created = base - _randint(rng.random, 0, 3 * 86400)
        if status == "completed" and created + length + 10 > base:
            created = base - length - _randint(rng.random, 10, 600)
    started = None if status == "not_started" else created + _randint(rng.random, 1, 8)
    if status == "completed" and started is not None:
        ended: int | None = started + length
    elif status == "not_started":
        ended = created + _randint(rng.random, 5, 90)
    else:
        ended = None
    # Participants of a conference that has not ended stop at "now"; timed-out ones
    # stop where the conference would have ended.
    horizon = ended if ended is not None else min(base, (started or created) + length)

    mixer_region: str | None = _MIXER_REGIONS.pick(rng)
    if status == "not_started" and rng.random() < 0.6:
        mixer_region = None
    home = mixer_region or "us1"
    twilio_number = _phone(rng, _COUNTRIES[home][0])

    count = _randint(rng.random, *ctx.per_conference)
    used: set[str] = set()
    parts: list[_PartPlan] = []
    for k in range(count):
        role = "customer" if k == 0 else "agent"
        if k == count - 1 and count >= 3 and rng.random() < 0.15:
            role = "supervisor"
        call_type = _CALL_TYPES.pick(rng)
        region = home if rng.random() < 0.95 else _MIXER_REGIONS.pick(rng)
        address, country = _address(rng, call_type, region)
        joined: int | None
        left: int | None
        never_joined = rng.random() < 0.04 or (status == "not_started" and k > 0)
        if never_joined:
            joined = left = None
        else:
            latest_join = max(created, created + (horizon - created) // 3)
            joined = created + 1 if k == 0 else _randint(rng.random, created, latest_join)
            joined = min(joined, horizon)
            still_there = status == "in_progress" and rng.random() < 0.8
            left = None if still_there else _randint(rng.random, joined, horizon)
        parts.append(
            _PartPlan(
                call_sid=_sid(rng, "CA"),
                participant_sid=_sid(rng, "CP"),
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

    end_reason: str | None = None
    ended_by: str | None = None
    present = [p for p in parts if p.joined is not None]
    if status == "completed" and ended is not None:
        end_reason = _END_REASONS.pick(rng)
        if present and end_reason != "conference_ended_via_api":
            if "end_conference_on_exit" in end_reason:
                ender = _pick(rng.random, present)
                ender.ends_conference = True
            else:
                ender = max(present, key=lambda p: p.left or 0)
            ender.left = ended
            ended_by = ender.call_sid
    elif status == "not_started":
        end_reason = "last_participant_left"
        if present:
            present[0].left = ended
            ended_by = present[0].call_sid

    # Order participants the way the API lists them: by join time, never-joined last.
    parts.sort(key=lambda p: (p.joined is None, p.joined or 0))

    processing_state = "complete"
    if status == "in_progress" or (ended is not None and ended > base - 1800):
        # Twilio needs up to 30 minutes after the end to build a summary.
        processing_state = "in_progress"
    elif status == "summary_timeout" or rng.random() < 0.01:
        processing_state = "timeout"

    summary = _conference_json(
        rng, sid, account_sid, status, processing_state, created, started, ended,
        mixer_region, parts, end_reason, ended_by,
    )  # fmt: skip
    plan = _ConfPlan(
        sid, account_sid, status, processing_state, created, mixer_region, twilio_number, parts
    )
    return plan, summary


def _assign_labels(plans: Iterable[_ConfPlan], labels: Sequence[str]) -> None:
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


def _max_concurrent(parts: Sequence[_PartPlan]) -> int:
    edges: list[tuple[int, int]] = []
    for part in parts:
        if part.joined is not None:
            edges.append((part.joined, 1))
            edges.append((part.left if part.left is not None else 2**62, -1))
    # Sorting (time, -1) before (time, +1) means a leave and a join at the same second
    # do not overlap.
    edges.sort()
    best = current = 0
    for _, delta in edges:
        current += delta
        best = max(best, current)
    return best


def _conference_json(
    rng: random.Random,
    sid: str,
    account_sid: str,
    status: str,
    processing_state: str,
    created: int,
    started: int | None,
    ended: int | None,
    mixer_region: str | None,
    parts: list[_PartPlan],
    end_reason: str | None,
    ended_by: str | None,
) -> JSONDict:
    flags = 0
    silent = 0
    for part in parts:
        flags |= part.flags
        silent += bool(part.flags & _SILENT)
    tags: set[str] = set()
    quality = [name for name, bit in _QUALITY_TAGS if flags & bit]
    tags.update(quality)
    if quality:
        tags.add("quality_warnings")
    region_issues = sum(
        1 for p in parts if mixer_region is not None and p.joined and p.region != mixer_region
    )
    requested: str | None = None
    if mixer_region is not None and rng.random() < 0.35:
        requested = mixer_region
        if rng.random() < 0.03:
            requested = _MIXER_REGIONS.pick(rng)
    if requested is not None and requested != mixer_region:
        tags.add("invalid_requested_region")
        region_issues += 1
    if region_issues:
        tags.add("region_configuration_issues")
    behaviour = silent
    if silent:
        tags.add("detected_silence")
    addresses = [p.address for p in parts]
    if len(set(addresses)) < len(addresses):
        tags.add("duplicate_identity")
        behaviour += 1
    tag_info: JSONDict | None = None
    if status == "not_started":
        tags.update(("start_failure", "no_concurrent_participants"))
        tag_info = {"start_failure": {"reason": "no_concurrent_participants"}}
        behaviour += 1
    if behaviour:
        tags.add("participant_behavior_issues")
    if tag_info is None and quality and rng.random() < 0.2:
        severity = _pick(rng.random, ("low", "medium", "high"))
        tag_info = {"quality_warnings": {"severity": severity}}

    present = sum(1 for p in parts if p.joined is not None)
    concurrent = 1 if status == "not_started" else _max_concurrent(parts)
    return {
        "conference_sid": sid,
        "account_sid": account_sid,
        "friendly_name": _friendly_name(rng),
        "start_time": iso8601(started) if started is not None else None,
        "create_time": iso8601(created),
        "end_time": iso8601(ended) if ended is not None else None,
        "duration_seconds": ended - created + 1 if ended is not None else None,
        "connect_duration_seconds": (
            (ended - started if started is not None else 0) if ended is not None else None
        ),
        "status": status,
        "max_participants": 250 if rng.random() < 0.9 else _pick(rng.random, (10, 50, 100)),
        "max_concurrent_participants": min(concurrent, present) if present else 0,
        "unique_participants": len(set(addresses)),
        "end_reason": end_reason,
        "ended_by": ended_by,
        "mixer_region": mixer_region,
        "mixer_region_requested": requested,
        "recording_enabled": rng.random() < 0.25,
        "processing_state": processing_state,
        "detected_issues": {
            "call_quality": len(quality),
            "region_configuration": region_issues,
            "participant_behavior": behaviour,
        },
        # Twilio sends null, not [], for a conference without tags.
        "tags": [tag for tag in TAGS if tag in tags] or None,
        "tag_info": tag_info,
        "url": None,
        "links": None,
    }


# -- Lazily built participants --------------------------------------------------------------


def _toggles(
    rand: Callable[[], float], start: int, stop: int, initially_on: bool
) -> tuple[list[int], list[int]]:
    """Epoch-ms times of alternating on/off switches within [start, stop]."""
    count = _pick(rand, (1, 1, 1, 2, 3))
    span = max(0, stop - start)
    moments = sorted((start + int(rand() * span)) * 1000 for _ in range(count))
    switches: tuple[list[int], list[int]] = ([], [])
    state = initially_on
    for moment in moments:
        switches[state].append(moment)  # index 0: switched on, 1: switched off
        state = not state
    return switches


def _stream(rand: Callable[[], float], seconds: int, flags: int, silent: bool) -> JSONDict:
    sent = seconds * 50 or 1  # 20 ms packets
    if flags & _PACKET_LOSS:
        loss = round(1.0 + 4.0 * rand(), 2)
    elif rand() < 0.1:
        loss = round(0.01 + 0.39 * rand(), 2)
    else:
        loss = 0.0
    lost = int(sent * loss / 100)
    # Jitter and latency in ms; the product of two draws skews healthy jitter towards 0.
    jitter = round(30.0 + 50.0 * rand() if flags & _HIGH_JITTER else 10.0 * rand() * rand(), 2)
    latency = round(150.0 + 150.0 * rand() if flags & _HIGH_LATENCY else 120.0 * rand(), 2)
    mos = 2.5 + rand() if flags & _LOW_MOS else 4.0 + 0.5 * rand()
    if flags & (_HIGH_JITTER | _PACKET_LOSS) and not flags & _LOW_MOS:
        mos -= 0.3
    stream: JSONDict = {
        "total_packets_lost": lost,
        "total_packets_received": sent - lost,
        "packet_loss_percentage": loss,
        "jitter": {"avg": jitter, "max": round(jitter * (1.2 + 1.8 * rand()), 2)},
        "latency": {"avg": latency, "max": round(latency * (1.0 + 0.8 * rand()), 2)},
        "mos": round(mos, 2),
    }
    if silent:
        stream["tags"] = ["silent"]
    return stream


def _participants_json(
    plan: _ConfPlan, rng: random.Random, base: int, base_url: str
) -> tuple[list[JSONDict], list[JSONDict]]:
    """The Insights summaries and the 2010 live participants of one conference."""
    rand = rng.random
    summaries: list[JSONDict] = []
    live: list[JSONDict] = []
    in_progress = plan.status == "in_progress"
    for part in plan.parts:
        joined, left = part.joined, part.left
        coached_sid = part.coaches
        is_coach = coached_sid is not None
        if part.role == "customer":
            direction = "inbound" if rand() < 0.8 else "outbound"
        else:
            direction = "outbound" if rand() < 0.7 else "inbound"
        outbound = direction == "outbound"
        caller, callee = (
            (plan.twilio_number, part.address) if outbound else (part.address, plan.twilio_number)
        )
        if joined is None:
            call_status = "ringing" if in_progress else _pick(rand, _FAILED_CALL_STATUSES)
        elif left is None:
            call_status = "answered"
        else:
            call_status = "completed"
        starts = (part.role != "customer" and rand() < 0.8) or rand() < 0.3
        ends = part.ends_conference or (part.role == "agent" and rand() < 0.15)
        enter_muted = is_coach or rand() < 0.05
        properties: JSONDict = {
            "start_conference_on_enter": starts,
            "end_conference_on_exit": ends,
            "play_early_media": rand() < 0.4,
            "enter_muted": enter_muted,
            "beep_on_enter": rand() < 0.5,
            "beep_on_exit": rand() < 0.3,
        }
        if rand() < 0.05:
            # Real summaries occasionally carry keys beyond the documented six.
            properties["early_media"] = properties["play_early_media"]

        muted = enter_muted
        hold = False
        events: JSONDict | None = None
        last_event = joined
        if joined is not None and rand() < 0.4:
            stop = left if left is not None else base
            events = {}
            if enter_muted or rand() < 0.7:
                mutes, unmutes = _toggles(rand, joined, stop, enter_muted)
                if mutes:
                    events["mute"] = mutes
                if unmutes:
                    events["unmute"] = unmutes
                muted = len(mutes) + enter_muted > len(unmutes)
            if rand() < 0.4:
                holds, unholds = _toggles(rand, joined, stop, False)
                events["hold"] = holds
                if unholds:
                    events["unhold"] = unholds
                hold = len(holds) > len(unholds)
            if events:
                last_event = max(max(times) for times in events.values()) // 1000
            else:
                events = None

        metrics: JSONDict | None = None
        duration = left - joined if joined is not None and left is not None else None
        if joined is not None:
            seconds = duration if duration is not None else base - joined
            silent = part.flags & _SILENT
            silent_inbound = bool(silent) and rand() < 0.5
            metrics = {
                "inbound": _stream(rand, seconds, part.flags, silent_inbound),
                "outbound": _stream(rand, seconds, part.flags, bool(silent) and not silent_inbound),
            }
        summaries.append(
            {
                "participant_sid": part.participant_sid,
                "label": part.label,
                "conference_sid": plan.sid,
                "call_sid": part.call_sid,
                "account_sid": plan.account_sid,
                "call_direction": direction,
                "from": caller,
                "to": callee,
                "call_status": call_status,
                "country_code": part.country,
                "is_moderator": starts or ends,
                "join_time": iso8601(joined) if joined is not None else None,
                "leave_time": iso8601(left) if left is not None else None,
                "duration_seconds": duration,
                "outbound_queue_length": int(rand() * 4) if outbound else None,
                "outbound_time_in_queue": int(rand() * 4000) if outbound else None,
                "jitter_buffer_size": _JITTER_BUFFERS.pick(rng),
                "is_coach": is_coach,
                "coached_participants": [coached_sid] if coached_sid else None,
                "participant_region": part.region,
                "conference_region": plan.mixer_region,
                "call_type": part.call_type,
                "processing_state": plan.processing_state,
                "properties": properties,
                "events": events,
                "metrics": metrics,
                "url": _summary_url(base_url, plan.sid, part.participant_sid),
            }
        )

        created = (joined if joined is not None else plan.created) - int(rand() * 6)
        updated = max(created, left if left is not None else last_event or 0)
        if joined is None:
            status = _pick(rand, _PENDING_LIVE_STATUSES) if in_progress else "failed"
        else:
            status = "connected" if left is None else "complete"
        live.append(
            {
                "account_sid": plan.account_sid,
                "call_sid": part.call_sid,
                "label": part.label,
                "conference_sid": plan.sid,
                "date_created": rfc2822(created),
                "date_updated": rfc2822(updated),
                "end_conference_on_exit": ends,
                "muted": muted,
                "hold": hold,
                "status": status,
                "start_conference_on_enter": starts,
                "coaching": is_coach,
                "call_sid_to_coach": coached_sid,
                "queue_time": None,
                "uri": (
                    f"/2010-04-01/Accounts/{plan.account_sid}/Conferences/{plan.sid}"
                    f"/Participants/{part.call_sid}.json"
                ),
            }
        )
    return summaries, live


def _conference_url(base_url: str, sid: str) -> str:
    return f"{base_url}/v1/Conferences/{sid}"


def _summary_url(base_url: str, conference_sid: str, participant_sid: str) -> str:
    return f"{base_url}/v1/Conferences/{conference_sid}/Participants/{participant_sid}"


class _ParticipantView(Mapping[str, list[JSONDict]]):
    """``conference_sid -> participants`` that builds each conference's list on first use."""

    def __init__(self, data: FakeData, family: int) -> None:
        self._data = data
        self._family = family

    def __getitem__(self, conference_sid: str) -> list[JSONDict]:
        return self._data._participants_of(conference_sid)[self._family]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data._plans)

    def __len__(self) -> int:
        return len(self._data._plans)

    def __contains__(self, key: object) -> bool:
        return key in self._data._plans


class FakeData:
    """The synthetic records a :class:`FakeTwilio` serves; mutate them to shape a test.

    ``conferences`` holds the exact JSON objects the server returns (newest ``create_time``
    first); ``participant_summaries[conference_sid]`` and ``participants[conference_sid]``
    the Insights and 2010 participants of a conference, built on first access. Lists are
    scanned per request, so editing a dict in place (or a label) changes what is served;
    adding or removing conferences is not supported.

    ``labels`` overrides generated labels: they go, in order, to the participants of the
    conferences in served order (first conference's participants first), in both families.
    """

    def __init__(
        self,
        *,
        conferences: int = 50,
        participants_per_conference: int | tuple[int, int] = (2, 6),
        seed: int = 1234,
        account_sid: str | None = None,
        subaccount_sid: str | None = None,
        labels: Sequence[str] = (),
        base_url: str = "http://127.0.0.1:0",
    ) -> None:
        if conferences < 0:
            raise ValueError(f"conferences must be >= 0, got {conferences!r}")
        if isinstance(participants_per_conference, int):
            low = high = participants_per_conference
        else:
            low, high = participants_per_conference
        if not 0 <= low <= high:
            raise ValueError(
                f"participants_per_conference must be n >= 0 or (min, max) with "
                f"0 <= min <= max, got {participants_per_conference!r}"
            )
        self.seed = seed
        """The seed everything derives from."""
        rng = random.Random(seed)
        # A fixed "now" per seed, somewhere in 2025, so timestamps are reproducible.
        self.base_epoch = 1735689600 + rng.randrange(365 * 86400)
        """:attr:`base_time` as Unix seconds."""
        self.base_time = datetime.fromtimestamp(self.base_epoch, UTC)
        """The fixed "now" of this data set; every timestamp lies before it."""
        self.account_sid = account_sid or derive_credentials(seed)[0]
        """The account owning the conferences (except the subaccount's share)."""
        self.subaccount_sid = subaccount_sid
        """The optional subaccount owning about 20% of the conferences."""
        self.base_url = base_url
        """The origin that absolute ``url`` fields point at."""

        ctx = _Context(rng, self.base_epoch, self.account_sid, subaccount_sid, (low, high))
        planned = [_plan_conference(ctx) for _ in range(conferences)]
        planned.sort(key=lambda pair: (pair[1]["create_time"], pair[0].sid), reverse=True)
        self._plans: dict[str, _ConfPlan] = {plan.sid: plan for plan, _ in planned}
        _assign_labels(self._plans.values(), labels)
        self._by_sid: dict[str, JSONDict] = {plan.sid: summary for plan, summary in planned}
        self.conferences: list[JSONDict] = [summary for _, summary in planned]
        """Insights conference summaries, newest first, exactly as served."""
        self._built: dict[str, tuple[list[JSONDict], list[JSONDict]]] = {}
        self.participant_summaries: Mapping[str, list[JSONDict]] = _ParticipantView(self, 0)
        """``conference_sid -> [participant summary, …]`` (Insights), built lazily."""
        self.participants: Mapping[str, list[JSONDict]] = _ParticipantView(self, 1)
        """``conference_sid -> [participant, …]`` (2010 API), built lazily."""
        self.processing = ProcessingStates(self)
        """Moves ``processing_state`` to terminal on command or in time; see
        :class:`~twilio_conf_insights.testing.ProcessingStates`."""
        self.rebase(base_url)

    @property
    def now(self) -> datetime:
        """Alias of :attr:`base_time`."""
        return self.base_time

    def conference(self, conference_sid: str) -> JSONDict | None:
        """The conference summary with this SID, or ``None``."""
        return self._by_sid.get(conference_sid)

    def set_processing_state(self, conference_sid: str, state: str) -> None:
        """Set ``processing_state`` of a conference and of all its participant summaries."""
        summary = self._by_sid[conference_sid]
        summary["processing_state"] = state
        self._plans[conference_sid].processing_state = state
        built = self._built.get(conference_sid)
        if built is not None:  # not built yet: they will be built with the new state
            for participant in built[0]:
                participant["processing_state"] = state

    def all_participant_summaries(self) -> Iterator[JSONDict]:
        """Every participant summary, conference by conference (builds them all)."""
        for sid in self._plans:
            yield from self._participants_of(sid)[0]

    def rebase(self, base_url: str) -> None:
        """Point every absolute ``url`` at ``base_url`` (the server calls this on start)."""
        self.base_url = base_url.rstrip("/")
        for summary in self.conferences:
            url = _conference_url(self.base_url, summary["conference_sid"])
            summary["url"] = url
            summary["links"] = {"conference_participants": f"{url}/Participants"}
        for conference_sid, (summaries, _) in self._built.items():
            for summary in summaries:
                summary["url"] = _summary_url(
                    self.base_url, conference_sid, summary["participant_sid"]
                )

    def _participants_of(self, conference_sid: str) -> tuple[list[JSONDict], list[JSONDict]]:
        built = self._built.get(conference_sid)
        if built is None:
            plan = self._plans[conference_sid]
            # Seeded per conference, so the result does not depend on access order.
            rng = random.Random(f"{self.seed}:{conference_sid}")
            built = _participants_json(plan, rng, self.base_epoch, self.base_url)
            self._built[conference_sid] = built
            plan.parts = []  # no longer needed; fewer objects for the cycle collector
        return built
