"""The README is the short front door: what it is, the two set-up commands, the quickstart,
and links into the documentation. Its examples run in ``tests/test_docs.py`` with the
pages'. These tests keep it short, keep its set-up commands the ones CI runs, and keep the
supported Pythons one list.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
MAX_LINES = 250


def section(title: str) -> str:
    """The README's ``## title`` section, up to the next ``## ``."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.M | re.S)
    assert match is not None, f"the README has no '## {title}' section"
    return match.group(1)


def fenced(text: str) -> list[str]:
    """The contents of the fenced code blocks of ``text``."""
    return re.findall(r"^```\w*\n(.*?)^```$", text, re.M | re.S)


def test_the_readme_is_short() -> None:
    """The README stays a front door of at most 250 lines; the guides live in docs/."""
    assert len(README.splitlines()) <= MAX_LINES


def test_set_up_is_two_commands_and_ci_runs_the_test_command() -> None:
    """Set up holds exactly two commands: the main job, then the test command .ci/run runs."""
    main_job, tests = [block.strip() for block in fenced(section("Set up"))]
    assert main_job.endswith("--demo report"), main_job
    ci_lines = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert tests in ci_lines, f".ci/run does not run the README's test command {tests!r}"


def test_links_point_at_files_that_exist() -> None:
    """Every relative link of the README names a file of the repository."""
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", README)
    relative = [target for target in targets if "://" not in target]
    assert relative, "the README links into the documentation"
    missing = [target for target in relative if not (ROOT / target).is_file()]
    assert not missing


def test_the_readme_links_every_guide() -> None:
    """Each page of docs/ is reachable from the README's list of pages (or from the API index)."""
    pages = {path.relative_to(ROOT).as_posix() for path in (ROOT / "docs").glob("*.md")}
    linked = set(re.findall(r"\]\((docs/[^)#]+\.md)", section("Documentation")))
    assert pages - {"docs/index.md", "docs/changelog.md"} <= linked


def supported_pythons() -> list[str]:
    """The versions the noxfile tests (``SUPPORTED_PYTHONS``), read without importing nox."""
    tree = ast.parse((ROOT / "noxfile.py").read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "SUPPORTED_PYTHONS":
            versions = ast.literal_eval(node.value)
            assert isinstance(versions, list)
            return [str(version) for version in versions]
    raise AssertionError("noxfile.py defines no SUPPORTED_PYTHONS")


def test_the_classifiers_list_exactly_the_tested_pythons() -> None:
    """pyproject's version classifiers, requires-python and the README match what CI tests."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    prefix = "Programming Language :: Python :: "
    classified = [
        item.removeprefix(prefix)
        for item in project["classifiers"]
        if re.fullmatch(re.escape(prefix) + r"3\.\d+", item)
    ]
    tested = supported_pythons()
    assert classified == tested
    assert project["requires-python"] == f">={tested[0]}"
    assert f"Requires Python {', '.join(tested[:-1])} or {tested[-1]}." in " ".join(
        section("Set up").split()
    )
