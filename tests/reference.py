"""Twilio's OpenAPI descriptions of our endpoints, read from ``shared/reference`` beside the repo.

The files are read where they are (the repository is checked out with ``shared/`` next to
it, or cloned from such a checkout), never copied into the project. Used by the
schema-driven property tests and by the Prism conformance run.
"""

from __future__ import annotations

import email.utils
import json
import os
import subprocess
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


def _origin_checkout(root: Path) -> Path | None:
    """The repository this one was cloned from, when that is a local path."""
    try:
        done = subprocess.run(
            ["git", "-C", str(root), "config", "--get", "remote.origin.url"],
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    url = done.stdout.strip().removeprefix("file://")
    if done.returncode != 0 or not url or "://" in url or ":" in url.split("/", 1)[0]:
        return None  # no origin, or a remote one (https://, ssh, host:path)
    origin = (root / url).resolve()
    return origin if origin.is_dir() else None


#: The repository this module belongs to.
ROOT = Path(__file__).resolve().parents[1]


def reference_dir(root: Path = ROOT) -> Path:
    """``shared/reference`` beside the repository; a clear error if absent.

    Looked for beside this checkout, then beside the checkout it was cloned from (a fresh
    clone in a temporary directory still finds the files its origin sits next to), unless
    ``TWILIO_CONF_INSIGHTS_REFERENCE`` names the directory.
    """
    configured = os.environ.get(ENV_REFERENCE_DIR)
    if configured:
        candidates = [Path(configured)]
    else:
        candidates = [root.parent / "shared" / "reference"]
        origin = _origin_checkout(root)
        if origin is not None:
            candidates.append(origin.parent / "shared" / "reference")
    for directory in candidates:
        if (directory / INSIGHTS_SPEC).is_file() and (directory / TWILIO_2010_SPEC).is_file():
            return directory
    tried = ", ".join(str(directory) for directory in candidates)
    raise FileNotFoundError(
        f"Twilio's reference OpenAPI files were not found in {tried}: check out the "
        f"'shared' folder beside the repository (or set {ENV_REFERENCE_DIR})"
    )


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
