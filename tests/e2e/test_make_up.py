"""`make up`, `make preview` and `make down` on a fresh copy of the checkout, as the README says.

The same path a developer takes: scripts/stack.sh picks the built toolchain, creates the state
folder and the stack, targets the local control plane's own kubeconfig, builds and pushes the
images on the private Docker engine, and waits for every resource.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from tests.e2e import engine

NAMESPACE = "mbhealth-dev"
REGISTRY = "127.0.0.1:5000"


def make(target: str, project: Path, env: dict[str, str], *args: str, check: bool = True):
    return engine.run(["make", "--no-print-directory", target, *args], env=env, cwd=project, check=check,
                      timeout=2400)


def registry_has(ref: str) -> bool:
    """Whether the local registry serves `localhost:5000/<repo>@sha256:…`'s manifest."""
    name, digest = ref.split("@", 1)
    repo = name.split("/", 1)[1]
    req = urllib.request.Request(
        f"http://{REGISTRY}/v2/{repo}/manifests/{digest}", method="HEAD",
        headers={"Accept": ", ".join([
            "application/vnd.docker.distribution.manifest.v2+json",
            "application/vnd.docker.distribution.manifest.list.v2+json",
            "application/vnd.oci.image.manifest.v1+json",
            "application/vnd.oci.image.index.v1+json",
        ])},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(req, timeout=10) as resp:
            return resp.status == 200
    except OSError:
        return False


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return engine.copy_checkout(tmp_path / "project")


def test_make_up_then_noop_preview_then_down(project: Path, cluster: engine.LocalCluster, tmp_path: Path) -> None:
    state = tmp_path / "state"
    env = cluster.make_env(state)

    make("up", project, env)
    assert state.is_dir(), "make up creates the file state backend's folder"
    stack = engine.Stack(project, "dev", dict(env), passphrase="mbhealth-dev-local")

    # The state holds the real Kubernetes objects and both built images.
    types = [r["type"] for r in stack.resources()]
    assert types.count("kubernetes:apps/v1:Deployment") == 4, types  # backend, worker, frontend, redis
    assert types.count("kubernetes:apps/v1:StatefulSet") == 1, types  # postgres
    assert types.count("kubernetes:batch/v1:Job") == 2, types  # migrate, smoke
    assert types.count("random:index/randomPassword:RandomPassword") == 3, types
    if engine.docker_provider_built():
        assert types.count("docker:index/image:Image") == 2, types

    # The API server holds them, rolled out: every Deployment available, the Jobs complete.
    deployments = cluster.get("deployments", namespace=NAMESPACE)["items"]
    assert sorted(d["metadata"]["name"] for d in deployments) == ["backend", "frontend", "redis", "worker"]
    for d in deployments:
        assert d["status"].get("availableReplicas") == d["spec"]["replicas"], d["metadata"]["name"]
    jobs = cluster.get("jobs", namespace=NAMESPACE)["items"]
    assert jobs and all(j["status"].get("succeeded") == 1 for j in jobs), [j["status"] for j in jobs]

    # The images the pods run are the digests the stack exports, and the registry serves them.
    images = stack.outputs()["images"]
    assert set(images) == {"backend", "frontend"}
    for ref in images.values():
        assert "@sha256:" in ref and registry_has(ref), ref
    running = {d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["image"]
               for d in deployments if d["metadata"]["name"] != "redis"}
    assert running == {"backend": images["backend"], "worker": images["backend"], "frontend": images["frontend"]}
    postgres = cluster.get("statefulsets", "postgres", namespace=NAMESPACE)
    assert postgres["status"].get("readyReplicas") == 1

    # A second look changes nothing.
    make("preview", project, env, "PULUMI_ARGS=--expect-no-changes")

    make("down", project, env)
    left = cluster.kubectl("get", "namespace", NAMESPACE, "--ignore-not-found", "-o", "name").stdout.strip()
    assert left == "", f"namespace still there after make down: {left}"
    assert [r["type"] for r in stack.resources() if r["type"] != "pulumi:pulumi:Stack"] == []
    assert json.loads(stack.pulumi("stack", "ls", "--json").stdout)[0]["resourceCount"] in (0, None)

    # `pulumi stack rm` removes the stack; the file backend keeps only its backups by design
    # (.pulumi/backups/, *.bak: the README says so and how to drop them).
    stack.pulumi("stack", "rm", "dev", "--yes")
    assert json.loads(stack.pulumi("stack", "ls", "--json").stdout) == []
    left = sorted(str(p.relative_to(state)) for p in state.rglob("*") if p.is_file() and "dev" in p.name)
    assert all(p.startswith(".pulumi/backups/") or ".bak" in p for p in left), left
