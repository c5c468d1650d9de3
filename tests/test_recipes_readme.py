"""The recipe modules under ``tests/recipes/`` are the single source of the recipes' code.

A page shows a recipe by including the file itself, in a block of its own marked as run
elsewhere::

    <!-- not-run: shown from tests/recipes/NAME.py and tested there -->
    ```python
    --8<-- "tests/recipes/NAME.py"
    ```

and the tests serve the modules themselves. These checks own the recipes: each is shown on
exactly one page, under a marker that names the file it includes, and each is a complete,
documented module a reader can copy. (That every include names a file that exists, and
that every other block runs, is ``tests/test_docs.py``'s.)
"""

from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RECIPES = sorted(
    path for path in (ROOT / "tests" / "recipes").glob("*.py") if path.name != "__init__.py"
)
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
#: Any include of a recipe file, wherever it is.
INCLUDED = re.compile(r'--8<-- "(tests/recipes/[^"]+)"')
#: An include of a recipe as a block of its own, under the marker that names it.
SHOWN = re.compile(
    r"^<!-- not-run: shown from (tests/recipes/\S+) and tested there -->\n"
    r'```python\n--8<-- "(tests/recipes/[^"]+)"\n```$',
    re.MULTILINE,
)


def _pages() -> dict[str, str]:
    return {page.relative_to(ROOT).as_posix(): page.read_text(encoding="utf-8") for page in PAGES}


def test_every_recipe_is_shown_once_as_the_file_itself() -> None:
    """Each recipe module is included by exactly one block of one page, and by no other text."""
    shown: Counter[str] = Counter()
    for page, text in _pages().items():
        blocks = SHOWN.findall(text)
        for marker, include in blocks:
            assert marker == include, f"{page}: the marker names {marker}, the block {include}"
        assert sorted(include for _, include in blocks) == sorted(INCLUDED.findall(text)), (
            f"{page} includes a recipe outside a block of its own"
        )
        shown.update(include for _, include in blocks)
    files = [path.relative_to(ROOT).as_posix() for path in RECIPES]
    assert sorted(shown) == sorted(files), "a recipe no page shows, or a page shows a non-recipe"
    assert [name for name, count in shown.items() if count > 1] == [], "a recipe shown twice"


@pytest.mark.parametrize("path", RECIPES, ids=lambda path: path.name)
def test_each_recipe_is_a_documented_module(path: Path) -> None:
    """Each recipe parses, says what it is, and documents its top-level functions, classes
    and methods."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    assert ast.get_docstring(tree), f"{path.name} has no module docstring"
    kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    members = [node for node in tree.body if isinstance(node, kinds)]
    members += [
        node
        for cls in tree.body
        if isinstance(cls, ast.ClassDef)
        for node in cls.body
        if isinstance(node, kinds)
    ]
    undocumented = [
        node.name
        for node in members
        if not node.name.startswith("_") and not ast.get_docstring(node)
    ]
    assert undocumented == [], f"{path.name}: undocumented {undocumented}"
