"""JSON parsing shared by the transport and the stores: orjson when installed.

One owner for the choice, so that every reader of API JSON (responses, stored ``json``
columns) parses it the same way and takes the ``fast`` extra when it is there.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

__all__ = ["json_loads"]

try:  # the optional ``fast`` extra: two to three times faster than the standard library
    import orjson

    #: Parse JSON text (``bytes`` or ``str``): ``orjson.loads`` if installed, else ``json.loads``.
    json_loads: Callable[[bytes | str], Any] = orjson.loads
except ImportError:  # pragma: no cover - depends on the environment
    json_loads = json.loads
