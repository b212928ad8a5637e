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
    BACKEND_URL; the ingress sends /api to the backend's Service directly), 0 when nothing answers.
    A raw request through busybox `nc` (the image has no curl; the stand-in busybox's wget crashes),
    its input held open for up to 8 s (busybox nc closes the connection when its input ends, before an
    answer that takes a DNS timeout) but no longer than nc runs: nginx closes an HTTP/1.0 connection
    once it has answered, nc exits, and the shell stops waiting (the idle `sleep` is left to end)."""
    request = (f"(printf 'GET {path} HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n'; sleep 8) 2>/dev/null "
               "| nc -w 10 127.0.0.1 8080 > /tmp/reply 2>/dev/null & "
               "while kill -0 $! 2>/dev/null; do sleep 0.2; done; head -n 1 /tmp/reply")
    got = deployed.cluster.kubectl("exec", "-n", NAMESPACE, pod, "--", "sh", "-c", request, check=False)
    codes = re.findall(r"^HTTP/1\.[01] (\d{3})", got.stdout)
    return int(codes[0]) if codes else 0


def _ready_pods(deployed: Deployed, name: str) -> dict[str, int]:
    """The Ready pods of `name`: pod name -> restarts of its container."""
    ready = {}
    for pod in deployed.pods(name):
        if engine.pod_ready(pod):
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
        # Every frontend pod was deleted at once: the ingress serves the new ones once its own watch of the
        # endpoints has them (Traefik applies a change at most every 2 s), a moment after they are Ready.
        _wait("the app through the ingress", lambda: _status(deployed, "/") == 200, 30)
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


# What the kernel says of a container's first process, read from inside the pod (python in the
# backend's image, busybox in the frontend's): as the kubelet and runc actually ran it.
INSIDE = {
    "python": ["python", "-c", "import os, sys; from pathlib import Path\n"
               "status = dict(l.split(':', 1) for l in Path('/proc/1/status').read_text().splitlines())\n"
               "def writable(p):\n"
               "    try:\n"
               "        Path(p, '.probe').write_text('x'); Path(p, '.probe').unlink(); return True\n"
               "    except OSError:\n"
               "        return False\n"
               "print(os.getuid(), os.getgid(), status['CapEff'].strip(), status['NoNewPrivs'].strip(),\n"
               "      status['Seccomp'].strip(), writable('/'), writable('/tmp'),\n"
               "      Path('/var/run/secrets/kubernetes.io/serviceaccount').exists())"],
    "sh": ["sh", "-c", "s=/proc/1/status; f() { awk -v k=\"$1:\" '$1 == k {print $2}' $s; }; "
           "w() { if touch \"$1/.probe\" 2>/dev/null; then rm \"$1/.probe\"; echo True; else echo False; fi; }; "
           "a=False; [ -e /var/run/secrets/kubernetes.io/serviceaccount ] && a=True; "
           "echo $(id -u) $(id -g) $(f CapEff) $(f NoNewPrivs) $(f Seccomp) $(w /) $(w /tmp) $a"],
}


def test_every_app_pod_runs_as_the_secure_defaults_say_as_the_node_enforces_them(deployed: Deployed) -> None:
    """README "Secure defaults": uid/gid 10001, no capability, no privilege escalation, seccomp
    RuntimeDefault, a read-only root with a writable /tmp, no service account token."""
    for name, shell in (("backend", "python"), ("worker", "python"), ("frontend", "sh")):
        pods = _ready_pods(deployed, name)
        assert pods, f"no {name} pod Ready"
        for pod in pods:
            seen = deployed.cluster.kubectl("exec", "-n", NAMESPACE, pod, "--", *INSIDE[shell]).stdout.split()
            uid, gid, caps, no_new_privs, seccomp, root_writable, tmp_writable, token = seen
            assert (uid, gid) == ("10001", "10001"), (name, seen)
            assert int(caps, 16) == 0, f"{name}: effective capabilities {caps}"
            assert no_new_privs == "1", f"{name}: no_new_privs is not set"
            assert seccomp == "2", f"{name}: not under a seccomp filter (mode {seccomp})"
            assert (root_writable, tmp_writable) == ("False", "True"), f"{name}: root writable, /tmp writable: {seen}"
            assert token == "False", f"{name}: a service account token is mounted"


def _http(deployed: Deployed, method: str, path: str, body: dict | None = None) -> tuple[int, dict, dict[str, str]]:
    """One request to the stack's url through the ingress: status, JSON body, headers (lower-case)."""
    url = deployed.stack.outputs()["url"]
    args = ["curl", "-s", "-D", "-", "-X", method, "--max-time", "15", url + path]
    if body is not None:
        args += ["-H", "Content-Type: application/json", "--data", json.dumps(body)]
    out = engine.run(args, env=deployed.env, check=False).stdout
    head, _, text = out.replace("\r\n", "\n").partition("\n\n")
    lines = head.splitlines()
    if not lines:
        return 0, {}, {}
    headers = {k.strip().lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:] if ":" in line)}
    try:
        payload = json.loads(text) if text.strip() else {}
    except json.JSONDecodeError:
        payload = {"text": text}
    return int(lines[0].split()[1]), payload, headers


def _task(deployed: Deployed, n: int, timeout: float = 90) -> dict:
    """Start a task through the API and wait for the worker's result."""
    status, body, _ = _http(deployed, "POST", "/api/v1/tasks", {"n": n})
    assert status == 202, (status, body)
    deadline = time.monotonic() + timeout
    while True:
        status, state, _ = _http(deployed, "GET", f"/api/v1/tasks/{body['task_id']}")
        if status == 200 and state["state"] == "SUCCESS":
            return state
        assert time.monotonic() < deadline, f"task {body['task_id']} not done within {timeout:.0f} s: {state}"
        time.sleep(1)


def _restarts(deployed: Deployed, *names: str) -> dict[str, int]:
    """Every Ready pod of `names` with its containers' restarts."""
    return {pod: restarts for name in names for pod, restarts in _ready_pods(deployed, name).items()}


def test_a_redis_outage_degrades_the_api_restarts_nothing_and_recovers(deployed: Deployed) -> None:
    """README "Readiness and dependency outages", on real pods: with Redis gone the backend stays in
    its Service (reads of finished work from PostgreSQL, submissions 503 + Retry-After), no liveness
    probe fails, and when Redis is back tasks run again."""
    finished = _task(deployed, 12)
    assert finished["result"]["sum"] == 78
    before = _restarts(deployed, "backend", "worker", "frontend")
    cluster = deployed.cluster
    cluster.kubectl("scale", "deployment", "redis", "-n", NAMESPACE, "--replicas", "0")
    try:
        _wait("the Redis pod gone", lambda: not deployed.pods("redis"), 60)
        seen_degraded = False
        # Beyond the backend's readiness failure budget (period x threshold), as deployed.
        (api,) = deployed.get("deployment", "backend")["spec"]["template"]["spec"]["containers"]
        budget = api["readinessProbe"]["periodSeconds"] * api["readinessProbe"]["failureThreshold"]
        deadline = time.monotonic() + budget + 10
        while time.monotonic() < deadline:
            status, body, _ = _http(deployed, "GET", "/api/v1/health/ready")
            assert status == 200, f"the backend left its Service during a Redis outage: {status} {body}"
            seen_degraded |= body.get("status") == "degraded" and body.get("failed") == ["redis"]
            status, body, _ = _http(deployed, "GET", f"/api/v1/tasks/{finished['task_id']}")
            assert status == 200 and body["state"] == "SUCCESS", (status, body)
            status, body, headers = _http(deployed, "POST", "/api/v1/tasks", {"n": 5})
            assert (status, headers.get("retry-after")) == (503, "5"), (status, body, headers)
            time.sleep(2)
        assert seen_degraded
    finally:
        cluster.kubectl("scale", "deployment", "redis", "-n", NAMESPACE, "--replicas", "1")
    cluster.kubectl("rollout", "status", "deployment/redis", "-n", NAMESPACE, "--timeout=120s")
    _wait("the API ready again", lambda: _http(deployed, "GET", "/api/v1/health/ready")[1].get("status") == "ready", 90)
    assert _task(deployed, 5, timeout=120)["result"]["sum"] == 15
    _wait("the same pods Ready again, none restarted (a Redis outage restarts nothing)",
          lambda: _restarts(deployed, "backend", "worker", "frontend") == before, 90)
    make("preview", deployed.project, deployed.env, "PULUMI_ARGS=--expect-no-changes")


def test_a_postgres_outage_takes_the_api_out_of_service_and_it_recovers_with_every_row(deployed: Deployed) -> None:
    """The PostgreSQL pod deleted: the API reports not ready while it is away (503), the StatefulSet
    brings it back on the same volume, every row written before is there, and nothing else restarts."""
    finished = _task(deployed, 9)
    before = _restarts(deployed, "backend", "worker", "frontend")
    cluster = deployed.cluster
    cluster.kubectl("delete", "pod", "postgres-0", "-n", NAMESPACE, "--wait=false")
    _wait("the API reporting not ready", lambda: _http(deployed, "GET", "/api/v1/health/ready")[0] == 503, 60)
    cluster.kubectl("wait", "pod/postgres-0", "-n", NAMESPACE, "--for=condition=Ready", "--timeout=180s")
    _wait("the API ready again", lambda: _http(deployed, "GET", "/api/v1/health/ready")[1].get("status") == "ready", 90)
    status, body, _ = _http(deployed, "GET", f"/api/v1/tasks/{finished['task_id']}")
    assert status == 200 and body["result"] == finished["result"], (status, body)
    assert _task(deployed, 6, timeout=120)["result"]["sum"] == 21
    _wait("the same pods Ready again, none restarted (a PostgreSQL outage restarts nothing)",
          lambda: _restarts(deployed, "backend", "worker", "frontend") == before, 90)


def test_each_app_pod_stops_on_its_signal_well_inside_its_grace_period(deployed: Deployed) -> None:
    """A pod deleted: the kubelet runs the preStop pause (5 s), sends the image's stop signal, and
    the process exits by itself: the deletion completes long before the grace period, where the
    kubelet would SIGKILL a process that ignored its signal. The ReplicaSet's new pod becomes Ready."""
    for name in ("backend", "worker", "frontend"):
        (pod, *_) = _ready_pods(deployed, name)
        grace = deployed.get("pod", pod)["spec"]["terminationGracePeriodSeconds"]
        started = time.monotonic()
        deployed.cluster.kubectl("delete", "pod", pod, "-n", NAMESPACE, "--wait=true", timeout=grace + 60)
        took = time.monotonic() - started
        assert 5 <= took < grace - 5, f"{name}: deleting a pod took {took:.1f} s (preStop 5 s, grace {grace} s)"
        deployed.cluster.kubectl("rollout", "status", f"deployment/{name}", "-n", NAMESPACE, "--timeout=180s")


def test_the_backend_gets_its_config_and_secrets_as_the_stack_says_and_logs_no_secret(deployed: Deployed) -> None:
    """The environment of the running API is its ConfigMap's data plus its Secret's keys (envFrom):
    nothing literal in the pod spec, and the secret key's value is in no log line."""
    cluster = deployed.cluster
    backend = deployed.get("deployment", "backend")["spec"]["template"]["spec"]["containers"][0]
    assert not [e for e in backend.get("env") or [] if "value" in e], "literal env values in the pod spec"
    (config_map,) = [s["configMapRef"]["name"] for s in backend["envFrom"] if "configMapRef" in s]
    (secret,) = [s["secretRef"]["name"] for s in backend["envFrom"] if "secretRef" in s]
    data = cluster.get("configmap", config_map, namespace=NAMESPACE)["data"]
    keys = set(cluster.get("secret", secret, namespace=NAMESPACE)["data"])
    assert {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"} <= keys and "LOG_LEVEL" in data
    (pod, *_) = _ready_pods(deployed, "backend")
    seen = json.loads(cluster.kubectl("exec", "-n", NAMESPACE, pod, "--", "python", "-c",
                                      "import json, os; print(json.dumps(dict(os.environ)))").stdout)
    assert {k: seen.get(k) for k in data} == data
    assert keys <= set(seen)
    for name in ("backend", "worker"):
        for p in _ready_pods(deployed, name):
            logs = cluster.kubectl("logs", "-n", NAMESPACE, p, "--all-containers").stdout
            assert seen["SECRET_KEY"] not in logs, f"{name}: the secret key is in its log"


def test_the_web_answers_through_the_ingress_with_its_headers_and_spa_routes(deployed: Deployed) -> None:
    """The frontend's nginx as a browser meets it: a deep link gets the app shell, a missing asset
    404, every answer the security headers; /api reaches the API."""
    status, page, headers = _http(deployed, "GET", "/tasks/deep/link")
    assert status == 200 and '<div id="root">' in page.get("text", ""), (status, page)
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert _http(deployed, "GET", "/assets/missing-0000.js")[0] == 404
    status, body, _ = _http(deployed, "GET", "/api/v1/health/ready")
    assert status == 200 and body["status"] == "ready", body


def test_the_distroless_backend_runs_hardened_with_nothing_to_exec_into(deployed: Deployed) -> None:
    """`backendVariant: distroless` on the same stack: the backend and worker roll to the shell-less
    image, run hardened, serve and run tasks; `kubectl exec` finds no shell, package manager or
    coreutils. Then back to slim."""
    before = deployed.images()["backend"]
    engine.set_stack_value(deployed.project, "dev", "backendVariant", "distroless")
    try:
        deployed.up()
        assert deployed.images()["backend"] != before, "the distroless variant is another image"
        (pod, *_) = _ready_pods(deployed, "backend")
        for tool in ("sh", "bash", "apt-get", "pip", "ls"):
            tried = deployed.cluster.kubectl("exec", "-n", NAMESPACE, pod, "--", tool, "--version", check=False)
            assert tried.returncode != 0 and "executable file not found" in tried.stdout + tried.stderr, (tool, tried)
        for name in ("backend", "worker"):
            for p in _ready_pods(deployed, name):
                seen = deployed.cluster.kubectl("exec", "-n", NAMESPACE, p, "--", *INSIDE["python"]).stdout.split()
                assert seen[:2] == ["10001", "10001"] and int(seen[2], 16) == 0 and seen[5:7] == ["False", "True"], seen
        assert _task(deployed, 7, timeout=120)["result"]["sum"] == 28
    finally:
        engine.set_stack_value(deployed.project, "dev", "backendVariant", "slim")
        deployed.up()
    assert deployed.images()["backend"] == before
