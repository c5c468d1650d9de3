"""The command-line modules import one another without cycles, even for type checking."""

from __future__ import annotations

import ast
from pathlib import Path

import twilio_conf_insights.cli

CLI = Path(twilio_conf_insights.cli.__file__).parent


def _imports(path: Path) -> set[str]:
    """The sibling modules ``path`` imports (``from ._x import``), TYPE_CHECKING blocks too."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module)
            else:  # from . import _x
                found |= {alias.name for alias in node.names}
    return found


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle of ``graph`` (module -> imported modules), or ``None``."""
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> list[str] | None:
        if module in path:
            return [*path[path.index(module) :], module]
        if module in done:
            return None
        for imported in sorted(graph.get(module, ())):
            if found := visit(imported, [*path, module]):
                return found
        done.add(module)
        return None

    for module in sorted(graph):
        if found := visit(module, []):
            return found
    return None


def test_cycle_finder_finds_a_cycle() -> None:
    """The checker below is able to fail: a two-module cycle is found."""
    assert _cycle({"a": {"b"}, "b": {"a"}, "c": set()}) == ["a", "b", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_cli_modules_have_no_import_cycle() -> None:
    """Runtime and Command live in their own module: no cli module imports back its importer."""
    graph = {path.stem: _imports(path) for path in CLI.glob("*.py")}
    assert _cycle(graph) is None
