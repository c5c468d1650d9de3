"""Developer tasks. `nox` runs the checks with whichever Python runs nox.

The default sessions (the README's test command) need only that one Python. CI then runs
`nox -s tests_on` too: the suite on every other supported Python.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nox

#: The Python versions the package supports and CI tests (the classifiers list exactly these).
SUPPORTED_PYTHONS = ["3.11", "3.12", "3.13"]
RUNNING_PYTHON = f"{sys.version_info.major}.{sys.version_info.minor}"
OTHER_PYTHONS = [version for version in SUPPORTED_PYTHONS if version != RUNNING_PYTHON]

nox.options.sessions = ["tests", "lint", "typecheck", "conformance", "package", "docs"]
nox.options.reuse_existing_virtualenvs = True
# In CI an interpreter that cannot be found fails its session; on a developer's machine it
# is skipped with a message (the default sessions use only the Python running nox).
nox.options.error_on_missing_interpreters = "CI" in os.environ
# A missing interpreter is reported, never fetched from elsewhere.
nox.options.download_python = "never"


def _find_pyenv_pythons(versions: list[str]) -> None:
    """Let nox find pyenv's builds of ``versions`` as ``python3.X``.

    pyenv's shims answer ``python3.12`` only when 3.12 is among the selected versions, so
    the newest installed build of each version is added to this process's selection
    (``PYENV_VERSION``), after the one already selected. Without pyenv nothing changes.
    """
    pyenv = shutil.which("pyenv")
    if pyenv is None:
        return

    def ask(*args: str) -> str | None:
        answer = subprocess.run([pyenv, *args], capture_output=True, text=True, check=False)
        return answer.stdout.strip() if answer.returncode == 0 and answer.stdout.strip() else None

    selected = ask("version-name")
    names = selected.split(":") if selected else []
    for version in versions:
        latest = ask("latest", version)
        if latest is not None and latest not in names:
            names.append(latest)
    if names:
        os.environ["PYENV_VERSION"] = ":".join(names)


_find_pyenv_pythons(OTHER_PYTHONS)


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


@nox.session(python=OTHER_PYTHONS)
def tests_on(session: nox.Session) -> None:
    """The test suite on each other supported Python (CI runs it after the default sessions)."""
    _install_for_tests(session)
    session.run("pytest", "-q", *session.posargs)


@nox.session
def coverage(session: nox.Session) -> None:
    """The test suite under coverage, CLI subprocesses included; fails below 95%."""
    _install_for_tests(session)
    session.run("coverage", "erase")
    session.run("coverage", "run", "-m", "pytest", "-q", *session.posargs)
    session.run("coverage", "combine", "-q")
    session.run("coverage", "report")


#: What ruff checks: the package, the tests, the benchmarks, this file and the docs' extension.
LINTED = ["twilio_conf_insights", "tests", "benchmarks", "noxfile.py", "docs"]


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint rules and formatting."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", *LINTED)
    session.run("ruff", "format", "--check", *LINTED)


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


#: What the wheel must carry, as patterns over its file names.
WHEEL_MUST_HOLD = {
    "py.typed": r"twilio_conf_insights/py\.typed",
    "the report template": r"twilio_conf_insights/cli/templates/[^/]+\.j2",
    "the licence": r"[^/]+\.dist-info/licenses/LICENSE",
    "the command line's entry point": r"[^/]+\.dist-info/entry_points\.txt",
}
#: What the wheel must not carry: only the package and its metadata belong there.
WHEEL_MUST_NOT_HOLD = r"(tests|benchmarks|docs)/|twilio_conf_insights/(.*/)?tests?/|.*\.pyc$"


def _check_wheel(session: nox.Session, wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    missing = [
        what
        for what, pattern in WHEEL_MUST_HOLD.items()
        if not any(re.fullmatch(pattern, name) for name in names)
    ]
    stray = [name for name in names if re.match(WHEEL_MUST_NOT_HOLD, name)]
    outside = [
        name
        for name in names
        if not name.startswith("twilio_conf_insights/") and ".dist-info/" not in name
    ]
    if missing or stray or outside:
        session.error(
            f"{wheel.name}: missing {missing}, must not hold {stray}, outside the package {outside}"
        )
    session.log(f"{wheel.name}: {len(names)} files, all expected")


@nox.session
def package(session: nox.Session) -> None:
    """Build the sdist and wheel, check them, and run the wheel installed alone."""
    session.install("build>=1.2", "twine>=5.1")
    dist = Path(session.create_tmp()).resolve() / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    session.run("python", "-m", "build", "--outdir", str(dist))
    wheels, sdists = sorted(dist.glob("*.whl")), sorted(dist.glob("*.tar.gz"))
    if len(wheels) != 1 or len(sdists) != 1:
        session.error(f"expected one wheel and one sdist in {dist}, found {wheels + sdists}")
    session.run("twine", "check", "--strict", str(wheels[0]), str(sdists[0]))
    _check_wheel(session, wheels[0])

    # A fresh venv with the wheel alone (its dependencies, no extras), run from a directory
    # without the sources, so nothing from the checkout can stand in for the package.
    alone = dist.parent / "wheel-alone"
    shutil.rmtree(alone, ignore_errors=True)
    session.run("python", "-m", "venv", str(alone))
    bin_dir = alone / ("Scripts" if sys.platform == "win32" else "bin")
    session.run(
        str(bin_dir / "python"), "-m", "pip", "install", "-q", str(wheels[0]), external=True
    )
    with session.chdir(alone):
        output = session.run(
            str(bin_dir / "twilio-conf-insights"),
            "--demo",
            "--quiet",
            "report",
            "-f",
            "json",
            external=True,
            silent=True,
        )
    try:
        report = json.loads(str(output))
    except ValueError:
        session.error(f"--demo report -f json did not print JSON:\n{output}")
    if not isinstance(report, dict) or not report.get("conferences"):
        session.error(f"--demo report -f json printed no conferences: {report!r}")
    session.log(f"the wheel alone ran --demo report: {report['conferences']} conferences")


#: Hosts a page of the built site must never load anything from (the site works offline).
_REMOTE_ASSET = re.compile(r"""<(?:script|link|img)\b[^>]*\b(?:src|href)=["']?(?:https?:)?//""")


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site with `mkdocs build --strict`, offline; fail on a warning."""
    session.install("-e", ".[docs]")
    site = Path(session.create_tmp()).resolve() / "site"
    shutil.rmtree(site, ignore_errors=True)
    # Material for MkDocs prints a banner on every build announcing its end of life (May
    # 2027) and its successor, Zensical: known, and to be weighed before then.
    quiet = {"NO_MKDOCS_2_WARNING": "1"}
    session.run("mkdocs", "build", "--strict", "--site-dir", str(site), *session.posargs, env=quiet)
    remote = [
        f"{page.relative_to(site)}: {match.group(0)}"
        for page in site.rglob("*.html")
        for match in _REMOTE_ASSET.finditer(page.read_text(encoding="utf-8"))
    ]
    if remote:
        session.error("the site loads from other hosts:\n" + "\n".join(remote))
    # Every `::: name` block of the API reference rendered that name's entry (a name that
    # griffe cannot find fails the build; this catches one that renders as nothing).
    unrendered = [
        f"{page.name}: {name}"
        for page in sorted(Path("docs/api").glob("*.md"))
        for name in re.findall(r"^::: (\S+)$", page.read_text(encoding="utf-8"), re.MULTILINE)
        if f'id="{name}"' not in (site / "api" / f"{page.stem}.html").read_text(encoding="utf-8")
    ]
    if unrendered:
        session.error("the API reference lacks entries for:\n" + "\n".join(unrendered))
    pages = len(list(site.rglob("*.html"))) - 1  # without 404.html
    session.log(f"{pages} pages built in {site}")


@nox.session
def screenshot(session: nox.Session) -> None:
    """Regenerate the docs' screenshot of the HTML report (needs Chromium; not by default)."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "tests.report_screenshot", *session.posargs)
