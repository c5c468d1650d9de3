"""JSON parsing shared by the transport and the stores: orjson when installed.

One owner for the choice, so that every reader of API JSON (responses, stored ``json``
columns) parses it the same way and takes the ``fast`` extra when it is there.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from ._errors import DecodeError

__all__ = ["json_loads", "parse_json_body"]

try:  # the optional ``fast`` extra
    import orjson

    json_loads: Callable[[bytes | bytearray | str], Any] = orjson.loads
except ImportError:  # pragma: no cover - depends on the environment
    json_loads = json.loads


def parse_json_body(body: bytes | bytearray, *, url: str = "") -> Any:
    """Parse a 2xx body as JSON; anything else is a retryable :class:`DecodeError`.

    A body that is not JSON at all is most likely damaged in transit (a proxy error page, a
    cut connection without Content-Length), so it is worth another attempt.
    """
    try:
        return json_loads(body)
    except (ValueError, RecursionError):
        pass
    if json_loads is not json.loads:
        # orjson refuses a few valid documents (integers beyond 64 bits): ask the stdlib.
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            pass
    raise DecodeError(
        "response body is not valid JSON", resource="response", url=url, retryable=True
    )
