"""JSON text by orjson where it is exactly the standard library's (``cli/_json_text``)."""

from __future__ import annotations

import io
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from twilio_conf_insights.cli._json_text import indented_text, write_utf8

_floats = st.floats() | st.floats(min_value=-1e-3, max_value=1e-3)
_values = st.recursive(
    st.none() | st.booleans() | st.integers() | _floats | st.text(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=16,
)


@settings(max_examples=400, deadline=None)
@given(_values)
def test_indented_text_is_json_dumps_or_nothing(value: Any) -> None:
    """indented_text gives json.dumps(indent=2)'s exact text, or None for the caller to use it."""
    text = indented_text(value)
    assert text is None or text.decode() == json.dumps(value, ensure_ascii=False, indent=2)


def test_a_plain_report_is_written_by_orjson() -> None:
    """A report-like record of plain values takes the fast path (not None)."""
    record = {"conferences": 3, "by_status": {"completed": 3}, "poor": [{"mos": 3.1}], "x": []}
    text = indented_text(record)
    assert text is not None
    assert text.decode() == json.dumps(record, ensure_ascii=False, indent=2)


@given(st.text(), st.integers(1, 8))
def test_utf8_is_written_whole_whatever_the_chunks(text: str, chunk: int) -> None:
    """Chunks that cut a character in two still write the text exactly."""
    stream = io.StringIO()
    write_utf8(text.encode(), stream, chunk=chunk)
    assert stream.getvalue() == text
