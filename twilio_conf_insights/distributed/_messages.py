"""What crosses Redis: signed unit messages and signed results, written and read back.

A unit message is a taskiq message (JSON) whose ``kwargs`` are the unit, the planner's
"now" and ``refresh``, and whose ``signature`` label is the HMAC of the canonical form of
everything a worker acts on: task id, task name and those three arguments. A result is
``{"outcome": …, "signature": …}``, the signature covering the task id and the outcome,
so that a result cannot be forged nor moved to another unit.

Reading is strict: anything but exactly what a planner writes is a :class:`RejectedMessage`
saying why. A message whose signature matched but whose unit fails the checks of
:mod:`._checks` still names its task (the planner sent it and waits for its result).
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime
from typing import Any

import attrs
from taskiq.message import TaskiqMessage

from .._errors import InvalidArgumentError
from ..sync._units import WorkUnit, format_time
from ._checks import check_unit, time_from_wire, unit_from_wire
from ._signing import SigningKey

__all__ = [
    "SIGNATURE_LABEL",
    "TASK_NAME",
    "RejectedMessage",
    "UnitMessage",
    "canonical",
    "read_result",
    "read_unit_message",
    "signed_result",
]

#: The name a unit task is registered and sent under.
TASK_NAME = "twilio_conf_insights.sync_unit"
#: The taskiq label carrying a unit message's signature.
SIGNATURE_LABEL = "signature"
#: A unit message is a few hundred bytes; anything much larger is not one.
MAX_MESSAGE_BYTES = 64 * 1024

_TASK_ID = re.compile(r"[0-9a-f]{32}")
_MESSAGE_FIELDS = frozenset({"task_id", "task_name", "labels", "labels_types", "args", "kwargs"})
_ARGUMENTS = frozenset({"unit", "now", "refresh"})


def canonical(value: Any) -> bytes:
    """The one byte form of a JSON value that is signed: sorted keys, no spaces, ASCII."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False
    ).encode("ascii")


class RejectedMessage(Exception):
    """A message from the queue that is not acted on, and why (``str()``).

    ``task_id`` is set when the message was signed with the run's key (its planner waits
    for a result), ``None`` when nothing in it can be trusted.
    """

    def __init__(self, reason: str, *, task_id: str | None = None) -> None:
        super().__init__(reason)
        self.task_id = task_id


@attrs.frozen
class UnitMessage:
    """One unit to run, as a planner sends it: the unit, the planner's now, ``refresh``."""

    unit: WorkUnit
    now: datetime
    refresh: bool
    task_id: str = attrs.field(factory=lambda: uuid.uuid4().hex)

    def arguments(self) -> dict[str, Any]:
        """The task's keyword arguments, as JSON."""
        return {"unit": self.unit.to_dict(), "now": format_time(self.now), "refresh": self.refresh}

    def _signed_part(self) -> bytes:
        return canonical({"task_id": self.task_id, "task_name": TASK_NAME, **self.arguments()})

    def taskiq_message(self, key: SigningKey | None = None) -> TaskiqMessage:
        """The taskiq message of this unit; signed when ``key`` is given."""
        labels = {SIGNATURE_LABEL: key.sign(self._signed_part())} if key is not None else {}
        return TaskiqMessage(
            task_id=self.task_id,
            task_name=TASK_NAME,
            labels=labels,
            labels_types=None,
            args=[],
            kwargs=self.arguments(),
        )


def _json_object(data: object) -> dict[str, Any]:
    if not isinstance(data, bytes):
        raise RejectedMessage("the entry has no data field")
    if len(data) > MAX_MESSAGE_BYTES:
        raise RejectedMessage(f"the entry's data is {len(data)} bytes, not a unit message")
    try:
        parsed = json.loads(data)
    except ValueError:  # also UnicodeDecodeError
        raise RejectedMessage("the entry's data is not JSON") from None
    if not isinstance(parsed, dict):
        raise RejectedMessage("the entry's data is not a JSON object")
    return parsed


def read_unit_message(data: object, key: SigningKey, *, clock: datetime) -> UnitMessage:
    """The unit message in a stream entry's ``data`` field, signed with ``key`` and sane.

    ``clock`` is this machine's time (see :func:`._checks.check_unit`). Raises
    :class:`RejectedMessage`.
    """
    message = _json_object(data)
    task_id, name = message.get("task_id"), message.get("task_name")
    labels, kwargs = message.get("labels"), message.get("kwargs")
    if not set(message) <= _MESSAGE_FIELDS:
        raise RejectedMessage("not a unit message (unknown fields)")
    if not isinstance(task_id, str) or not _TASK_ID.fullmatch(task_id):
        raise RejectedMessage("not a unit message (no task id of 32 hex digits)")
    if name != TASK_NAME or message.get("args") != []:
        raise RejectedMessage("not a unit message (another task)")
    if not isinstance(kwargs, dict) or set(kwargs) != _ARGUMENTS or not isinstance(labels, dict):
        raise RejectedMessage("not a unit message (other arguments)")
    signed = canonical({"task_id": task_id, "task_name": name, **kwargs})
    if not key.verify(signed, labels.get(SIGNATURE_LABEL)):
        raise RejectedMessage("its signature does not match this worker's key")
    try:
        unit = unit_from_wire(kwargs["unit"])
        now = time_from_wire(kwargs["now"], "now")
        if not isinstance(kwargs["refresh"], bool):
            raise InvalidArgumentError("refresh must be true or false")
        check_unit(unit, now, clock=clock)
    except InvalidArgumentError as error:
        raise RejectedMessage(f"invalid unit: {error}", task_id=task_id) from None
    return UnitMessage(unit=unit, now=now, refresh=kwargs["refresh"], task_id=task_id)


def signed_result(key: SigningKey, task_id: str, outcome: dict[str, Any]) -> dict[str, Any]:
    """A unit's result as stored: the outcome and its signature, bound to ``task_id``."""
    signature = key.sign(canonical({"task_id": task_id, "outcome": outcome}))
    return {"outcome": outcome, "signature": signature}


def read_result(key: SigningKey, task_id: str, stored: object) -> dict[str, Any]:
    """The outcome of a result stored for ``task_id``; :class:`RejectedMessage` if forged."""
    if not isinstance(stored, dict) or set(stored) != {"outcome", "signature"}:
        raise RejectedMessage("the result is not a signed outcome")
    outcome = stored["outcome"]
    if not isinstance(outcome, dict) or not key.verify(
        canonical({"task_id": task_id, "outcome": outcome}), stored["signature"]
    ):
        raise RejectedMessage("the result's signature does not match this run's key")
    return outcome
