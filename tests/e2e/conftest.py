"""The real-engine suite: the Pulumi CLI, providers and a local control plane built by `make tools`.

Without the toolchain every test here is skipped with one reason; with MBH_REQUIRE_ENGINE=1
(CI) they fail instead. The suite also needs the project's Docker engine and registry
(tools/machine/docker-engine.sh), which .ci/run starts.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import engine
from tests.e2e.engine import Deployed, make
from tests.support.services import free_port, free_port_block

REPO_ROOT = engine.REPO_ROOT

HERE = Path(__file__).resolve().parent
_PROBLEM: list[str | None] = []


def _problem() -> str | None:
    if not _PROBLEM:
        _PROBLEM.append(engine.toolchain_problem())
    return _PROBLEM[0]


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    ours = [item for item in items if HERE in Path(str(item.fspath)).resolve().parents]
    for item in ours:
        item.add_marker(pytest.mark.engine)
    if not ours or engine.engine_required():
        return
    problem = _problem()
    if problem is None:
        return
    for item in ours:
        item.add_marker(pytest.mark.skip(reason=f"real-engine suite: {problem}"))


@pytest.fixture(scope="session")
def engine_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    problem = _problem()
    if problem:
        pytest.fail(f"real-engine suite: {problem} ({engine.REQUIRE_ENV}=1)", pytrace=False)
    home = engine.default_pulumi_home()
    env = engine.engine_env(home)
    # The project's private Docker engine and registry (tools/machine/docker-engine.sh).
    env = engine.with_docker_engine(env)
    status = engine.run(["bash", str(REPO_ROOT / "tools" / "machine" / "docker-engine.sh"), "status"], env=env, check=False)
    if status.returncode != 0:
        pytest.fail("real-engine suite: the Docker engine and registry do not answer: "
                    "sudo bash tools/machine/docker-engine.sh start", pytrace=False)
    return env


@pytest.fixture(scope="session")
def cluster(engine_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[engine.LocalCluster]:
    with engine.LocalCluster(state=tmp_path_factory.mktemp("cluster"), port=free_port_block(4), env=engine_env,
                             ingress_port=free_port(), ingress_tls_port=free_port()) as local:
        yield local


@pytest.fixture(scope="session")
def deployed(cluster: engine.LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployed]:
    """The dev stack on the session's cluster, deployed once for the modules that build on it
    (test_bad_input fails updates of it, test_promotion reads its images, test_releases changes
    it). test_make_up deploys its own on a cluster of its own."""
    root = tmp_path_factory.mktemp("releases")
    project = engine.copy_checkout(root / "project")
    env = cluster.make_env(root / "state")
    make("up", project, env)
    # No `make down` afterwards: the session's cluster is stopped next, which removes all it ran
    # (test_local_cluster proves it); `make down` itself is proven by test_make_up and test_laptop_path.
    yield Deployed(project, env, engine.Stack(project, "dev", dict(env), passphrase="mbhealth-dev-local"), cluster)


