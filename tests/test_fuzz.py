"""Hostile input to every decoder: only DecodeError may escape."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from yarl import URL

from tests import payloads
from twilio_conf_insights import (
    ConferenceSummary,
    DecodeError,
    ForeignOriginError,
    Participant,
    ParticipantSummary,
)
from twilio_conf_insights._decoding import decode
from twilio_conf_insights._errors import ApiError, error_from_response
from twilio_conf_insights._pagination import INSIGHTS_PAGES, LEGACY_PAGES
from twilio_conf_insights._transport import parse_json_body

MODELS: list[type[Any]] = [ConferenceSummary, ParticipantSummary, Participant]
URL_ = URL("https://insights.twilio.com/v1/Conferences")


def _decode_everything(data: Any) -> None:
    for model in MODELS:
        with contextlib.suppress(DecodeError):
            decode(data, model)
    for page_format, key in ((INSIGHTS_PAGES, "conferences"), (LEGACY_PAGES, "participants")):
        for model in MODELS:
            with contextlib.suppress(DecodeError, ForeignOriginError):
                page_format.parse(data, model, key, URL_)


def _mutations(base: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """The documented shape with one field replaced by arbitrary JSON."""
    return st.builds(
        lambda key, value: {**base, key: value}, st.sampled_from(sorted(base)), payloads.json_values
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_random_bytes(body: bytes) -> None:
    try:
        data = parse_json_body(body)
    except DecodeError as exc:
        retryable = exc.retryable
    else:
        _decode_everything(data)
        return
    assert retryable  # a body that is not JSON is worth another attempt


@settings(max_examples=300, deadline=None)
@given(payloads.json_values)
def test_random_json(data: Any) -> None:
    _decode_everything(data)


@settings(max_examples=300, deadline=None)
@given(
    _mutations(payloads.conference_summary())
    | _mutations(payloads.participant_summary())
    | _mutations(payloads.live_participant())
    | _mutations(payloads.participant_summary()["metrics"]["inbound"])
)
def test_documented_shapes_with_one_field_wrong(data: dict[str, Any]) -> None:
    _decode_everything(data)
    _decode_everything(
        {"conferences": [data], "meta": {"key": "conferences", "next_page_url": None}}
    )
    _decode_everything({"participants": [data, data], "next_page_uri": None})


@settings(max_examples=200, deadline=None)
@given(payloads.json_values)
def test_random_page_envelopes(meta: Any) -> None:
    _decode_everything({"conferences": [payloads.conference_summary()], "meta": meta})
    _decode_everything({"participants": [payloads.live_participant()], "next_page_uri": meta})


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,  # deeper than any parser recurses
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b"\xff\xfe\x00{",
        b'{"conference_sid": "CF' + b"a" * 10_000_000 + b'"}',
        b"1" * 5000,  # a 5000-digit integer
        b"NaN",
        json.dumps({"conferences": [{}] * 1000, "meta": {"key": "conferences"}}).encode(),
    ],
    ids=["deep-array", "deep-object", "bad-utf8", "huge-string", "huge-int", "nan", "empty-items"],
)
def test_adversarial_bodies(body: bytes) -> None:
    try:
        data = parse_json_body(body)
    except DecodeError:
        return
    _decode_everything(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.sampled_from([400, 401, 403, 404, 418, 429, 500, 503]))
def test_error_bodies_always_map_to_an_api_error(body: bytes, status: int) -> None:
    error = error_from_response(status, body, method="GET", url="https://x")
    assert isinstance(error, ApiError)
    assert error.status == status
    assert str(error)
