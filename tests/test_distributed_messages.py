"""Signing keys, unit checks and the wire format of units and results, without a server."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twilio_conf_insights import ConfigurationError, InvalidArgumentError
from twilio_conf_insights.distributed import SigningKey
from twilio_conf_insights.distributed._checks import check_unit, unit_from_wire
from twilio_conf_insights.distributed._messages import (
    RejectedMessage,
    UnitMessage,
    read_result,
    read_unit_message,
    signed_result,
)
from twilio_conf_insights.distributed._signing import hkdf_sha256
from twilio_conf_insights.sync import WorkUnit

CLOCK = datetime(2026, 6, 1, 12, tzinfo=UTC)
ACCOUNT = "AC" + "a" * 32
TOKEN = "b" * 32
KEY = SigningKey.from_secret(TOKEN, account_sid=ACCOUNT)
UNIT = WorkUnit(
    subaccount="AC" + "5" * 32,
    start=CLOCK - timedelta(hours=3),
    end=CLOCK - timedelta(hours=2),
    filters=(("Status", "completed"), ("Tags", "invalid_requested_region,low_mos")),
)


def _wire(message: UnitMessage, key: SigningKey = KEY) -> dict[str, Any]:
    """The JSON a planner puts in a stream entry's data field."""
    parsed: dict[str, Any] = json.loads(message.taskiq_message(key).model_dump_json())
    return parsed


def _data(wire: dict[str, Any]) -> bytes:
    return json.dumps(wire).encode()


# -- keys ------------------------------------------------------------------------------------


def test_hkdf_matches_rfc_5869_test_case_1() -> None:
    """The derivation is HKDF-SHA256 exactly: RFC 5869's first test vector."""
    okm = hkdf_sha256(
        bytes.fromhex("0b" * 22),
        salt=bytes.fromhex("000102030405060708090a0b0c"),
        info=bytes.fromhex("f0f1f2f3f4f5f6f7f8f9"),
        length=42,
    )
    assert okm.hex() == (
        "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"
    )


def test_the_key_is_derived_never_the_secret_itself() -> None:
    """A signature under the derived key differs from one keyed with the raw token."""
    import hashlib
    import hmac

    raw = hmac.new(TOKEN.encode(), b"message", hashlib.sha256).hexdigest()
    assert KEY.sign(b"message") != raw
    assert TOKEN not in repr(KEY)
    assert KEY.fingerprint in repr(KEY)


def test_keys_differ_by_account_and_secret_and_agree_from_the_environment() -> None:
    """Same credentials, same key; another token or account, another key."""
    env = {"TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_AUTH_TOKEN": TOKEN}
    assert SigningKey.from_env(env) == KEY
    assert SigningKey.from_secret("c" * 32, account_sid=ACCOUNT) != KEY
    assert SigningKey.from_secret(TOKEN, account_sid="AC" + "d" * 32) != KEY
    api = {"TWILIO_ACCOUNT_SID": ACCOUNT, "TWILIO_API_KEY": "SK" + "1" * 32}
    api["TWILIO_API_SECRET"] = "an api secret"
    assert SigningKey.from_env(api) == SigningKey.from_secret("an api secret", account_sid=ACCOUNT)


def test_a_shared_key_from_the_environment_wins_and_is_checked() -> None:
    """TWILIO_CONF_INSIGHTS_SIGNING_KEY replaces the credentials' key; a short one is refused."""
    passphrase = "p" * 40
    env = {"TWILIO_CONF_INSIGHTS_SIGNING_KEY": passphrase, "TWILIO_AUTH_TOKEN": TOKEN}
    assert SigningKey.from_env(env) == SigningKey.from_passphrase(passphrase)
    assert SigningKey.from_env({"TWILIO_CONF_INSIGHTS_SIGNING_KEY": passphrase}) != KEY
    with pytest.raises(ConfigurationError, match="at least 32") as short:
        SigningKey.from_env({"TWILIO_CONF_INSIGHTS_SIGNING_KEY": "too-short-secret"})
    assert "too-short-secret" not in str(short.value)


def test_no_credentials_and_no_shared_key_says_what_to_set() -> None:
    """Without any secret there is no key: the error names both ways to give one."""
    with pytest.raises(ConfigurationError, match="TWILIO_CONF_INSIGHTS_SIGNING_KEY"):
        SigningKey.from_env({})


# -- a unit message on the wire --------------------------------------------------------------


def test_a_signed_unit_reads_back_exactly() -> None:
    """What a planner sends, a worker with the same key reads back as the same unit."""
    sent = UnitMessage(unit=UNIT, now=CLOCK, refresh=True)
    received = read_unit_message(_data(_wire(sent)), KEY, clock=CLOCK)
    assert received == sent


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a leaf (or an empty container) of a JSON value."""
    if isinstance(value, dict) and value:
        return [p for key, item in value.items() for p in _paths(item, (*prefix, key))]
    if isinstance(value, list) and value:
        return [p for index, item in enumerate(value) for p in _paths(item, (*prefix, index))]
    return [prefix]


_WIRE = _wire(UnitMessage(unit=UNIT, now=CLOCK, refresh=False, task_id="1" * 32))
_REPLACEMENTS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=40),
    st.just("2100-01-01T00:00:00Z"),
    st.just("AC" + "f" * 32),
    st.lists(st.text(max_size=5), max_size=2),
)


@given(
    path=st.sampled_from([p for p in _paths(_WIRE) if p[:1] != ("labels_types",)]),
    new=_REPLACEMENTS,
)
def test_any_field_changed_is_refused(path: tuple[Any, ...], new: Any) -> None:
    """Change any one field of a signed message to anything else: the worker refuses it."""
    tampered = copy.deepcopy(_WIRE)
    target = tampered
    for step in path[:-1]:
        target = target[step]
    if target[path[-1]] == new:
        return  # not a change
    target[path[-1]] = new
    with pytest.raises(RejectedMessage):
        read_unit_message(_data(tampered), KEY, clock=CLOCK)


@pytest.mark.parametrize(
    "data",
    [None, b"", b"not json", b"\xff\xfe", b"[]", b'"text"', b"{}", b"x" * 70_000],
)
def test_malformed_entries_are_refused_naming_nothing_of_theirs(data: bytes | None) -> None:
    """No data field, not JSON, not an object, too big: refused, and nothing to answer to."""
    with pytest.raises(RejectedMessage) as refused:
        read_unit_message(data, KEY, clock=CLOCK)
    assert refused.value.task_id is None


def test_a_message_signed_with_another_key_is_refused_untrusted() -> None:
    """Another key's signature: refused, and its task id is not trusted either."""
    other = SigningKey.from_passphrase("another key, at least 32 characters")
    wire = _wire(UnitMessage(unit=UNIT, now=CLOCK, refresh=False), other)
    with pytest.raises(RejectedMessage, match="signature") as refused:
        read_unit_message(_data(wire), KEY, clock=CLOCK)
    assert refused.value.task_id is None


def test_extra_labels_and_types_are_dropped_not_passed_on() -> None:
    """A label added to a signed message (ack type, timeout) never reaches taskiq."""
    wire = _wire(UnitMessage(unit=UNIT, now=CLOCK, refresh=False))
    wire["labels"] |= {"timeout": "0.001", "ack_type": "when_received"}
    received = read_unit_message(_data(wire), KEY, clock=CLOCK)
    assert received.taskiq_message().labels == {}


def test_a_signed_unit_that_fails_the_checks_names_its_task() -> None:
    """Signed by the planner but "now" in 2100: refused, with the task id to answer to."""
    message = UnitMessage(unit=UNIT, now=datetime(2100, 1, 1, tzinfo=UTC), refresh=False)
    with pytest.raises(RejectedMessage, match="ahead of this machine's clock") as refused:
        read_unit_message(_data(_wire(message)), KEY, clock=CLOCK)
    assert refused.value.task_id == message.task_id


# -- the checks a worker makes on a unit -----------------------------------------------------


def _unit(**changes: Any) -> dict[str, Any]:
    data = UNIT.to_dict() | changes
    return data


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (_unit(subaccount="AC123"), "subaccount"),
        (_unit(subaccount="AC'; DROP TABLE conferences; --"), "subaccount"),
        (_unit(subaccount=""), "subaccount"),
        (_unit(filters=[["Foo", "x"]]), "unknown conference filter"),
        (_unit(filters=[["Subaccount", "AC" + "6" * 32]]), "unknown conference filter"),
        (_unit(filters=[["CreatedAfter", "2000-01-01T00:00:00Z"]]), "unknown conference filter"),
        (_unit(filters=[["Status", "not-a-status"]]), "Status"),
        (_unit(filters=[["Status", "completed"], ["Status", "completed"]]), "twice"),
        (_unit(filters=[["Status"]]), "pairs"),
        (_unit(filters="Status=completed"), "list"),
        (_unit(start="2026-06-01 09:00:00"), "start"),
        (_unit(end=1234), "end"),
        (_unit(extra=1), "exactly the fields"),
        ({"start": "2026-06-01T09:00:00Z"}, "exactly the fields"),
        ("a unit", "exactly the fields"),
    ],
)
def test_a_unit_is_read_as_strictly_as_an_argument(data: Any, reason: str) -> None:
    """SIDs by pattern, filters by the conference filter table, times in one spelling."""
    with pytest.raises(InvalidArgumentError, match=reason):
        unit_from_wire(data)


def test_every_filter_a_planner_sends_is_accepted() -> None:
    """The planner's own spellings (one value, comma-separated lists) read back unchanged."""
    assert unit_from_wire(UNIT.to_dict()) == UNIT


@pytest.mark.parametrize(
    ("start", "end", "now", "reason"),
    [
        (-3, -2, timedelta(minutes=6), "ahead of this machine's clock"),
        (-3, -2, -timedelta(days=8), "days old"),
        (-2, -2, timedelta(0), "at or after its end"),
        (-3, -4, timedelta(0), "at or after its end"),
        (-24 * 40, -2, timedelta(0), "wider than"),
        (1, 2, timedelta(0), "starts in the future"),
        (-24 * 33, -24 * 32, timedelta(0), "Twilio keeps 30 days"),
    ],
)
def test_window_and_now_must_be_sane(start: int, end: int, now: timedelta, reason: str) -> None:
    """A window (hours from the clock) and a planner's now that no sane planner sends."""
    unit = WorkUnit(None, CLOCK + timedelta(hours=start), CLOCK + timedelta(hours=end))
    with pytest.raises(InvalidArgumentError, match=reason):
        check_unit(unit, CLOCK + now, clock=CLOCK)


@pytest.mark.parametrize("now", [timedelta(minutes=4), -timedelta(days=6), timedelta(0)])
def test_a_little_clock_skew_and_a_queued_unit_are_fine(now: timedelta) -> None:
    """A planner a few minutes ahead, or a unit that waited days in the queue, is run."""
    check_unit(UNIT, CLOCK + now, clock=CLOCK)


# -- results ---------------------------------------------------------------------------------


def test_a_signed_result_reads_back_only_for_its_own_unit() -> None:
    """A result cannot be changed, nor moved to another unit's key, nor signed by another key."""
    outcome = {"new": 3, "errors": []}
    stored = signed_result(KEY, "1" * 32, outcome)
    assert read_result(KEY, "1" * 32, stored) == outcome
    with pytest.raises(RejectedMessage):
        read_result(KEY, "2" * 32, stored)
    with pytest.raises(RejectedMessage):
        read_result(KEY, "1" * 32, stored | {"outcome": {"new": 3000, "errors": []}})
    other = SigningKey.from_passphrase("another key, at least 32 characters")
    with pytest.raises(RejectedMessage):
        read_result(KEY, "1" * 32, signed_result(other, "1" * 32, outcome))
    with pytest.raises(RejectedMessage):
        read_result(KEY, "1" * 32, outcome)
