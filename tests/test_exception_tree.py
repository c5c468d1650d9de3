"""The exception tree drawn in the errors module's docstring is the real one."""

from __future__ import annotations

import re

import twilio_conf_insights
from twilio_conf_insights import _errors


def _drawn_tree() -> list[tuple[int, str]]:
    """(depth, class name) for every line of the drawing, in order."""
    drawing = _errors.__doc__.split("::", 1)[1] if _errors.__doc__ else ""
    rows = []
    for line in drawing.splitlines():
        match = re.match(r"^    ((?:[│ ] {3}|[├└]── )*)([A-Z]\w+Error)\b", line)
        if match:
            rows.append((len(match.group(1)) // 4, match.group(2)))
    return rows


def test_the_drawn_exception_tree_matches_the_classes() -> None:
    """Every class in the drawing exists publicly and subclasses the one it is drawn under."""
    rows = _drawn_tree()
    assert len(rows) >= 15
    parents: list[str] = []
    for depth, name in rows:
        error = getattr(twilio_conf_insights, name)
        del parents[depth:]
        if parents:
            assert issubclass(error, getattr(twilio_conf_insights, parents[-1])), name
        else:
            assert error.__bases__[0] in (Exception, ValueError), name
        parents.append(name)


def test_every_public_error_is_drawn() -> None:
    """No public exception is missing from the drawing."""
    drawn = {name for _, name in _drawn_tree()}
    public = {
        name
        for name in twilio_conf_insights.__all__
        if isinstance(getattr(twilio_conf_insights, name), type)
        and issubclass(getattr(twilio_conf_insights, name), BaseException)
    }
    assert public == drawn
