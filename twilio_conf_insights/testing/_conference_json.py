"""The Insights conference summary JSON of a planned conference."""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import TYPE_CHECKING

from ._format import JSONDict, iso8601, pick, randint
from ._schema import TAGS
from ._tables import FRIENDLY_NAMES, MIXER_REGIONS, QUALITY_TAGS, SILENT

if TYPE_CHECKING:
    from ._plan import PartPlan


def _friendly_name(rng: random.Random) -> str:
    template = pick(rng.random, FRIENDLY_NAMES)
    return template.format(n=randint(rng.random, 1, 4999), hex=f"{rng.getrandbits(24):06x}")


def _max_concurrent(parts: Sequence[PartPlan]) -> int:
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


def conference_json(
    rng: random.Random,
    sid: str,
    account_sid: str,
    status: str,
    processing_state: str,
    created: int,
    started: int | None,
    ended: int | None,
    mixer_region: str | None,
    parts: list[PartPlan],
    end_reason: str | None,
    ended_by: str | None,
) -> JSONDict:
    flags = 0
    silent = 0
    for part in parts:
        flags |= part.flags
        silent += bool(part.flags & SILENT)
    tags: set[str] = set()
    quality = [name for name, bit in QUALITY_TAGS if flags & bit]
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
            requested = MIXER_REGIONS.pick(rng)
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
        severity = pick(rng.random, ("low", "medium", "high"))
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
        "max_participants": 250 if rng.random() < 0.9 else pick(rng.random, (10, 50, 100)),
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
