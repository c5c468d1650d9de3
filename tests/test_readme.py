"""The README's examples run as written against the fake Twilio, so they cannot rot.

Every ```python block and every ```sh / ```console / ```bash block of README.md runs, unless
the line directly above its fence is ``<!-- not-run: reason -->``. They run against a
FakeTwilio with ``fake-server``'s data (seed 7, 200 conferences, dated up to now), with
the environment ``. ./fake.env`` would give:

* a Python block that calls ``asyncio.run`` is a script and runs as is;
* any other Python block is a snippet of a ``main()`` like the quickstart's: it runs with
  ``client`` (``InsightsClient.from_env()``, open) and ``since`` (a day ago) defined, and
  top-level ``await`` allowed;
* a shell block runs in ``bash -e``, in a temporary directory, with this environment's
  ``twilio-conf-insights`` and ``python3`` first on ``PATH``;
* a block that only reads ``insights.db`` (opens it with ``mode=ro``) finds there the store
  the README's sync step writes (``twilio-conf-insights sync --db insights.db``).
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import attrs
import pytest

from twilio_conf_insights.testing import FakeTwilio

README = Path(__file__).resolve().parent.parent / "README.md"
_FENCE = re.compile(r"^```(\w*)\s*$")
_NOT_RUN = re.compile(r"^<!-- not-run: (.+\S) -->$")
_LANGUAGES = {"python": "python", "sh": "shell", "console": "shell", "bash": "shell"}

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
    """A fenced code block of the README."""

    language: str
    line: int
    source: str
    not_run: str | None

    @property
    def id(self) -> str:
        return f"README.md:{self.line}:{self.language}"


def readme_blocks() -> list[Block]:
    """Every python and shell block, with its not-run reason if it has one."""
    lines = README.read_text(encoding="utf-8").splitlines()
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
                    language=language,
                    line=index + 1,
                    source="\n".join(lines[index + 1 : end]) + "\n",
                    not_run=marker.group(1) if marker else None,
                )
            )
        index = end + 1
    return blocks


BLOCKS = readme_blocks()


def test_the_readme_has_runnable_examples_of_each_kind() -> None:
    """The extraction finds the quickstart, snippets and command lines, and reasons for the rest."""
    runnable = [block for block in BLOCKS if block.not_run is None]
    assert any("asyncio.run(" in block.source for block in runnable)
    assert any(
        block.language == "python" and "asyncio.run(" not in block.source for block in runnable
    )
    assert any(block.language == "shell" for block in runnable)
    # A marker must sit directly above a fence: a stray one would silently skip nothing.
    text = README.read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(text):
        if _NOT_RUN.match(line):
            assert text[number + 1].startswith("```"), f"README.md:{number + 1}"


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


async def _run(command: list[str], env: dict[str, str], cwd: Path) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *command,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, out.decode("utf-8"), err.decode("utf-8")


def test_every_block_not_run_says_why() -> None:
    """A block is left out of the run below only by a ``not-run:`` marker with its reason.

    Those blocks (an install command, a signature, code that needs a real Redis and Twilio
    account) are not collected as tests, so the suite shows no skips; most of them are run
    elsewhere, as their reasons say.
    """
    reasons = [block.not_run for block in BLOCKS if block.not_run is not None]
    assert reasons
    assert all(len(reason.split()) >= 3 for reason in reasons), reasons


@pytest.mark.parametrize(
    "block", [pytest.param(block, id=block.id) for block in BLOCKS if not block.not_run]
)
async def test_readme_example_runs(block: Block, fake_env: dict[str, str], tmp_path: Path) -> None:
    """This README block runs against the fake with exit status 0 and no traceback."""
    script = tmp_path / ("example.py" if block.language == "python" else "example.sh")
    script.write_text(block.source, encoding="utf-8")
    if block.language == "shell":
        command = ["bash", "-e", str(script)]
    elif "asyncio.run(" in block.source:
        command = [sys.executable, str(script)]
    else:
        command = [sys.executable, "-c", _SNIPPET_RUNNER, str(script)]
    if "insights.db" in block.source and "mode=ro" in block.source:
        sync = ["twilio-conf-insights", "--quiet", "sync", "--db", "insights.db"]
        status, out, err = await _run(sync, fake_env, tmp_path)
        assert status == 0, f"the sync before {block.id} failed:\n{out}\n{err}"
    status, out, err = await _run(command, fake_env, tmp_path)
    assert status == 0, f"{block.id} failed:\n{out}\n{err}"
    assert "Traceback" not in err, err
    # A command's confirmation ("wrote 200 conferences to ...") is on stderr, as usual.
    shown = out + err if block.language == "shell" else out
    assert shown.strip(), f"{block.id} printed nothing: its example shows no data"
