"""Pod behaviour on the real node: what the kubelet, the cluster DNS and the Services do to the
deployed pods (the session's dev stack, conftest `deployed`), seen through the ingress."""

from __future__ import annotations

import json
import re
import time

from tests.e2e import engine
from tests.e2e.engine import DEV_NAMESPACE as NAMESPACE
from tests.e2e.engine import Deployed, make


def _status(deployed: Deployed, path: str) -> int:
    """The HTTP status of `path` at the stack's url (through Traefik), 0 when nothing answers."""
    url = deployed.stack.outputs()["url"]
    out = engine.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10", url + path],
                     env=deployed.env, check=False).stdout
    return int(out or 0)


def _through_the_frontend(deployed: Deployed, pod: str, path: str) -> int:
    """The HTTP status of `path` from the frontend's own nginx in `pod` (its /api/ proxy to
    BACKEND_URL; the ingress sends /api to the backend's Service directly), 0 when nothing answers."""
    got = deployed.cluster.kubectl("exec", "-n", NAMESPACE, pod, "--", "wget", "-S", "-T", "10", "-O", "/dev/null",
                                   f"http://127.0.0.1:8080{path}", check=False)
    codes = re.findall(r"HTTP/1\.[01] (\d{3})", got.stdout + got.stderr)
    return int(codes[-1]) if codes else 0


def _ready_pods(deployed: Deployed, name: str) -> dict[str, int]:
    """The Ready pods of `name`: pod name -> restarts of its container."""
    ready = {}
    for pod in deployed.pods(name):
        conditions = {c["type"]: c["status"] for c in pod["status"].get("conditions") or []}
        if pod["metadata"].get("deletionTimestamp") is None and conditions.get("Ready") == "True":
            ready[pod["metadata"]["name"]] = sum(c["restartCount"] for c in pod["status"]["containerStatuses"])
    return ready


def _wait(what: str, check, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"{what}: not within {timeout:.0f} s"
        time.sleep(1)


def test_the_frontend_starts_and_recovers_while_the_backends_name_does_not_resolve(deployed: Deployed) -> None:
    """The backend's Service gone (not created yet, or recreated): new frontend pods still start and
    become Ready, their /api/ proxy answers 502 meanwhile, and once the Service is back the same pods reach the
    API through the cluster DNS, with no restart. (nginx used to resolve BACKEND_URL once at start:
    its pods crash-looped until the name resolved.)"""
    cluster = deployed.cluster
    service = deployed.get("service", "backend")
    kept = {"apiVersion": "v1", "kind": "Service",
            "metadata": {key: service["metadata"][key] for key in ("name", "namespace", "labels", "annotations")
                         if key in service["metadata"]},
            "spec": service["spec"]}  # the same clusterIP: what Pulumi's state records
    assert _status(deployed, "/api/v1/health/ready") == 200
    old = set(_ready_pods(deployed, "frontend"))
    try:
        cluster.kubectl("delete", "service", "backend", "-n", NAMESPACE, "--wait=true")
        cluster.kubectl("delete", "pod", "-n", NAMESPACE, "-l", "app.kubernetes.io/name=frontend", "--wait=false")
        _wait("new frontend pods Ready without the backend's Service",
              lambda: (ready := _ready_pods(deployed, "frontend")) and not set(ready) & old, 180)
        assert _status(deployed, "/") == 200, "the app through the ingress"
        started = _ready_pods(deployed, "frontend")
        for pod in started:
            assert _through_the_frontend(deployed, pod, "/api/v1/health/ready") == 502, \
                "the API's name does not resolve: a bad gateway"
    finally:
        if cluster.kubectl("get", "service", "backend", "-n", NAMESPACE, check=False).returncode != 0:
            cluster.kubectl("create", "-f", "-", input=json.dumps(kept))

    for pod in started:
        _wait(f"the API through {pod} once the Service is back",
              lambda: _through_the_frontend(deployed, pod, "/api/v1/health/ready") == 200, 90)
    assert _ready_pods(deployed, "frontend") == started, "the frontend pods were restarted or replaced"
    assert all(restarts == 0 for restarts in started.values()), started
    make("preview", deployed.project, deployed.env, "PULUMI_ARGS=--expect-no-changes")
