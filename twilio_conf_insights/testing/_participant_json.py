"""The participants of a planned conference: Insights summaries and 2010 live participants.

Built on first access of a conference, from a per-conference RNG, so the result does not
depend on access order.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs

from ._format import JSONDict, iso8601, pick, rfc2822
from ._tables import (
    FAILED_CALL_STATUSES,
    HIGH_JITTER,
    HIGH_LATENCY,
    JITTER_BUFFERS,
    LOW_MOS,
    PACKET_LOSS,
    PENDING_LIVE_STATUSES,
    SILENT,
)

if TYPE_CHECKING:
    from ._plan import ConfPlan, PartPlan


def _toggles(
    rand: Callable[[], float], start: int, stop: int, initially_on: bool
) -> tuple[list[int], list[int]]:
    """Epoch-ms times of alternating on/off switches within [start, stop]."""
    count = pick(rand, (1, 1, 1, 2, 3))
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
    if flags & PACKET_LOSS:
        loss = round(1.0 + 4.0 * rand(), 2)
    elif rand() < 0.1:
        loss = round(0.01 + 0.39 * rand(), 2)
    else:
        loss = 0.0
    lost = int(sent * loss / 100)
    # Jitter and latency in ms; the product of two draws skews healthy jitter towards 0.
    jitter = round(30.0 + 50.0 * rand() if flags & HIGH_JITTER else 10.0 * rand() * rand(), 2)
    latency = round(150.0 + 150.0 * rand() if flags & HIGH_LATENCY else 120.0 * rand(), 2)
    mos = 2.5 + rand() if flags & LOW_MOS else 4.0 + 0.5 * rand()
    if flags & (HIGH_JITTER | PACKET_LOSS) and not flags & LOW_MOS:
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


@attrs.frozen
class _Behaviour:
    """What a participant did, drawn once and shared by its two representations."""

    starts: bool
    ends: bool
    muted: bool
    hold: bool
    properties: JSONDict
    events: JSONDict | None
    last_event: int | None


def _behaviour(rand: Callable[[], float], part: PartPlan, base: int) -> _Behaviour:
    is_coach = part.coaches is not None
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

    joined, left = part.joined, part.left
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
    return _Behaviour(starts, ends, muted, hold, properties, events, last_event)


def _metrics(rand: Callable[[], float], part: PartPlan, base: int) -> JSONDict | None:
    joined, left = part.joined, part.left
    if joined is None:
        return None
    seconds = left - joined if left is not None else base - joined
    silent = part.flags & SILENT
    silent_inbound = bool(silent) and rand() < 0.5
    return {
        "inbound": _stream(rand, seconds, part.flags, silent_inbound),
        "outbound": _stream(rand, seconds, part.flags, bool(silent) and not silent_inbound),
    }


def _summary_json(
    plan: ConfPlan, part: PartPlan, rng: random.Random, base: int, base_url: str
) -> tuple[JSONDict, _Behaviour]:
    """One Insights participant summary, and the behaviour its live twin shares."""
    rand = rng.random
    joined, left = part.joined, part.left
    coached_sid = part.coaches
    if part.role == "customer":
        direction = "inbound" if rand() < 0.8 else "outbound"
    else:
        direction = "outbound" if rand() < 0.7 else "inbound"
    outbound = direction == "outbound"
    caller, callee = (
        (plan.twilio_number, part.address) if outbound else (part.address, plan.twilio_number)
    )
    if joined is None:
        in_progress = plan.status == "in_progress"
        call_status = "ringing" if in_progress else pick(rand, FAILED_CALL_STATUSES)
    else:
        call_status = "answered" if left is None else "completed"
    behaviour = _behaviour(rand, part, base)
    metrics = _metrics(rand, part, base)
    summary = {
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
        "is_moderator": behaviour.starts or behaviour.ends,
        "join_time": iso8601(joined) if joined is not None else None,
        "leave_time": iso8601(left) if left is not None else None,
        "duration_seconds": left - joined if joined is not None and left is not None else None,
        "outbound_queue_length": int(rand() * 4) if outbound else None,
        "outbound_time_in_queue": int(rand() * 4000) if outbound else None,
        "jitter_buffer_size": JITTER_BUFFERS.pick(rng),
        "is_coach": coached_sid is not None,
        "coached_participants": [coached_sid] if coached_sid else None,
        "participant_region": part.region,
        "conference_region": plan.mixer_region,
        "call_type": part.call_type,
        "processing_state": plan.processing_state,
        "properties": behaviour.properties,
        "events": behaviour.events,
        "metrics": metrics,
        "url": summary_url(base_url, plan.sid, part.participant_sid),
    }
    return summary, behaviour


def _live_json(
    plan: ConfPlan, part: PartPlan, behaviour: _Behaviour, rand: Callable[[], float]
) -> JSONDict:
    """One 2010 live participant."""
    joined, left = part.joined, part.left
    created = (joined if joined is not None else plan.created) - int(rand() * 6)
    updated = max(created, left if left is not None else behaviour.last_event or 0)
    if joined is None:
        in_progress = plan.status == "in_progress"
        status = pick(rand, PENDING_LIVE_STATUSES) if in_progress else "failed"
    else:
        status = "connected" if left is None else "complete"
    return {
        "account_sid": plan.account_sid,
        "call_sid": part.call_sid,
        "label": part.label,
        "conference_sid": plan.sid,
        "date_created": rfc2822(created),
        "date_updated": rfc2822(updated),
        "end_conference_on_exit": behaviour.ends,
        "muted": behaviour.muted,
        "hold": behaviour.hold,
        "status": status,
        "start_conference_on_enter": behaviour.starts,
        "coaching": part.coaches is not None,
        "call_sid_to_coach": part.coaches,
        "queue_time": None,
        "uri": (
            f"/2010-04-01/Accounts/{plan.account_sid}/Conferences/{plan.sid}"
            f"/Participants/{part.call_sid}.json"
        ),
    }


def participants_json(
    plan: ConfPlan, rng: random.Random, base: int, base_url: str
) -> tuple[list[JSONDict], list[JSONDict]]:
    """The Insights summaries and the 2010 live participants of one conference."""
    summaries: list[JSONDict] = []
    live: list[JSONDict] = []
    for part in plan.parts:
        summary, behaviour = _summary_json(plan, part, rng, base, base_url)
        summaries.append(summary)
        live.append(_live_json(plan, part, behaviour, rng.random))
    return summaries, live


def conference_url(base_url: str, sid: str) -> str:
    return f"{base_url}/v1/Conferences/{sid}"


def summary_url(base_url: str, conference_sid: str, participant_sid: str) -> str:
    return f"{base_url}/v1/Conferences/{conference_sid}/Participants/{participant_sid}"
