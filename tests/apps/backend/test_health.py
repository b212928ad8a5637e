"""Liveness touches nothing; readiness names the dependency that is down (real servers)."""

from __future__ import annotations

import time

import pytest

from tests.support.services import PostgresServer, free_port, silent_tcp_server

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


def test_redis_down_names_redis_live_stays_up_and_recovers(make_env, migrated_db, fresh_redis, processes) -> None:
    api = processes.api(make_env(migrated_db, fresh_redis.url()))
    assert api.get("/health/ready").status == 200

    fresh_redis.stop()
    body = _assert_not_ready(api, ["redis"])
    assert body["checks"]["redis"]["error"] == "ConnectionError"
    assert api.get("/health/live").status == 200
    # The feature path answers 503 quickly instead of hanging on the broker.
    started = time.monotonic()
    queued = api.post("/tasks", {"n": 5})
    assert queued.status == 503 and queued.body == {"detail": "task queue unavailable"}
    assert time.monotonic() - started < 10

    fresh_redis.start()
    assert api.get("/health/ready").status == 200


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
