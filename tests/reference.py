"""Twilio's OpenAPI descriptions of our endpoints, read from ``shared/reference`` beside the repo.

The files are read where they are (the repository is checked out with ``shared/`` next to
it), never copied into the project. Used by the schema-driven property tests and by the
Prism conformance run.
"""

from __future__ import annotations

import email.utils
import json
import os
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

__all__ = [
    "INSIGHTS_SPEC",
    "SCHEMAS",
    "TWILIO_2010_SPEC",
    "fits",
    "load_spec",
    "record_schema",
    "reference_dir",
    "resolve",
]

INSIGHTS_SPEC = "insights_v1_conferences.openapi.json"
TWILIO_2010_SPEC = "api_v2010_conference_participants.openapi.json"

#: Model name -> (spec file, schema name) of its record.
SCHEMAS = {
    "ConferenceSummary": (INSIGHTS_SPEC, "insights.v1.conference"),
    "ParticipantSummary": (INSIGHTS_SPEC, "insights.v1.conference.conference_participant"),
    "Participant": (TWILIO_2010_SPEC, "api.v2010.account.conference.participant"),
}

#: Overrides the location, e.g. for a checkout laid out differently.
ENV_REFERENCE_DIR = "TWILIO_CONF_INSIGHTS_REFERENCE"


def reference_dir() -> Path:
    """``../shared/reference`` relative to the repository root; a clear error if absent."""
    configured = os.environ.get(ENV_REFERENCE_DIR)
    root = Path(__file__).resolve().parents[1]
    directory = Path(configured) if configured else root.parent / "shared" / "reference"
    if not (directory / INSIGHTS_SPEC).is_file() or not (directory / TWILIO_2010_SPEC).is_file():
        raise FileNotFoundError(
            f"Twilio's reference OpenAPI files were not found in {directory}: check out the "
            f"'shared' folder beside the repository (or set {ENV_REFERENCE_DIR})"
        )
    return directory


@cache
def load_spec(name: str) -> dict[str, Any]:
    """One reference file, parsed."""
    spec: dict[str, Any] = json.loads((reference_dir() / name).read_text(encoding="utf-8"))
    return spec


def resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` with a top-level ``$ref`` replaced by its target (keeping ``nullable``)."""
    ref = schema.get("$ref")
    if ref is None:
        return schema
    target: Any = spec
    for part in str(ref).removeprefix("#/").split("/"):
        target = target[part]
    return {**target, **{k: v for k, v in schema.items() if k != "$ref"}}


def record_schema(model: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """The spec and the resolved property schemas of ``model``'s records."""
    file, name = SCHEMAS[model]
    spec = load_spec(file)
    properties = spec["components"]["schemas"][name]["properties"]
    return spec, {key: resolve(spec, value) for key, value in properties.items()}


def _reads_as_time(text: str) -> bool:
    for parse in (datetime.fromisoformat, email.utils.parsedate_to_datetime):
        try:
            parse(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            continue
        return True
    return False


def fits(value: Any, schema: dict[str, Any], *, top: bool = True) -> bool:
    """Whether a JSON value fits a property's documented type.

    ``null`` fits every top-level field (every field is optional in the models); enum
    strings need not be known values (Twilio adds values); timestamps must read as a time.
    """
    if value is None:
        return top
    kind = schema.get("type")
    if kind is None:
        return True
    if kind == "string":
        if type(value) is not str:
            return False
        return not str(schema.get("format", "")).startswith("date-time") or _reads_as_time(value)
    if kind == "integer":
        return type(value) is int or (type(value) is float and value.is_integer())
    if kind == "number":
        return type(value) in (int, float)
    if kind == "boolean":
        return type(value) is bool
    if kind == "array":
        items = schema.get("items", {})
        return type(value) is list and all(fits(item, items, top=False) for item in value)
    if kind == "object":
        return type(value) is dict
    raise AssertionError(f"unexpected schema type {kind!r}")
