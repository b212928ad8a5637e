"""Liveness touches nothing; readiness names the dependency that is down (real servers)."""

from __future__ import annotations

import time
import uuid

import pytest

from tests.apps.backend.helpers import wait_until
from tests.support.services import PostgresServer, RedisServer, free_port, silent_tcp_server

pytestmark = pytest.mark.services


def _assert_not_ready(api, failed: list[str], within: float = 6.0) -> dict:
    started = time.monotonic()
    resp = api.get("/health/ready")
    elapsed = time.monotonic() - started
    assert resp.status == 503, resp.body
    assert resp.body["status"] == "unavailable"
    assert resp.body["failed"] == failed
    for name in ("postgresql", "redis"):
        assert resp.body["checks"][name]["status"] == ("error" if name in failed else "ok")
    assert elapsed < within, f"readiness took {elapsed:.1f}s"
    assert resp.headers.get("cache-control") == "no-store"
    return resp.body


def test_ready_and_live_with_both_dependencies_up(env, processes) -> None:
    api = processes.api(env)
    ready = api.get("/health/ready")
    assert ready.status == 200
    assert ready.body == {
        "status": "ready",
        "checks": {"postgresql": {"status": "ok"}, "redis": {"status": "ok"}},
        "failed": [],
    }
    live = api.get("/health/live")
    assert live.status == 200 and live.body["status"] == "ok"


def test_redis_blip_degrades_the_api_but_keeps_it_ready_and_it_recovers(
    make_env, migrated_db, fresh_redis, processes
) -> None:
    """Redis is shared by every pod: its outage must not empty the Service (mbhealth/health.py)."""
    env = make_env(migrated_db, fresh_redis.url())
    processes.worker(env)
    api = processes.api(env)
    assert api.get("/health/ready").body["status"] == "ready"
    done = api.post("/tasks", {"n": 10}).body["task_id"]
    wait_until(lambda: api.get(f"/tasks/{done}").body["state"] == "SUCCESS", 20, 0.1, "the task to finish")

    fresh_redis.stop()
    # Readiness: still 200 (the pod stays in the Service), saying what is degraded.
    started = time.monotonic()
    ready = api.get("/health/ready")
    assert time.monotonic() - started < 3
    assert ready.status == 200, ready.body
    assert ready.body["status"] == "degraded" and ready.body["failed"] == ["redis"]
    assert ready.body["checks"] == {"postgresql": {"status": "ok"},
                                    "redis": {"status": "error", "error": "ConnectionError"}}
    assert ready.headers.get("cache-control") == "no-store"
    assert api.get("/health/live").status == 200
    # A finished task is read from PostgreSQL: no Redis needed, answered at once.
    started = time.monotonic()
    read = api.get(f"/tasks/{done}")
    assert time.monotonic() - started < 1
    assert read.status == 200 and read.body["state"] == "SUCCESS" and read.body["result"]["sum"] == 55
    # What needs Redis answers 503 quickly, telling the client when to retry.
    started = time.monotonic()
    queued = api.post("/tasks", {"n": 5})
    assert queued.status == 503 and queued.body == {"detail": "task queue unavailable"}
    assert queued.headers.get("retry-after") == "5"
    assert time.monotonic() - started < 5
    started = time.monotonic()
    unknown = api.get(f"/tasks/{uuid.uuid4()}")
    assert unknown.status == 503 and unknown.body == {"detail": "result backend unavailable"}
    assert unknown.headers.get("retry-after") == "5"
    assert time.monotonic() - started < 5

    fresh_redis.start()
    wait_until(lambda: api.get("/health/ready").body["status"] == "ready", 10, 0.2, "readiness to recover")
    again = api.post("/tasks", {"n": 6})
    assert again.status == 202, again.body
    wait_until(lambda: api.get(f"/tasks/{again.body['task_id']}").body["state"] == "SUCCESS", 30, 0.2,
               "a task queued after the blip to finish")


def test_redis_that_never_answered_keeps_a_new_pod_unready(make_env, migrated_db, processes) -> None:
    """A new pod whose Redis never answered (wrong URL, missing network policy) gets no traffic."""
    port = free_port()
    api = processes.api(make_env(migrated_db, f"redis://127.0.0.1:{port}/0"))
    body = _assert_not_ready(api, ["redis"])
    assert body["checks"]["redis"]["error"] == "ConnectionError"
    late = RedisServer(port=port).start()
    try:
        assert api.get("/health/ready").status == 200
    finally:
        late.cleanup()


def test_postgres_down_names_postgresql_live_stays_up_and_recovers(make_env, redis_url, processes) -> None:
    own = PostgresServer().start()
    try:
        api = processes.api(make_env(own.create_database(), redis_url))
        assert api.get("/health/ready").status == 200

        own.stop()
        body = _assert_not_ready(api, ["postgresql"])
        assert body["checks"]["postgresql"]["error"] == "OperationalError"
        assert api.get("/health/live").status == 200

        own.start()
        assert api.get("/health/ready").status == 200
    finally:
        own.cleanup()


def test_nothing_listening_on_the_database_port_names_postgresql(make_env, redis_url, processes) -> None:
    api = processes.api(make_env(f"postgresql://app:pw@127.0.0.1:{free_port()}/app", redis_url))
    _assert_not_ready(api, ["postgresql"])
    assert api.get("/health/live").status == 200


def test_hung_dependencies_answer_503_within_the_timeout(make_env, processes) -> None:
    # Both ports accept TCP connections and never answer: only the timeouts end the checks.
    with silent_tcp_server() as pg_port, silent_tcp_server() as redis_port:
        api = processes.api(
            make_env(f"postgresql://app:pw@127.0.0.1:{pg_port}/app", f"redis://127.0.0.1:{redis_port}/0")
        )
        # Inside the 3 s timeout of the Kubernetes HTTP readiness probe.
        body = _assert_not_ready(api, ["postgresql", "redis"], within=3.0)
        assert body["checks"]["postgresql"]["error"] in ("ConnectionTimeout", "timeout")
        assert body["checks"]["redis"]["error"] in ("TimeoutError", "timeout")
        # The event loop was never blocked: liveness answers at once.
        started = time.monotonic()
        assert api.get("/health/live").status == 200
        assert time.monotonic() - started < 1


def test_debug_endpoints_exist_only_in_the_test_environment(make_env, migrated_db, redis_url, processes) -> None:
    test_api = processes.api(make_env(migrated_db, redis_url), name="api-test")
    assert test_api.get("/debug/sleep?seconds=0.1").body == {"slept": 0.1}
    assert test_api.get("/debug/sleep?seconds=60").status == 422

    prod_api = processes.api(make_env(migrated_db, redis_url, ENVIRONMENT="production"), name="api-prod")
    assert prod_api.get("/debug/sleep?seconds=0.1").status == 404
    assert prod_api.get("/docs").status == 404
    assert prod_api.get("/openapi.json").status == 200
