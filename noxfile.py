"""Developer tasks. `nox` runs tests, lint and typecheck with whichever Python runs nox."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.reuse_existing_virtualenvs = True
nox.options.error_on_missing_interpreters = False


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite (warnings are errors, see pyproject.toml)."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


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


@nox.session
def screenshot(session: nox.Session) -> None:
    """Regenerate the README's screenshot of the HTML report (needs Chromium; not by default)."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "tests.report_screenshot", *session.posargs)
