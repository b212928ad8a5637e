"""Scenario 10: the CrossGuard pack (policy/) through the real engine, as `make preview-policy` runs it
(the prod stack: test_promotion.py).

The engine starts the pack through our language host's RunPlugin, in the pack's own virtualenv
(`make policy-venv`), and evaluates every resource the program registers.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e import engine
from tests.e2e.engine import make


@pytest.fixture(scope="module")
def project(cluster: engine.LocalCluster, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("policy")
    copy = engine.copy_checkout(root / "project")
    env = cluster.make_env(root / "state")
    engine.link_policy_venv(copy, env)
    return copy, env


def test_the_pack_passes_the_dev_stack_through_the_engine(project: tuple[Path, dict[str, str]]) -> None:
    copy, env = project
    out = make("preview-policy", copy, env)
    assert "mbhealth-guardrails" in out.stdout, "the engine ran the pack"
    assert "mandatory" not in out.stdout.lower()


def test_a_violating_change_is_refused_by_the_engine_with_the_rule_name(project: tuple[Path, dict[str, str]]) -> None:
    copy, env = project
    security = copy / "components" / "security.py"
    text = security.read_text()
    assert text.count("read_only_root_filesystem=True") == 1
    security.write_text(text.replace("read_only_root_filesystem=True", "read_only_root_filesystem=False"))
    try:
        out = make("preview-policy", copy, env, check=False)
    finally:
        security.write_text(text)
    assert out.returncode != 0, "a mandatory violation fails the preview"
    assert "container-hardening" in out.stdout + out.stderr
    assert "readOnlyRootFilesystem is not true" in out.stdout + out.stderr
