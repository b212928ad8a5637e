"""Worker liveness proves progress (mbhealth/heartbeat.py), with real Redis, PostgreSQL and workers.

The kubelet is played by `_Kubelet`: it runs the liveness command (`python -m mbhealth probe
worker-alive`) every period and, after `failureThreshold` failures in a row, restarts the
container: SIGTERM, SIGKILL at the end of the grace period, a new process with the same
environment. Times are scaled down through the worker's own settings (heartbeat every 0.5 s,
max age 3 s); the probe's thresholds are the deployed ones (components/probes.py).
"""

from __future__ import annotations

import signal
import socket
import time
import uuid
from pathlib import Path

import pytest
from celery import Celery

from tests.apps.backend.helpers import run_cli, wait_until

pytestmark = pytest.mark.services

MAX_AGE = 3.0
PERIOD = 1.0  # the probe period, scaled like the max age (deployed: 30 s for 60 s)
FAILURE_THRESHOLD = 3  # as deployed
NODE = f"celery@{socket.gethostname()}"


def _alive(env: dict[str, str]) -> bool:
    return run_cli("probe", "worker-alive", env=env, timeout=20).returncode == 0


class _Kubelet:
    def __init__(self, env: dict[str, str]) -> None:
        self.env = env
        self.failures = 0
        self.history: list[bool] = []

    def probe_once(self) -> bool:
        ok = _alive(self.env)
        self.history.append(ok)
        self.failures = 0 if ok else self.failures + 1
        return ok

    def watch(self, seconds: float) -> bool:
        """Probe every PERIOD for `seconds`; True as soon as a restart would be due."""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.probe_once()
            if self.failures >= FAILURE_THRESHOLD:
                return True
            time.sleep(PERIOD)
        return False

    @staticmethod
    def restart(worker, processes, env, grace: float = 3.0):
        worker.proc.send_signal(signal.SIGTERM)
        try:
            worker.proc.wait(timeout=grace)
        except Exception:  # noqa: BLE001 - still running at the end of the grace period
            worker.proc.kill()
            worker.proc.wait(timeout=10)
        return processes.worker(env, name=f"worker-{uuid.uuid4().hex[:6]}")


@pytest.fixture
def liveness_env(make_env, migrated_db, fresh_redis) -> dict[str, str]:
    return make_env(migrated_db, fresh_redis.url(), WORKER_HEARTBEAT_INTERVAL="0.5",
                    WORKER_HEARTBEAT_MAX_AGE=str(MAX_AGE), WORKER_CONCURRENCY="1")


def _client(env: dict[str, str]) -> Celery:
    return Celery("liveness-test", broker=env["REDIS_URL"], backend=env["REDIS_URL"])


def test_a_worker_with_a_blocked_event_loop_fails_liveness_and_is_restarted(liveness_env, processes, pg_server,
                                                                           migrated_db) -> None:
    env = liveness_env
    worker = processes.worker(env)
    wait_until(lambda: _alive(env), 10, 0.2, "the first heartbeat")
    kubelet = _Kubelet(env)
    assert not kubelet.watch(3 * PERIOD), "liveness failed on a healthy worker"

    client = _client(env)
    try:
        # The event loop stops turning (a hung call in it): the process is alive, the worker is not.
        client.control.broadcast("mbhealth_test_block_event_loop", arguments={"seconds": 300}, destination=[NODE])
        wait_until(lambda: "test: blocking the event loop" in worker.stdout(), 10, 0.1, "the loop to block")
        started = time.monotonic()
        assert kubelet.watch(MAX_AGE + (FAILURE_THRESHOLD + 4) * PERIOD + 5), (
            f"liveness kept passing with a blocked event loop: {kubelet.history}")
        assert time.monotonic() - started < MAX_AGE + (FAILURE_THRESHOLD + 4) * PERIOD + 5
        assert worker.proc.poll() is None, "the process must still be running: only progress tells it is stuck"

        restarted = _Kubelet.restart(worker, processes, env)
        wait_until(lambda: _alive(env), 10, 0.2, "the restarted worker's first heartbeat")
        queued = client.send_task("mbhealth.analyze_number", args=[11])
        wait_until(lambda: queued.state == "SUCCESS", 20, 0.1, "the restarted worker to run a task")
        assert queued.result["sum"] == 66
        assert restarted.proc.poll() is None
    finally:
        client.close()
    database = migrated_db.rsplit("/", 1)[1]
    assert pg_server.execute(f"SELECT runs FROM task_results WHERE task_id = '{queued.id}'", database) == [(1,)]


def test_a_slow_task_keeps_the_heartbeat_fresh_and_is_not_killed(liveness_env, processes, pg_server,
                                                                 migrated_db) -> None:
    env = liveness_env
    worker = processes.worker(env)  # one pool process: the slow task occupies it entirely
    wait_until(lambda: _alive(env), 10, 0.2, "the first heartbeat")
    heartbeat = Path(env["WORKER_HEARTBEAT_FILE"])
    client = _client(env)
    try:
        slow = client.send_task("mbhealth.analyze_number", args=[30], kwargs={"test_delay_seconds": 10})
        wait_until(lambda: slow.state == "STARTED", 10, 0.1, "the slow task to start")
        before = heartbeat.stat().st_mtime
        kubelet = _Kubelet(env)
        # Longer than three max ages: a heartbeat that waited for the task would have failed.
        assert not kubelet.watch(3 * MAX_AGE), f"liveness failed while a slow task ran: {kubelet.history}"
        assert all(kubelet.history) and heartbeat.stat().st_mtime > before
        wait_until(lambda: slow.state == "SUCCESS", 15, 0.1, "the slow task to finish")
        assert slow.result["n"] == 30
        assert worker.proc.poll() is None
    finally:
        client.close()
    database = migrated_db.rsplit("/", 1)[1]
    assert pg_server.execute(f"SELECT runs FROM task_results WHERE task_id = '{slow.id}'", database) == [(1,)]


def test_a_broker_that_stops_delivering_fails_liveness_and_a_recovered_one_passes(liveness_env, fresh_redis,
                                                                                  processes) -> None:
    """Redis frozen (SIGSTOP): the worker's connection stays open and delivers nothing, the
    half-open state a lost connection that never recovers looks like from the worker."""
    env = liveness_env
    processes.worker(env)
    wait_until(lambda: _alive(env), 10, 0.2, "the first heartbeat")
    fresh_redis.process.send_signal(signal.SIGSTOP)
    try:
        kubelet = _Kubelet(env)
        assert kubelet.watch(MAX_AGE + (FAILURE_THRESHOLD + 4) * PERIOD + 5), (
            f"liveness kept passing while the broker delivered nothing: {kubelet.history}")
    finally:
        fresh_redis.process.send_signal(signal.SIGCONT)
    wait_until(lambda: _alive(env), 30, 0.5, "the heartbeat once the broker delivers again")
