"""The README shows the web-service recipes exactly as the tests run them."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RECIPES = ROOT / "tests" / "recipes"
# A recipe block: the not-run marker naming its file, then a Python fence.
SHOWN = re.compile(
    r"^<!-- not-run: shown from (tests/recipes/\w+\.py) and tested there -->\n"
    r"```python\n(.*?)^```$",
    re.MULTILINE | re.DOTALL,
)


def shown_in_readme() -> list[tuple[str, str]]:
    return SHOWN.findall((ROOT / "README.md").read_text(encoding="utf-8"))


def test_every_recipe_is_shown_once() -> None:
    """Each recipe module appears in the README exactly once, and nothing else claims to."""
    shown = sorted(path for path, _ in shown_in_readme())
    files = sorted(
        f"tests/recipes/{path.name}" for path in RECIPES.glob("*.py") if path.name != "__init__.py"
    )
    assert shown == files


def test_readme_blocks_are_the_tested_files() -> None:
    """Each recipe block of the README is its module's text, byte for byte."""
    for path, code in shown_in_readme():
        assert code == (ROOT / path).read_text(encoding="utf-8"), f"README differs from {path}"
