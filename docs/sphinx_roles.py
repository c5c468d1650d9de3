"""A griffe extension for the API reference: the docstrings' reST markup as Markdown.

The package's docstrings name other objects the way Sphinx does (``:class:`Store```), and
end a paragraph with ``::`` before an indented example. mkdocstrings renders Markdown, so
each role becomes inline code of the name it shows (``~a.b.C`` shows ``C``) and ``::``
becomes ``:``; the indented example stays a code block.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?[a-z]+:`(~?)([^`<]*?)(?:\s*<([^`>]+)>)?`")
_PARAGRAPH_BEFORE_EXAMPLE = re.compile(r"(?<=\S)::$", re.MULTILINE)
_LONE_LITERAL_MARK = re.compile(r"^[ \t]*::[ \t]*$", re.MULTILINE)


def _role_as_code(match: re.Match[str]) -> str:
    short, text, target = match.groups()
    name = text.strip() or (target or "")
    if short:
        name = name.rsplit(".", 1)[-1]
    return f"`{name}`"


def markdown(text: str) -> str:
    """``text`` with Sphinx roles as inline code and ``::`` as ``:``."""
    text = _ROLE.sub(_role_as_code, text)
    text = _PARAGRAPH_BEFORE_EXAMPLE.sub(":", text)
    return _LONE_LITERAL_MARK.sub("", text)


class SphinxRoles(griffe.Extension):
    """Rewrites every loaded docstring with :func:`markdown`."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Rewrite ``obj``'s docstring as it is loaded."""
        if obj.docstring is not None:
            obj.docstring.value = markdown(obj.docstring.value)
