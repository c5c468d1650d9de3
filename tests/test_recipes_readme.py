"""The recipe modules under ``tests/recipes/`` are the single source of the recipes' code.

The documentation includes them by path (``--8<-- "tests/recipes/NAME.py"``) or marks a
block as ``<!-- not-run: shown from tests/recipes/NAME.py and tested there -->``; the tests
serve the modules themselves. These checks keep the references honest: every file a page
names exists, and every recipe is a complete module a reader can copy.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
RECIPES = sorted(
    path for path in (ROOT / "tests" / "recipes").glob("*.py") if path.name != "__init__.py"
)
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
# A page naming a recipe file: the not-run marker, or a snippet include.
NAMED = re.compile(
    r"<!-- not-run: shown from (tests/recipes/\w+\.py) and tested there -->"
    r'|--8<-- "(tests/recipes/\w+\.py)"'
)


def test_every_recipe_a_page_names_exists() -> None:
    """No page claims to show a recipe file that is not there."""
    named = {
        first or second
        for page in PAGES
        if page.exists()
        for first, second in NAMED.findall(page.read_text(encoding="utf-8"))
    }
    assert named, "no page names a recipe"
    assert sorted(name for name in named if not (ROOT / name).is_file()) == []


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
