"""Hostile input to every decoder: records always decode, only shapes raise DecodeError.

Also the schema-driven property tests: records built from Twilio's reference schemas, with
any fields mutated to any JSON value, decode, round-trip exactly, and name what did not fit.
"""

from __future__ import annotations

import contextlib
import json
from datetime import datetime
from typing import Any

import attrs
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from yarl import URL

from tests import payloads, reference
from twilio_conf_insights import (
    AvgMax,
    ConferenceSummary,
    DecodeError,
    DetectedIssues,
    ForeignOriginError,
    Participant,
    ParticipantMetrics,
    ParticipantProperties,
    ParticipantSummary,
    StreamMetrics,
)
from twilio_conf_insights._decoding import decode
from twilio_conf_insights._errors import ApiError, error_from_response
from twilio_conf_insights._models import TwilioModel
from twilio_conf_insights._pagination import API_2010_PAGES, INSIGHTS_PAGES
from twilio_conf_insights._transport import parse_json_body
from twilio_conf_insights.eventstreams import CloudEvent

MODELS: list[type[Any]] = [ConferenceSummary, ParticipantSummary, Participant]
URL_ = URL("https://insights.twilio.com/v1/Conferences")


def _decode_everything(data: Any) -> None:
    for model in MODELS:
        if type(data) is dict:
            # Any object is a record: it decodes, and gives back exactly what it was.
            assert json.dumps(decode(data, model).to_dict()) == json.dumps(data)
        else:
            with pytest.raises(DecodeError):
                decode(data, model)
    for page_format, key in ((INSIGHTS_PAGES, "conferences"), (API_2010_PAGES, "participants")):
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
    """Bytes that are not JSON raise a retryable DecodeError; the rest decode as any JSON does."""
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
    """Any JSON object round-trips through every model; other values raise DecodeError."""
    _decode_everything(data)


@settings(max_examples=300, deadline=None)
@given(
    _mutations(payloads.conference_summary())
    | _mutations(payloads.participant_summary())
    | _mutations(payloads.live_participant())
    | _mutations(payloads.participant_summary()["metrics"]["inbound"])
)
def test_documented_shapes_with_one_field_wrong(data: dict[str, Any]) -> None:
    """A documented shape with one field wrong round-trips; pages of it raise only typed errors."""
    _decode_everything(data)
    _decode_everything(
        {"conferences": [data], "meta": {"key": "conferences", "next_page_url": None}}
    )
    _decode_everything({"participants": [data, data], "next_page_uri": None})


@settings(max_examples=200, deadline=None)
@given(payloads.json_values)
def test_random_page_envelopes(meta: Any) -> None:
    """Pages whose meta or next_page_uri is any JSON fail, if at all, with a typed error."""
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
    """Deep, huge, non-UTF-8 or NaN bodies raise DecodeError or decode like any other JSON."""
    try:
        data = parse_json_body(body)
    except DecodeError:
        return
    _decode_everything(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300), st.sampled_from([400, 401, 403, 404, 418, 429, 500, 503]))
def test_error_bodies_always_map_to_an_api_error(body: bytes, status: int) -> None:
    """Any error body with any error status becomes an ApiError with that status and a message."""
    error = error_from_response(status, body, method="GET", url="https://x")
    assert isinstance(error, ApiError)
    assert error.status == status
    assert str(error)


# -- records built from the reference schemas -------------------------------------------

_SPELLINGS_ISO = ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%M:%S+00:00")
_SPELLINGS_RFC = ("%a, %d %b %Y %H:%M:%S +0000", "%a, %d %b %Y %H:%M:%S GMT")
_moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1))

#: Values Twilio plausibly sends by mistake, beside arbitrary JSON.
_drift: st.SearchStrategy[Any] = st.sampled_from(
    ["", "64", "true", "false", "n/a", "not a date", 64.5, 64.0, 1, 0, [None], [], {}, None]
)
_any_json = payloads.json_values | _drift


def _from_schema(spec: dict[str, Any], schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Valid values of one property, in the spellings Twilio uses."""
    schema = reference.resolve(spec, schema)
    kind = schema.get("type")
    values: st.SearchStrategy[Any]
    if kind is None:
        values = payloads.json_values
    elif kind == "string" and schema.get("format") == "date-time":
        values = st.builds(lambda d, f: d.strftime(f), _moments, st.sampled_from(_SPELLINGS_ISO))
    elif kind == "string" and schema.get("format") == "date-time-rfc-2822":
        values = st.builds(lambda d, f: d.strftime(f), _moments, st.sampled_from(_SPELLINGS_RFC))
    elif kind == "string" and "enum" in schema:
        values = st.sampled_from(schema["enum"]) | st.text(min_size=1, max_size=12)
    elif kind == "string" and "pattern" in schema:
        values = st.from_regex(schema["pattern"], fullmatch=True)
    elif kind == "string":
        values = st.text(max_size=30)
    elif kind == "integer":
        values = st.integers(-(2**53), 2**53)
    elif kind == "number":
        values = st.integers(0, 10**6) | st.floats(allow_nan=False, allow_infinity=False)
    elif kind == "boolean":
        values = st.booleans()
    elif kind == "array":
        values = st.lists(_from_schema(spec, schema.get("items", {})), max_size=3)
    elif kind == "object":
        values = st.dictionaries(st.text(max_size=8), payloads.json_values, max_size=3)
    else:
        raise AssertionError(f"unexpected schema type {kind!r}")
    return st.none() | values if schema.get("nullable") else values


def _records(model: str) -> st.SearchStrategy[dict[str, Any]]:
    spec, properties = reference.record_schema(model)
    return st.fixed_dictionaries(
        {key: _from_schema(spec, schema) for key, schema in properties.items()}
    )


_MODELS_BY_NAME: dict[str, type[TwilioModel]] = {
    "ConferenceSummary": ConferenceSummary,
    "ParticipantSummary": ParticipantSummary,
    "Participant": Participant,
}


def _is_plain_json(value: Any) -> bool:
    kind = type(value)
    if kind is dict:
        return all(type(k) is str and _is_plain_json(v) for k, v in value.items())
    if kind is list:
        return all(_is_plain_json(item) for item in value)
    return kind in (str, int, float, bool, type(None))


@pytest.mark.parametrize("name", sorted(_MODELS_BY_NAME))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_schema_records_with_mutated_fields_decode_and_name_exactly_those(
    name: str, data: st.DataObject
) -> None:
    """Fields set to any JSON: the record decodes, round-trips, and lists exactly the misfits."""
    model = _MODELS_BY_NAME[name]
    _, properties = reference.record_schema(name)
    record = data.draw(_records(name), label="record")
    keys = data.draw(st.sets(st.sampled_from(sorted(properties)), max_size=4), label="mutated")
    for key in sorted(keys):
        record[key] = data.draw(_any_json, label=key)
    expected = {key for key in keys if not reference.fits(record[key], properties[key])}
    event(f"fields that do not fit: {len(expected)}")
    sent = json.dumps(record)

    parsed = model.from_dict(json.loads(sent))
    assert set(parsed.problems) == expected
    assert json.dumps(parsed.to_dict()) == sent
    page = {"items": [json.loads(sent), record], "meta": {"key": "items"}}
    items = INSIGHTS_PAGES.parse(page, model, "items", URL_).items
    assert [json.dumps(item.to_dict()) for item in items] == [sent, sent]


@pytest.mark.parametrize("name", sorted(_MODELS_BY_NAME))
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_model_round_trips_through_plain_json(name: str, data: st.DataObject) -> None:
    """from_dict(m.to_dict()) == m, decoded or built in Python; to_dict() is plain JSON."""
    model = _MODELS_BY_NAME[name]
    parsed = model.from_dict(data.draw(_records(name)))
    built = attrs.evolve(parsed)  # no JSON kept: to_dict() is built from the attributes
    for instance in (parsed, built):
        out = instance.to_dict()
        assert _is_plain_json(out)
        assert model.from_dict(out) == instance


@settings(max_examples=100, deadline=None)
@given(
    payloads.stream,
    st.sampled_from(sorted(payloads.stream_metrics())),
    _any_json,
    st.booleans(),
)
def test_typed_views_degrade_per_value(
    stream: dict[str, Any], key: str, value: Any, enter_muted: bool
) -> None:
    """Inside metrics, one value that does not fit reads None alone; the views round-trip."""
    stream = {**stream, key: value}
    metrics_json = {"inbound": stream, "outbound": payloads.stream_metrics()}
    body = payloads.participant_summary(metrics=metrics_json)
    summary = ParticipantSummary.from_dict(body)
    metrics = summary.metrics
    assert metrics is not None and metrics.outbound is not None
    assert metrics.outbound.problems == {}
    assert metrics.inbound is not None
    assert all(path.startswith(f"inbound.{key}") for path in metrics.problems)
    for view in (metrics, metrics.inbound, metrics.outbound, summary.properties):
        assert view is not None and type(view).from_dict(view.to_dict()) == view
    assert metrics.to_dict() == metrics_json


def test_nested_models_are_all_covered() -> None:
    """The round-trip tests reach every model class the package defines."""
    covered = {
        ConferenceSummary,
        ParticipantSummary,
        Participant,
        DetectedIssues,
        ParticipantMetrics,
        StreamMetrics,
        AvgMax,
        ParticipantProperties,
        CloudEvent,  # round-tripped in tests/test_eventstreams.py
    }
    assert set(TwilioModel.__subclasses__()) == covered
