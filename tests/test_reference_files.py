"""Where the tests find Twilio's reference files: beside the checkout, or beside its origin."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests import reference


def _git(*args: str) -> None:
    subprocess.run(["git", *args], check=True, capture_output=True, timeout=60)


def _layout(base: Path) -> tuple[Path, Path]:
    """``base/checkout/{repo, shared/reference}`` and a clone of the repo in ``base/elsewhere``."""
    files = base / "checkout" / "shared" / "reference"
    files.mkdir(parents=True)
    for name in (reference.INSIGHTS_SPEC, reference.TWILIO_2010_SPEC):
        (files / name).write_text("{}", encoding="utf-8")
    repo = base / "checkout" / "repo"
    _git("init", "-q", str(repo))
    identity = ["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]
    _git("-C", str(repo), *identity, "commit", "-q", "--allow-empty", "-m", "empty")
    clone = base / "elsewhere" / "repo"
    _git("clone", "-q", str(repo), str(clone))
    return files, clone


def test_a_checkout_with_shared_beside_it_finds_the_files(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The usual layout: ``shared/reference`` next to the repository."""
    monkeypatch.delenv(reference.ENV_REFERENCE_DIR, raising=False)
    files, _ = _layout(tmp_path)
    assert reference.reference_dir(tmp_path / "checkout" / "repo") == files


def test_a_fresh_clone_elsewhere_finds_the_files_beside_its_origin(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clone in a temporary directory reads the files its origin checkout sits next to."""
    monkeypatch.delenv(reference.ENV_REFERENCE_DIR, raising=False)
    files, clone = _layout(tmp_path)
    assert not (clone.parent / "shared").exists()
    assert reference.reference_dir(clone) == files


def test_missing_files_are_a_clear_error_naming_every_place_tried(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the files the tests fail with where they looked, never skip."""
    monkeypatch.delenv(reference.ENV_REFERENCE_DIR, raising=False)
    files, clone = _layout(tmp_path)
    for name in (reference.INSIGHTS_SPEC, reference.TWILIO_2010_SPEC):
        (files / name).unlink()
    with pytest.raises(FileNotFoundError) as caught:
        reference.reference_dir(clone)
    assert str(clone.parent / "shared" / "reference") in str(caught.value)
    assert str(files) in str(caught.value)
    monkeypatch.setenv(reference.ENV_REFERENCE_DIR, str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match="nowhere"):
        reference.reference_dir(clone)
