"""`python -m mbhealth probe ...`: the exec probes Kubernetes runs in the containers."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.apps.backend.helpers import run_cli, wait_until

pytestmark = pytest.mark.services


def _probe(name: str, env: dict[str, str]) -> tuple[int, float, str]:
    started = time.monotonic()
    result = run_cli("probe", name, env=env, timeout=20)
    return result.returncode, time.monotonic() - started, result.stdout + result.stderr


def test_worker_alive_follows_the_heartbeat_file_age(env) -> None:
    heartbeat = Path(env["WORKER_HEARTBEAT_FILE"])
    env = {**env, "WORKER_HEARTBEAT_MAX_AGE": "30"}

    code, _, out = _probe("worker-alive", env)
    assert code == 1 and "no heartbeat file" in out

    heartbeat.touch()
    code, _, out = _probe("worker-alive", env)
    assert code == 0, out

    old = time.time() - 31
    os.utime(heartbeat, (old, old))
    code, _, out = _probe("worker-alive", env)
    assert code == 1 and "old" in out


def test_worker_alive_needs_no_application_config(env) -> None:
    """Liveness must not depend on DATABASE_URL/REDIS_URL parsing, let alone the broker."""
    Path(env["WORKER_HEARTBEAT_FILE"]).touch()
    bare = {k: v for k, v in env.items() if k not in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")}
    assert _probe("worker-alive", bare)[0] == 0


def test_worker_probes_across_the_worker_lifetime(make_env, migrated_db, fresh_redis, processes) -> None:
    env = {**make_env(migrated_db, fresh_redis.url()), "WORKER_HEARTBEAT_MAX_AGE": "30"}
    heartbeat = Path(env["WORKER_HEARTBEAT_FILE"])

    code, elapsed, out = _probe("worker-ready", env)
    assert code == 1 and "did not answer" in out
    assert elapsed < 8

    worker = processes.worker(env)
    code, _, out = _probe("worker-ready", env)
    assert code == 0, out
    # The first beat: the worker's own ping came back through the broker into its loop.
    wait_until(heartbeat.exists, 5, 0.1, "the first heartbeat")
    assert _probe("worker-alive", env)[0] == 0

    # The heartbeat keeps beating (interval 0.5 s here).
    first = heartbeat.stat().st_mtime
    wait_until(lambda: heartbeat.stat().st_mtime > first, 5, 0.1, "a newer heartbeat")

    # Broker down: readiness fails fast; no ping comes back, so the heartbeat stops, but
    # liveness passes while it is younger than WORKER_HEARTBEAT_MAX_AGE (a blip restarts nothing).
    fresh_redis.stop()
    code, elapsed, out = _probe("worker-ready", env)
    assert code == 1, out
    assert elapsed < 8
    time.sleep(1.5)
    stalled = heartbeat.stat().st_mtime
    time.sleep(2)
    assert heartbeat.stat().st_mtime == stalled, "the heartbeat beat without the broker"
    assert _probe("worker-alive", env)[0] == 0

    # Broker back: the worker reconnects, answers again, and beats again.
    fresh_redis.start()
    wait_until(lambda: _probe("worker-ready", env)[0] == 0, 30, 0.5, "worker-ready after Redis returned")
    wait_until(lambda: heartbeat.stat().st_mtime > stalled, 30, 0.2, "a heartbeat after Redis returned")

    assert worker.terminate() == 0
    assert not heartbeat.exists()
    assert _probe("worker-alive", env)[0] == 1


def test_api_probes(env, processes) -> None:
    code, _, out = _probe("api-live", env)
    assert code == 1, out  # nothing listens on PORT yet
    processes.api(env)
    assert _probe("api-live", env)[0] == 0
    assert _probe("api-ready", env)[0] == 0
