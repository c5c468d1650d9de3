"""The documentation's examples run as written against the fake Twilio, so they cannot rot.

Every ```python block and every ```sh / ```console / ```bash block of README.md and of the
pages under docs/ runs, unless the line directly above its fence is
``<!-- not-run: reason -->``. They run against a FakeTwilio with ``fake-server``'s data
(seed 7, 200 conferences, dated up to now), with the environment ``. ./fake.env`` would
give:

* a Python block that calls ``asyncio.run`` is a script and runs as is;
* any other Python block is a snippet of a ``main()`` like the quickstart's: it runs with
  ``client`` (``InsightsClient.from_env()``, open) and ``since`` (a day ago) defined, and
  top-level ``await`` allowed;
* a shell block runs in ``bash -e``, in a temporary directory, with this environment's
  ``twilio-conf-insights`` and ``python3`` first on ``PATH``;
* a block that only reads ``insights.db`` (opens it with ``mode=ro``) finds there the store
  the sync guide's step writes (``twilio-conf-insights sync --db insights.db``).

Pages include text that lives elsewhere instead of copying it (``--8<--``, built by
mkdocs): the README's sections, the changelog and the recipes under ``tests/recipes``, which
their own tests serve. The checks below keep those includes and the API reference whole;
that each recipe is shown, once, is ``tests/test_recipes_readme.py``'s to check.

Commands run through ``tests.helpers`` (:func:`~tests.helpers.run`,
:func:`~tests.helpers.cli`), like every subprocess of the suite.
"""

from __future__ import annotations

import importlib
import os
import re
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import attrs
import pytest

from tests.helpers import cli, run
from twilio_conf_insights.testing import FakeTwilio

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PAGES = [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]
_FENCE = re.compile(r"^```(\w*)\s*$")
_NOT_RUN = re.compile(r"^<!-- not-run: (.+\S) -->$")
_LANGUAGES = {"python": "python", "sh": "shell", "console": "shell", "bash": "shell"}
#: An include of another file (or a named section of it) into a page, by pymdownx.snippets.
_INCLUDE = re.compile(r'^--8<-- "([^":]+)(?::([\w-]+))?"$', re.MULTILINE)
#: The public modules whose every name the API reference documents.
PUBLIC_MODULES = [
    "twilio_conf_insights",
    "twilio_conf_insights.sync",
    "twilio_conf_insights.distributed",
    "twilio_conf_insights.webhooks",
    "twilio_conf_insights.eventstreams",
    "twilio_conf_insights.testing",
    "twilio_conf_insights.otel",
]

#: Runs a snippet inside ``async with InsightsClient.from_env() as client``.
_SNIPPET_RUNNER = """
import ast, asyncio, sys
from datetime import datetime, timedelta, timezone
from twilio_conf_insights import InsightsClient

path = sys.argv[1]
code = compile(open(path, encoding="utf-8").read(), path, "exec",
               flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)

async def main() -> None:
    async with InsightsClient.from_env() as client:
        namespace = {"__name__": "__main__", "client": client,
                     "since": datetime.now(timezone.utc) - timedelta(days=1)}
        result = eval(code, namespace)
        if asyncio.iscoroutine(result):
            await result

asyncio.run(main())
"""


@attrs.frozen
class Block:
    """A fenced code block of a page."""

    page: str
    language: str
    line: int
    source: str
    not_run: str | None

    @property
    def id(self) -> str:
        return f"{self.page}:{self.line}:{self.language}"


def page_name(path: Path) -> str:
    """The page's path from the top of the repository, as blocks are named."""
    return path.relative_to(ROOT).as_posix()


def code_blocks(path: Path) -> list[Block]:
    """Every python and shell block of a page, with its not-run reason if it has one."""
    lines = path.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    index = 0
    while index < len(lines):
        fence = _FENCE.match(lines[index])
        if fence is None:
            index += 1
            continue
        end = index + 1
        while not lines[end].startswith("```"):
            end += 1
        language = _LANGUAGES.get(fence.group(1))
        if language is not None:
            marker = _NOT_RUN.match(lines[index - 1]) if index else None
            blocks.append(
                Block(
                    page=page_name(path),
                    language=language,
                    line=index + 1,
                    source="\n".join(lines[index + 1 : end]) + "\n",
                    not_run=marker.group(1) if marker else None,
                )
            )
        index = end + 1
    return blocks


BLOCKS = [block for page in PAGES for block in code_blocks(page)]


def test_the_docs_have_runnable_examples_of_each_kind() -> None:
    """The extraction finds scripts, snippets and command lines, on the README and the pages."""
    runnable = [block for block in BLOCKS if block.not_run is None]
    assert any("asyncio.run(" in block.source for block in runnable)
    assert any(
        block.language == "python" and "asyncio.run(" not in block.source for block in runnable
    )
    assert any(block.language == "shell" for block in runnable)
    assert {block.page for block in runnable} > {"README.md", "docs/sync.md", "docs/models.md"}


@pytest.mark.parametrize("page", PAGES, ids=page_name)
def test_not_run_markers_sit_on_a_fence(page: Path) -> None:
    """A not-run marker is directly above a fence: a stray one would silently skip nothing."""
    text = page.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(text):
        if _NOT_RUN.match(line):
            assert text[number + 1].startswith("```"), f"{page_name(page)}:{number + 1}"


def test_every_block_not_run_says_why() -> None:
    """A block is left out of the run below only by a ``not-run:`` marker with its reason.

    Those blocks (an install command, a signature, code that needs a real Redis and Twilio
    account) are not collected as tests, so the suite shows no skips; most of them are run
    elsewhere, as their reasons say.
    """
    reasons = [block.not_run for block in BLOCKS if block.not_run is not None]
    assert reasons
    assert all(len(reason.split()) >= 3 for reason in reasons), reasons


def included(page: Path) -> list[tuple[str, str | None]]:
    """The files (and named sections) a page includes."""
    return [(name, section) for name, section in _INCLUDE.findall(page.read_text(encoding="utf-8"))]


@pytest.mark.parametrize("page", PAGES, ids=page_name)
def test_includes_name_files_and_sections_that_exist(page: Path) -> None:
    """Every ``--8<--`` include names a file, and a section marked in it when it names one."""
    for name, section in included(page):
        target = ROOT / name
        assert target.is_file(), f"{page_name(page)} includes {name}, which does not exist"
        if section:
            text = target.read_text(encoding="utf-8")
            for edge in ("start", "end"):
                assert text.count(f"--8<-- [{edge}:{section}]") == 1, (name, section, edge)


def test_pages_include_the_readme_instead_of_repeating_it() -> None:
    """No page copies a code block of the README: the quickstart is included from it."""
    readme_blocks = {block.source for block in BLOCKS if block.page == "README.md"}
    copied = [b.id for b in BLOCKS if b.page != "README.md" and b.source in readme_blocks]
    assert not copied
    readme_sections = {section for page in PAGES for name, section in included(page)}
    assert {"intro", "setup", "quickstart"} <= readme_sections


def documented_names() -> dict[str, list[str]]:
    """The names each ``::: module.Name`` block of the API reference documents, per module."""
    names: dict[str, list[str]] = {module: [] for module in PUBLIC_MODULES}
    for page in sorted((DOCS / "api").glob("*.md")):
        for identifier in re.findall(r"^::: (\S+)$", page.read_text(encoding="utf-8"), re.M):
            module, _, name = identifier.rpartition(".")
            assert module in names, f"{page_name(page)}: {identifier} is not of a public module"
            names[module].append(name)
    return names


@pytest.mark.parametrize("module", PUBLIC_MODULES)
def test_the_api_reference_documents_every_public_name_once(module: str) -> None:
    """Each name in the module's ``__all__`` has one ``:::`` block, and nothing else has one."""
    public = importlib.import_module(module).__all__
    documented = documented_names()[module]
    assert sorted(documented) == sorted(set(documented)), "a name is documented twice"
    assert sorted(documented) == sorted(public)


@pytest.fixture
async def fake_env() -> AsyncIterator[dict[str, str]]:
    """The environment after `. ./fake.env`, for a fake serving fake-server's data."""
    async with FakeTwilio(conferences=200, seed=7, now=datetime.now(UTC)) as fake:
        env = {key: value for key, value in os.environ.items() if not key.startswith("TWILIO_")}
        bin_dir = str(Path(sys.executable).parent)
        env.update(
            TWILIO_ACCOUNT_SID=fake.account_sid,
            TWILIO_AUTH_TOKEN=fake.auth_token,
            TWILIO_INSIGHTS_BASE_URL=fake.insights_base_url,
            TWILIO_API_BASE_URL=fake.api_base_url,
            PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}",
        )
        yield env


@pytest.mark.parametrize(
    "block", [pytest.param(block, id=block.id) for block in BLOCKS if not block.not_run]
)
async def test_example_runs(block: Block, fake_env: dict[str, str], tmp_path: Path) -> None:
    """This block runs against the fake with exit status 0, no traceback, and shows data."""
    script = tmp_path / ("example.py" if block.language == "python" else "example.sh")
    script.write_text(block.source, encoding="utf-8")
    if block.language == "shell":
        command = ["bash", "-e", str(script)]
    elif "asyncio.run(" in block.source:
        command = [sys.executable, str(script)]
    else:
        command = [sys.executable, "-c", _SNIPPET_RUNNER, str(script)]
    if "insights.db" in block.source and "mode=ro" in block.source:
        sync = await cli(
            "--quiet", "sync", "--db", "insights.db", env=fake_env, cwd=tmp_path, timeout=120
        )
        assert sync.returncode == 0, f"the sync before {block.id} failed:\n{sync}"
    done = await run(command, env=fake_env, cwd=tmp_path, timeout=120)
    assert done.returncode == 0, f"{block.id} failed:\n{done.stdout}\n{done.stderr}"
    assert "Traceback" not in done.stderr, done.stderr
    # A command's confirmation ("wrote 200 conferences to ...") is on stderr, as usual.
    shown = done.stdout + done.stderr if block.language == "shell" else done.stdout
    assert shown.strip(), f"{block.id} printed nothing: its example shows no data"
