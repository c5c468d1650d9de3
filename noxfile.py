"""Developer tasks. `nox` runs tests, lint and typecheck with whichever Python runs nox."""

from __future__ import annotations

import shutil
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint", "typecheck", "conformance"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = False


def _install_for_tests(session: nox.Session) -> None:
    # Redis, PostgreSQL and Chromium are started by the tests: without them the tests fail
    # (never skip), so install them first when missing (Debian packages, needs root or sudo).
    session.run("bash", ".ci/system-packages", external=True)
    session.install("-e", ".[test]")


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite (warnings are errors, see pyproject.toml)."""
    _install_for_tests(session)
    session.run("pytest", *session.posargs)


@nox.session
def coverage(session: nox.Session) -> None:
    """The test suite under coverage, CLI subprocesses included; fails below 95%."""
    _install_for_tests(session)
    session.run("coverage", "erase")
    session.run("coverage", "run", "-m", "pytest", "-q", *session.posargs)
    session.run("coverage", "combine", "-q")
    session.run("coverage", "report")


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint rules and formatting."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", "twilio_conf_insights", "tests", "benchmarks", "noxfile.py")
    session.run(
        "ruff", "format", "--check", "twilio_conf_insights", "tests", "benchmarks", "noxfile.py"
    )


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package, the tests and the benchmarks."""
    session.install("-e", ".[test,lint]")
    session.run("mypy", "--strict")


@nox.session
def bench(session: nox.Session) -> None:
    """The benchmarks against the raw-aiohttp floor and twilio-python (not run by default)."""
    session.install("-e", ".[bench]")
    session.run("python", "benchmarks/run.py", *session.posargs)


#: Stoplight's Prism, the mock server the conformance session runs on the reference files.
PRISM_PACKAGE = "@stoplight/prism-cli@5.14.2"


@nox.session
def conformance(session: nox.Session) -> None:
    """Prism on Twilio's reference files: every example and 300 random responses decode."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        session.error(
            "the conformance session needs Node.js and npm on PATH to run Prism "
            f"({PRISM_PACKAGE}); install them (e.g. apt-get install nodejs npm) and rerun"
        )
    prefix = Path(session.cache_dir) / "prism"
    prism = prefix / "node_modules" / ".bin" / "prism"
    if not prism.exists():
        session.run(
            npm,
            "install",
            "--prefix",
            str(prefix),
            "--no-audit",
            "--no-fund",
            PRISM_PACKAGE,
            external=True,
        )
    session.install("-e", ".[test]")
    session.run(
        "python",
        "-m",
        "tests.prism_conformance",
        "--prism",
        str(prism),
        "--logs",
        session.create_tmp(),
        *session.posargs,
    )


@nox.session
def screenshot(session: nox.Session) -> None:
    """Regenerate the README's screenshot of the HTML report (needs Chromium; not by default)."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "tests.report_screenshot", *session.posargs)
