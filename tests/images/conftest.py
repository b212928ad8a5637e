"""The real-image suite: a Docker engine, the local registry, stand-in bases, built images.

Without a reachable engine (or registry) every test here that needs one is skipped with
one reason; with MBH_REQUIRE_DOCKER=1 (CI) they fail instead, so CI never skips silently.
`sudo scripts/docker-engine.sh start` provides both; DOCKER_HOST defaults to its socket.

A test module that needs no engine (pure translation tests) sets NEEDS_DOCKER = False.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
for _path in (REPO_ROOT, REPO_ROOT / "scripts"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import build_images  # noqa: E402
import forge_bases  # noqa: E402
from tests.images.harness import PROBE_APP, ImageBuilder  # noqa: E402

REQUIRE_DOCKER = os.environ.get("MBH_REQUIRE_DOCKER") == "1"


def _needs_docker(item: pytest.Item) -> bool:
    return getattr(item.module, "NEEDS_DOCKER", True) if hasattr(item, "module") else True


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents and _needs_docker(item):
            item.add_marker(pytest.mark.docker)


@pytest.fixture(scope="session")
def engine_problem() -> str | None:
    """None when the engine and the registry answer; else the one-line reason."""
    return forge_bases.engine_problem() or forge_bases.registry_problem()


@pytest.fixture(autouse=True)
def _require_engine(request: pytest.FixtureRequest, engine_problem: str | None) -> None:
    if engine_problem is None or not _needs_docker(request.node):
        return
    if REQUIRE_DOCKER:
        pytest.fail(f"MBH_REQUIRE_DOCKER=1 but {engine_problem}", pytrace=False)
    pytest.skip(f"real-image suite: {engine_problem}")


@pytest.fixture(scope="session")
def standins(engine_problem: str | None) -> dict[str, str]:
    """{real base image ref: stand-in ref@digest in the local registry} (forged once, cached)."""
    try:
        return forge_bases.forge()
    except forge_bases.ForgeError as exc:
        pytest.fail(f"cannot forge the stand-in base images: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def images(standins: dict[str, str]) -> ImageBuilder:
    return ImageBuilder(standins)


@pytest.fixture(scope="session")
def probe_app(images: ImageBuilder) -> build_images.Built:
    """The fixture image (production target), built from PROBE_APP and pushed."""
    return images.get(PROBE_APP.name, spec=PROBE_APP)


@pytest.fixture
def kubelet_containers():
    """Containers started through kubelet.py in a test; removed at its end."""
    started = []
    yield started
    for container in started:
        container.remove()
