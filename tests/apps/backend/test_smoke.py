"""`python -m mbhealth smoke` (the post-deploy smoke Job) against the real stack on loopback:
nginx (the frontend's own config) -> uvicorn -> Redis -> Celery worker -> PostgreSQL."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.apps.backend.helpers import run_cli

pytestmark = pytest.mark.services


def checks(stdout: str) -> list[dict]:
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def test_smoke_passes_through_the_frontend_proxy(env, processes, frontend_nginx_factory) -> None:
    processes.worker(env)
    api = processes.api(env)
    nginx = frontend_nginx_factory(f"http://127.0.0.1:{api.port}")
    run = run_cli("smoke", "--api", f"http://127.0.0.1:{api.port}", "--web", f"http://127.0.0.1:{nginx.port}",
                  "--timeout", "60", env=env, timeout=90)
    assert run.returncode == 0, run.stdout + run.stderr
    results = checks(run.stdout)
    assert [(c["check"], c["ok"]) for c in results] == [("api-ready", True), ("web", True), ("task-round-trip", True)]
    assert "SUCCESS" in results[-1]["detail"]
    # The task went through nginx to the API: its access log has the proxied POST.
    entries = [json.loads(line) for line in nginx.access_log().splitlines() if line.startswith("{")]
    posts = [e for e in entries if e["method"] == "POST" and e["uri"] == "/api/v1/tasks"]
    assert len(posts) == 1 and posts[0]["status"] == 202
    assert posts[0]["upstream"] == f"127.0.0.1:{api.port}"


def test_smoke_fails_naming_the_dependency_when_redis_is_down(env, processes, fresh_redis, make_env, migrated_db) -> None:
    broken = make_env(migrated_db, fresh_redis.url())
    api = processes.api(broken)
    fresh_redis.stop()
    run = run_cli("smoke", "--api", f"http://127.0.0.1:{api.port}", "--timeout", "3", env=broken, timeout=30)
    assert run.returncode == 1
    (only,) = checks(run.stdout)
    assert only["check"] == "api-ready" and only["ok"] is False
    assert "503" in only["detail"] and "redis" in only["detail"]


def test_smoke_does_not_accept_a_degraded_api(env, processes, fresh_redis, make_env, migrated_db) -> None:
    """Redis down after it answered: the API stays in the Service ("degraded"), the release is refused."""
    degraded = make_env(migrated_db, fresh_redis.url())
    api = processes.api(degraded)
    assert api.get("/health/ready").body["status"] == "ready"
    fresh_redis.stop()
    assert api.get("/health/ready").status == 200
    run = run_cli("smoke", "--api", f"http://127.0.0.1:{api.port}", "--timeout", "3", env=degraded, timeout=30)
    assert run.returncode == 1
    (only,) = checks(run.stdout)
    assert only["check"] == "api-ready" and only["ok"] is False
    assert "200 degraded" in only["detail"] and "redis" in only["detail"]


def test_smoke_fails_when_no_worker_completes_the_task(env, processes) -> None:
    api = processes.api(env)  # no worker running: the task stays PENDING
    run = run_cli("smoke", "--api", f"http://127.0.0.1:{api.port}", "--timeout", "4", env=env, timeout=30)
    assert run.returncode == 1
    last = checks(run.stdout)[-1]
    assert last["check"] == "task-round-trip" and last["ok"] is False and "PENDING" in last["detail"]


@pytest.fixture
def frontend_nginx_factory(tmp_path):
    from tests.apps.frontend.harness import DIST, find_nginx, start_nginx

    nginx_bin = find_nginx()
    if nginx_bin is None or shutil.which("envsubst") is None or not (DIST / "index.html").is_file():
        import os

        reason = "nginx/envsubst or the built frontend (make frontend) is missing"
        if os.environ.get("MBH_REQUIRE_SERVICES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    started = []

    def start(backend_url: str):
        server = start_nginx(DIST, backend_url, nginx_bin)
        started.append(server)
        return server

    yield start
    for server in started:
        server.cleanup()
