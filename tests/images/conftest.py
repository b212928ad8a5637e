"""The real-image suite: a Docker engine, the local registry, stand-in bases, built images.

Without a reachable engine (or registry) every test here that needs one is skipped with
one reason; with MBH_REQUIRE_DOCKER=1 (CI) they fail instead, so CI never skips silently.
`sudo tools/machine/docker-engine.sh start` provides both; DOCKER_HOST defaults to its socket.

A test module that needs no engine (pure translation tests) sets NEEDS_DOCKER = False.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
for _path in (REPO_ROOT, REPO_ROOT / "scripts", REPO_ROOT / "tools" / "standins"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import docker_client
import forge_bases

from tests.images.harness import ImageBuilder

REQUIRE_DOCKER = os.environ.get("MBH_REQUIRE_DOCKER") == "1"


def _needs_docker(item: pytest.Item) -> bool:
    return getattr(item.module, "NEEDS_DOCKER", True) if hasattr(item, "module") else True


_ENGINE_PROBLEM: list[str | None] = []


def _engine_problem() -> str | None:
    if not _ENGINE_PROBLEM:
        _ENGINE_PROBLEM.append(docker_client.engine_problem() or docker_client.registry_problem())
    return _ENGINE_PROBLEM[0]


class SuiteSkipped(pytest.Item):
    """Stands for the whole real-image suite when no engine answers: one skip, one reason."""

    def __init__(self, *, reason: str, count: int, **kwargs):
        super().__init__(**kwargs)
        self.reason, self.count = reason, count

    def runtest(self) -> None:
        pytest.skip(f"real-image suite ({self.count} tests): {self.reason}")

    def reportinfo(self):
        return self.path, None, "real-image suite"


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    engine_items = [
        item for item in items
        if HERE in Path(str(item.fspath)).resolve().parents and _needs_docker(item)
    ]
    for item in engine_items:
        item.add_marker(pytest.mark.docker)
    if not engine_items or REQUIRE_DOCKER:
        return  # CI: the engine fixtures fail each test loudly instead
    problem = _engine_problem()
    if problem is None:
        return
    chosen = set(engine_items)
    items[:] = [item for item in items if item not in chosen]
    config.hook.pytest_deselected(items=engine_items)
    placeholder = SuiteSkipped.from_parent(
        engine_items[0].parent, name="real-image-suite", reason=problem, count=len(engine_items))
    placeholder.add_marker(pytest.mark.docker)
    items.append(placeholder)


@pytest.fixture(scope="session")
def engine_problem() -> str | None:
    """None when the engine and the registry answer; else the one-line reason."""
    return _engine_problem()


def _skip_or_fail(problem: str) -> None:
    if REQUIRE_DOCKER:
        pytest.fail(f"MBH_REQUIRE_DOCKER=1 but {problem}", pytrace=False)
    pytest.skip(f"real-image suite: {problem}")


@pytest.fixture(scope="session")
def docker_engine(engine_problem: str | None) -> None:
    """Skips (or, in CI, fails) when no engine/registry answers; every engine fixture needs it."""
    if engine_problem is not None:
        _skip_or_fail(engine_problem)


@pytest.fixture(autouse=True)
def _require_engine(request: pytest.FixtureRequest, engine_problem: str | None) -> None:
    if engine_problem is not None and _needs_docker(request.node):
        _skip_or_fail(engine_problem)


@pytest.fixture(scope="session")
def standins(docker_engine: None) -> dict[str, str]:
    """{real base image ref: stand-in ref@digest in the local registry} (forged once, cached)."""
    try:
        return forge_bases.forge()
    except forge_bases.ForgeError as exc:
        pytest.fail(f"cannot forge the stand-in base images: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def images(standins: dict[str, str]) -> ImageBuilder:
    return ImageBuilder(standins)
