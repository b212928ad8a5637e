"""Pod-spec conformance: what each stack deploys, run for real on the images it deploys.

For every app workload of every stack, the synthesized pod spec (scripts/synth.py, the
same program `pulumi up` runs) is executed by tests/images/kubelet.py the way kubelet
would: the image built from the one build spec and pulled by digest from the registry,
its command/args, env from the synthesized ConfigMaps plus test Secrets, uid/gid,
read-only root with tmpfs at each emptyDir, dropped capabilities, no-new-privileges,
limits, probes exactly as specified, preStop, and the stop signal with SIGKILL at
terminationGracePeriodSeconds. PostgreSQL and Redis are real, on loopback.

Cluster DNS is modelled with hostAliases: each Service name resolves to 127.0.0.1, where
the host-networked containers listen on their real ports (8000, 8080).

The backend runs in each variant a stack can select (`mbhealth:backendVariant`): the
backend tests run per release, `dev` and `prod` on the slim image and `prod-distroless` on
the distroless one (no shell: the runtime checks use `python -c`, never `sh`).
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from components.build_specs import BACKEND_VARIANTS
from scripts.synth import SynthResult, synthesize
from tests.images import kubelet
from tests.images.harness import Release, http
from tests.support.services import PostgresServer, RedisServer, skip_or_fail

STACKS = ("dev", "prod")
DEFAULT_VARIANT = "slim"
# (stack, backend variant) releases the backend tests run; ids keep the plain stack name for slim.
RELEASES = [
    pytest.param(("dev", DEFAULT_VARIANT), id="dev"),
    pytest.param(("prod", DEFAULT_VARIANT), id="prod"),
    pytest.param(("prod", "distroless"), id="prod-distroless"),
]


# --------------------------------------------------------------------------- fixtures


class Synths(dict):
    """(stack, backend variant) -> the synthesized stack with that variant selected, made on first use."""

    def __missing__(self, key: tuple[str, str]) -> SynthResult:
        stack, variant = key
        self[key] = synthesize(stack, overrides={"backendVariant": variant})
        return self[key]


@pytest.fixture(scope="module")
def synths() -> Synths:
    return Synths()


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer().start()
    except Exception as exc:  # noqa: BLE001 - missing binaries or a failed start
        skip_or_fail(f"PostgreSQL: {exc}")
    yield server
    server.cleanup()


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    """A Redis of the test's own (the fault test stops and restarts it)."""
    try:
        server = RedisServer(password="conformance-redis-" + secrets.token_hex(8)).start()
    except Exception as exc:  # noqa: BLE001
        skip_or_fail(f"Redis: {exc}")
    yield server
    server.cleanup()


@pytest.fixture(scope="module")
def real_images(images):
    """variant -> {image name: the real pushed `repo@sha256:...`}, built from components/build_specs.py."""

    def for_variant(variant: str) -> dict[str, str]:
        return {"backend": images.get("backend", spec=BACKEND_VARIANTS[variant]).ref,
                "frontend": images.get("frontend").ref}

    return for_variant


@pytest.fixture
def release_factory(synths, real_images, postgres) -> Iterator:
    opened: list[Release] = []

    def open_release(stack: str, redis_server: RedisServer, variant: str = DEFAULT_VARIANT) -> Release:
        database = postgres.create_database()
        release = Release(synths[stack, variant], real_images(variant), database, redis_server.url())
        opened.append(release)
        code, logs, _ = release.run_job("migrate")
        assert code == 0, f"migrate Job failed:\n{logs}"
        return release

    yield open_release
    for release in opened:
        release.close()


# The same runtime facts read with the image's python (the backend images; distroless has no shell).
_RUNTIME_FACTS = """
import json, os
def write(path):
    try:
        with open(path, "w") as fh:
            fh.write("x")
        with open(path) as fh:
            return fh.read()
    except OSError as exc:
        return exc.strerror
status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
print(json.dumps({"uid": os.geteuid(), "gid": os.getegid(), "root": write("/conformance-probe"),
                  "tmp": write("/tmp/conformance-probe"), "CapEff": status["CapEff"].strip(),
                  "NoNewPrivs": status["NoNewPrivs"].strip()}))
"""


def runtime_facts(c: kubelet.Container, shell: bool) -> dict[str, Any]:
    if not shell:
        proc = c.exec(["python", "-c", _RUNTIME_FACTS])
        assert proc.returncode == 0, proc.stderr
        return json.loads(proc.stdout)
    ids = c.exec(["sh", "-c", "id -u; id -g"])
    assert ids.returncode == 0, ids.stderr
    uid, gid = ids.stdout.split()
    write_root = c.exec(["sh", "-c", "echo x > /conformance-probe"])
    write_tmp = c.exec(["sh", "-c", "echo x > /tmp/conformance-probe && cat /tmp/conformance-probe"])
    status = c.exec(["sh", "-c", "grep -E '^(CapEff|NoNewPrivs):' /proc/self/status"])
    fields = {k: v.strip() for k, v in (line.split(":", 1) for line in status.stdout.strip().splitlines())}
    return {"uid": int(uid), "gid": int(gid),
            "root": "x" if write_root.returncode == 0 else write_root.stderr,
            "tmp": write_tmp.stdout.strip() if write_tmp.returncode == 0 else write_tmp.stderr, **fields}


def assert_hardened_at_runtime(c: kubelet.Container, shell: bool = False) -> None:
    """Effective uid/gid not 0, `/` read-only, /tmp writable, no capabilities, no-new-privileges.

    Checked with the image's `python -c` (backend images, shell-less distroless included), or
    with `sh` (`shell=True`, the nginx image).
    """
    facts = runtime_facts(c, shell)
    sc = kubelet.effective_security_context(c.spec, c.pod_spec)
    assert facts["uid"] == sc["runAsUser"] != 0 and facts["gid"] == sc["runAsGroup"] != 0, facts
    assert "Read-only file system" in facts["root"], facts
    assert facts["tmp"] == "x", facts
    assert int(facts["CapEff"], 16) == 0 and facts["NoNewPrivs"] == "1", facts


def assert_no_shell(c: kubelet.Container) -> None:
    """Nothing to `kubectl exec` into: no shell, no package manager, no coreutils on PATH."""
    for tool in ("sh", "bash", "apt-get", "pip", "ls"):
        proc = c.exec([tool, "--version"])
        output = (proc.stdout or "") + (proc.stderr or "")  # docker 20.10 prints exec errors on stdout
        assert proc.returncode != 0 and "executable file not found" in output, (tool, output)
    found = c.exec(["python", "-c", "import os, shutil; print([p for p in ('/bin/sh', '/usr/bin/sh', '/bin/bash')"
                                    " if os.path.lexists(p)], shutil.which('sh'))"])
    assert found.stdout.strip() == "[] None", found.stdout


def assert_graceful_exit(c: kubelet.Container) -> kubelet.Termination:
    result = c.terminate()
    assert not result.killed, f"{c.name} needed SIGKILL after {result.grace_seconds}s:\n{c.logs(40)}"
    assert result.exit_code == 0, f"{c.name} exited {result.exit_code} on {result.signal}:\n{c.logs(40)}"
    assert result.total_seconds < result.grace_seconds
    return result


def wait_task(base: str, task_id: str, timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        status, body, _ = http(f"{base}/api/v1/tasks/{task_id}")
        if status == 200 and body["state"] == "SUCCESS":
            return body
        assert time.monotonic() < deadline, f"task {task_id}: {status} {body}"
        time.sleep(0.3)


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("release_of", RELEASES)
def test_backend_api_runs_as_specified(release_of, release_factory, redis) -> None:
    stack, variant = release_of
    release = release_factory(stack, redis, variant)
    api = release.container("Deployment", "backend")
    ready_after = api.wait_ready()
    assert ready_after <= api.startup_budget()
    assert api.probe("liveness").ok and api.probe("readiness").ok
    # The environment is the synthesized ConfigMap's data plus the Secret's keys, nothing literal.
    config_map = next(s["configMapRef"]["name"] for s in api.spec["envFrom"] if "configMapRef" in s)
    env = api.exec(["python", "-c", "import os, json; print(json.dumps(dict(os.environ)))"])
    seen = json.loads(env.stdout)
    assert {k: seen[k] for k in release.config_maps[config_map]} == release.config_maps[config_map]
    assert {k: seen[k] for k in release.secret_values} == release.secret_values
    assert_hardened_at_runtime(api)
    if variant == "distroless":
        assert_no_shell(api)
    assert release.secret_values["SECRET_KEY"] not in api.logs()
    assert_graceful_exit(api)


@pytest.mark.parametrize("release_of", RELEASES)
def test_worker_answers_ping_completes_a_task_and_shuts_down_warm(release_of, release_factory, redis) -> None:
    stack, variant = release_of
    release = release_factory(stack, redis, variant)
    api = release.container("Deployment", "backend")
    worker = release.container("Deployment", "worker")
    api.wait_ready()
    worker.wait_ready()  # readiness is `celery inspect ping` against its own node name
    assert worker.probe("liveness").ok  # the heartbeat file, no broker involved
    assert_hardened_at_runtime(worker)
    status, body, _ = http("http://127.0.0.1:8000/api/v1/tasks", "POST", {"n": 12})
    assert status == 202, body
    done = wait_task("http://127.0.0.1:8000", body["task_id"])
    assert done["result"]["sum"] == 78
    assert_graceful_exit(worker)
    assert_graceful_exit(api)


@pytest.mark.parametrize("stack", STACKS)
def test_frontend_serves_and_proxies_to_the_backend(stack, release_factory, redis) -> None:
    release = release_factory(stack, redis)
    api = release.container("Deployment", "backend")
    api.wait_ready()
    web = release.container("Deployment", "frontend")
    assert web.wait_ready() <= max(web.startup_budget(), 10)
    assert web.probe("liveness").ok
    assert_hardened_at_runtime(web, shell=True)
    status, body, headers = http("http://127.0.0.1:8080/api/v1/health/ready")
    assert status == 200 and body["status"] == "ready", body
    status, page, headers = http("http://127.0.0.1:8080/tasks/deep/link")
    assert status == 200 and '<div id="root">' in page
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert http("http://127.0.0.1:8080/assets/missing-0000.js")[0] == 404
    assert_graceful_exit(web)
    assert_graceful_exit(api)


@pytest.mark.parametrize("release_of", RELEASES)
def test_smoke_job_passes_against_the_running_release(release_of, release_factory, redis) -> None:
    stack, variant = release_of
    release = release_factory(stack, redis, variant)
    for name in ("backend", "worker", "frontend"):
        release.container("Deployment", name).wait_ready()
    code, logs, seconds = release.run_job("smoke")
    checks = [json.loads(line) for line in logs.splitlines() if line.startswith('{"event": "smoke"')]
    assert code == 0, logs
    assert [(c["check"], c["ok"]) for c in checks] == [("api-ready", True), ("web", True), ("task-round-trip", True)]


def test_smoke_job_fails_the_release_when_the_worker_is_missing(release_factory, redis) -> None:
    release = release_factory("dev", redis)
    for name in ("backend", "frontend"):
        release.container("Deployment", name).wait_ready()
    (spec,) = release.pod("Job", "smoke")["containers"]
    # A short deadline: no worker will ever finish the task.
    code, logs, _ = release.run_job("smoke", args=[*spec["args"][:-1], "8"])
    assert code == 1
    assert '"check": "task-round-trip", "ok": false' in logs


def test_redis_blip_keeps_the_backend_in_service_restarts_nothing_and_recovers(release_factory, redis) -> None:
    """A Redis outage degrades the API (reads from PostgreSQL, 503 + Retry-After on submissions)
    but never takes it out of the Service, and no liveness probe fails: nothing restarts."""
    release = release_factory("dev", redis)
    api = release.container("Deployment", "backend")
    worker = release.container("Deployment", "worker")
    web = release.container("Deployment", "frontend")
    for c in (api, worker, web):
        c.wait_ready()
    started = {c.name: c.state()["StartedAt"] for c in (api, worker, web)}
    base = "http://127.0.0.1:8080"  # through the frontend's /api proxy, as a browser reaches it
    status, body, _ = http(f"{base}/api/v1/tasks", "POST", {"n": 12})
    assert status == 202, body
    finished = body["task_id"]
    wait_task(base, finished)

    redis.stop()
    blip_end = time.monotonic() + 15
    seen_degraded = False
    while time.monotonic() < blip_end:
        # The kubelet's probes as specified: the API stays Ready, nobody's liveness fails.
        ready = api.probe("readiness")
        assert ready.ok, f"the backend left the Service during a Redis blip: {ready.detail}"
        for c in (api, worker, web):
            live = c.probe("liveness")
            assert live.ok, f"{c.name}: liveness failed during a Redis blip: {live.detail}"
        status, body, _ = http(f"{base}/api/v1/health/ready")
        assert status == 200, body
        seen_degraded |= body["status"] == "degraded" and body["failed"] == ["redis"]
        # Reads of finished work need no Redis; submissions say when to retry.
        status, body, _ = http(f"{base}/api/v1/tasks/{finished}")
        assert status == 200 and body["state"] == "SUCCESS" and body["result"]["sum"] == 78, body
        status, body, headers = http(f"{base}/api/v1/tasks", "POST", {"n": 5})
        assert status == 503 and body == {"detail": "task queue unavailable"}, body
        assert {k.lower(): v for k, v in headers.items()}.get("retry-after") == "5"
        time.sleep(1)
    assert seen_degraded
    assert not worker.probe("readiness").ok  # the ping needs the broker; workers are behind no Service

    redis.restart()
    api.wait_ready(timeout=30)
    worker.wait_ready(timeout=60)
    status, body, _ = http(f"{base}/api/v1/health/ready")
    assert status == 200 and body["status"] == "ready", body
    status, body, _ = http(f"{base}/api/v1/tasks", "POST", {"n": 5})
    assert status == 202, body
    assert wait_task(base, body["task_id"])["result"]["sum"] == 15
    for c in (api, worker, web):
        state = c.state()
        assert state["Running"] and state["StartedAt"] == started[c.name], f"{c.name} restarted"


def test_browser_loads_the_frontend_container_with_live_api_status(release_factory, redis) -> None:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        skip_or_fail("chromium not installed (bash tools/machine/system-deps.sh services)")
    release = release_factory("dev", redis)
    for name in ("backend", "worker", "frontend"):
        release.container("Deployment", name).wait_ready()
    status, body, _ = http("http://127.0.0.1:8080/api/v1/tasks", "POST", {"n": 10})
    assert status == 202, body
    task_id = body["task_id"]
    wait_task("http://127.0.0.1:8080", task_id)
    profile = Path(tempfile.mkdtemp(prefix="mbh-chromium-"))
    try:
        dom = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", f"--user-data-dir={profile}", "--virtual-time-budget=15000",
             "--dump-dom", f"http://127.0.0.1:8080/tasks/{task_id}"],
            capture_output=True, text=True, timeout=90,
        ).stdout
    finally:
        shutil.rmtree(profile, ignore_errors=True)
    # Rendered by the bundle under nginx's CSP: the deep link was routed client-side, and the
    # readiness and the task's result came from the backend container through /api.
    assert "API ready" in dom, dom[-3000:]
    assert f"Task {task_id}" in dom and 'data-state="SUCCESS"' in dom, dom[-3000:]
