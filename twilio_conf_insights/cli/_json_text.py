"""JSON text exactly as the standard library writes it, written by orjson when it can be.

Exports and reports of a year's store write millions of values: the standard library's
encoder (pure Python when it indents) took seconds of it. orjson writes the same text for
plain JSON but for floats below 1e-4 in magnitude, NaN and the infinities (``null``) and
integers beyond 64 bits (refused); these functions use orjson's text only where it cannot
differ, and the standard library's otherwise (tests hold the two equal).
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable
from typing import Any, TextIO

__all__ = ["compact_text", "indented_text", "write_utf8"]

_dumps: Callable[..., bytes] | None
_INDENT = 0
try:  # the `fast` extra
    import orjson

    _dumps = orjson.dumps
    _INDENT = orjson.OPT_INDENT_2
except ImportError:  # pragma: no cover - depends on the environment
    _dumps = None

# Where orjson's text can differ from json.dumps' for plain JSON: floats below 1e-4 in
# magnitude, which orjson writes as 0.00001 or 1e-6 and json.dumps as 1e-05 and 1e-06. A
# string holding the same characters only costs the slower path.
_MAY_DIFFER = re.compile(rb"0\.0000|e-[1-9](?![0-9])")


def compact_text(record: Any, *, plain: bool = False) -> str:
    """``json.dumps(record, ensure_ascii=False, separators=(",", ":"))``, faster.

    ``plain`` says that ``record`` holds no NaN, infinity or integer beyond 64 bits (orjson
    read it): then orjson writes it, and its text is used whenever it cannot differ.
    """
    if plain and _dumps is not None:
        text = _dumps(record)
        if _MAY_DIFFER.search(text) is None:
            return text.decode()
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def indented_text(record: Any) -> bytes | None:
    """``json.dumps(record, ensure_ascii=False, indent=2)`` by orjson (UTF-8), or ``None``.

    ``None`` when orjson is not installed or its text could differ: the caller writes the
    standard library's text then.
    """
    if _dumps is None:
        return None
    try:
        # The C encoder (no indent) refuses NaN and the infinities, which orjson writes as
        # null; both refuse what is not JSON. Its text is dropped before orjson writes.
        json.dumps(record, allow_nan=False)
        text = _dumps(record, option=_INDENT)
    except (ValueError, TypeError):
        return None
    return None if _MAY_DIFFER.search(text) else text


def write_utf8(text: bytes, stream: TextIO, *, chunk: int = 1 << 20) -> None:
    """Write UTF-8 ``text`` to a text stream a megabyte at a time (not one copy as ``str``)."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    view = memoryview(text)
    for start in range(0, len(view), chunk):
        piece = view[start : start + chunk]
        stream.write(decoder.decode(piece, final=start + chunk >= len(view)))
