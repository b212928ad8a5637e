"""`make up`, `make preview` and `make down` on a fresh copy of the checkout, as the README says.

The same path a developer takes: scripts/stack.sh picks the built toolchain, creates the state
folder and the stack, targets the local cluster's own kubeconfig, builds and pushes the images on
the private Docker engine, and waits for every resource; the pods run on the cluster's real node.
Then what a person would do: open the stack's `url` (through the ingress controller), see the
API ready in Chromium, start a task in the page and see the worker's result.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import browser, engine, faithful
from tests.support.services import free_port, free_port_block

NAMESPACE = engine.DEV_NAMESPACE
make = engine.make
# What `make up` creates of the dev stack in the API server (the state's Kubernetes objects).
LIVE_KINDS = "networkpolicy,secret,configmap,service,statefulset,job,deployment,ingress"


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[engine.Registry]:
    """The stack's registry, a new one: this test empties it (a new cluster's registry)."""
    with engine.Registry(storage=tmp_path / "registry", port=free_port()) as own:
        yield own


@pytest.fixture
def new_cluster(engine_env: dict[str, str], tmp_path: Path, registry: engine.Registry) -> Iterator[engine.LocalCluster]:
    """A cluster of this test's own, pulling from the stack's own registry: nothing deployed yet
    (the session's cluster holds the dev stack other modules share)."""
    with engine.LocalCluster(state=tmp_path / "cluster", port=free_port_block(4), env=engine_env,
                             ingress_port=free_port(), ingress_tls_port=free_port(), registries=[registry]) as own:
        yield own


@pytest.fixture
def project(tmp_path: Path, registry: engine.Registry) -> Path:
    copy = engine.copy_checkout(tmp_path / "project")
    engine.set_stack_value(copy, "dev", "registry.server", registry.address)
    return copy


def test_make_up_then_noop_preview_then_down(project: Path, new_cluster: engine.LocalCluster,
                                             registry: engine.Registry, tmp_path: Path) -> None:
    cluster = new_cluster
    state = tmp_path / "state"
    env = cluster.make_env(state)

    # Fresh state: a preview first (it creates the stack, deploys nothing), then the update.
    preview = make("preview", project, env)
    assert "+ " in preview.stdout and "create" in preview.stdout, preview.stdout[-2000:]
    assert cluster.kubectl("get", "namespace", NAMESPACE, "--ignore-not-found", "-o", "name").stdout.strip() == ""
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
        assert "@sha256:" in ref and registry.has(ref), ref
    running = {d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["image"]
               for d in deployments if d["metadata"]["name"] != "redis"}
    assert running == {"backend": images["backend"], "worker": images["backend"], "frontend": images["frontend"]}
    postgres = cluster.get("statefulsets", "postgres", namespace=NAMESPACE)
    assert postgres["status"].get("readyReplicas") == 1

    # Real pods: every long-running one Running and Ready on the node, the Jobs' pods exited 0.
    pods = cluster.get("pods", namespace=NAMESPACE)["items"]
    for pod in pods:
        name, phase = pod["metadata"]["name"], pod["status"]["phase"]
        if pod["metadata"]["labels"].get("app.kubernetes.io/name") in ("migrate", "smoke"):
            assert phase == "Succeeded", (name, pod["status"])
        else:
            ready = {c["type"]: c["status"] for c in pod["status"]["conditions"]}.get("Ready")
            assert (phase, ready) == ("Running", "True"), (name, pod["status"])
        assert pod["spec"]["nodeName"] == "mbhealth-node"
    # The migrate Job ran the real migrations against the in-cluster PostgreSQL.
    tables = cluster.kubectl("exec", "-n", NAMESPACE, "postgres-0", "--", "psql", "-U", "mbhealth", "-d", "mbhealth",
                             "-tAc", "SELECT version_num FROM alembic_version").stdout.split()
    assert tables == ["0002"], tables

    # The stack's url answers here, through the ingress controller: the API ready, the SPA in Chromium,
    # a task started in the page and run by the worker.
    url = stack.outputs()["url"]
    assert url == f"http://mbhealth.localhost:{cluster.ingress_port}", url
    ready = json.loads(engine.run(["curl", "-sf", "--max-time", "10", f"{url}/api/v1/health/ready"], env=env).stdout)
    assert ready["status"] == "ready", ready
    visit = browser.start_a_task(url + "/", 12, tmp_path / "app.png")
    assert (visit.title, visit.readiness, visit.task_state) == ("MBHealth", "API ready", "SUCCESS"), visit
    assert json.loads(visit.result) == {"n": 12, "sum": 78, "sum_of_squares": 650, "fibonacci": "144",
                                        "prime_count": 5, "is_prime": False}, visit.result

    # Offline synth is faithful: what it writes for the config just deployed is what the API server holds.
    deployed_config = project / ".pulumi-state" / "config" / "Pulumi.dev.yaml"
    synth_dir = tmp_path / "synth"
    engine.run([str(project / ".venv" / "bin" / "python"), "scripts/synth.py", "--stack", "dev",
                "--stack-file", str(deployed_config), "--out", str(synth_dir)], env=env, cwd=project)
    live = json.loads(cluster.kubectl("get", LIVE_KINDS, "-n", NAMESPACE, "-o", "json").stdout)["items"]
    live += [cluster.get("namespace", NAMESPACE)]
    problems, paired = faithful.compare(synth_dir, stack.resources(), live)
    assert problems == [], "synth differs from the API server:\n" + "\n".join(problems)
    assert len(paired) >= 20, paired

    # A second look changes nothing.
    make("preview", project, env, "PULUMI_ARGS=--expect-no-changes")

    # The same commit to an empty registry (a new cluster's): `make up` pushes the images again,
    # and every digest the pods run is served by the registry.
    registry.empty()
    assert not any(registry.has(ref) for ref in images.values())
    make("up", project, env)
    assert stack.outputs()["images"] == images, "the same commit builds the same digests"
    for d in cluster.get("deployments", namespace=NAMESPACE)["items"]:
        for container in d["spec"]["template"]["spec"]["containers"]:
            ref = container["image"]
            if ref.startswith(registry.address + "/"):
                assert registry.has(ref), f"{d['metadata']['name']} runs {ref}, which the registry does not serve"

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
