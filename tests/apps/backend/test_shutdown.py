"""Graceful shutdown on SIGTERM: uvicorn drains in-flight requests, Celery warm-shuts down."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import threading
import time
from pathlib import Path

import pytest
from celery import Celery

from tests.apps.backend.helpers import wait_until

pytestmark = pytest.mark.services


def test_sigterm_lets_the_in_flight_request_finish_and_exits_0(env, processes) -> None:
    api = processes.api(env)
    outcome: dict[str, object] = {}
    sent = threading.Event()

    def slow_request() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", api.port, timeout=20)
        try:
            conn.request("GET", "/api/v1/debug/sleep?seconds=3")
            sent.set()
            resp = conn.getresponse()
            outcome["status"], outcome["body"] = resp.status, json.loads(resp.read())
        except Exception as exc:  # noqa: BLE001 - reported by the assertions below
            outcome["error"] = repr(exc)
            sent.set()
        finally:
            conn.close()

    client = threading.Thread(target=slow_request)
    client.start()
    assert sent.wait(5)
    time.sleep(0.5)  # the request is inside the handler now

    signalled = time.monotonic()
    api.proc.send_signal(signal.SIGTERM)

    # It stops accepting new connections while the slow request is still running.
    def refused() -> bool:
        try:
            socket.create_connection(("127.0.0.1", api.port), timeout=0.5).close()
            return False
        except ConnectionRefusedError:
            return True

    wait_until(refused, 2.0, 0.05, "the listening socket to close")
    assert client.is_alive(), "the in-flight request ended before the server stopped accepting"

    exit_code = api.proc.wait(timeout=10)
    elapsed = time.monotonic() - signalled
    client.join(5)
    assert outcome == {"status": 200, "body": {"slept": 3.0}}
    assert exit_code == 0, api.output()[-3000:]
    assert elapsed < 10
    assert elapsed > 2, "the process must have waited for the request"
    messages = [r["message"] for r in api.log_records()]
    assert "Shutting down" in messages and messages[-1].startswith("Finished server process")


def test_sigterm_before_any_request_exits_0_quickly(env, processes) -> None:
    api = processes.api(env)
    started = time.monotonic()
    assert api.terminate(timeout=10) == 0
    assert time.monotonic() - started < 3


def _celery_client(redis_url: str) -> Celery:
    return Celery("test-client", broker=redis_url, backend=redis_url)


def test_worker_warm_shutdown_finishes_the_running_task(
    env, processes, pg_server, migrated_db, redis_url, redis_session
) -> None:
    worker = processes.worker(env)
    heartbeat = Path(env["WORKER_HEARTBEAT_FILE"])
    wait_until(heartbeat.exists, 5, 0.1, "the first heartbeat")
    client = _celery_client(redis_url)
    try:
        running = client.send_task("mbhealth.analyze_number", args=[20], kwargs={"test_delay_seconds": 3})
        wait_until(lambda: running.state == "STARTED", 10, 0.05, "the task to start")

        signalled = time.monotonic()
        worker.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        # Queued after the shutdown began: not taken by this worker, left for the next one.
        queued = client.send_task("mbhealth.analyze_number", args=[21])

        exit_code = worker.proc.wait(timeout=30)
        elapsed = time.monotonic() - signalled
        assert exit_code == 0, worker.output()[-3000:]
        assert 1.5 < elapsed < 15, elapsed
        assert running.state == "SUCCESS"
        assert running.result["fibonacci"] == "6765"
        assert queued.state == "PENDING"
        # ...and still in the queue (restored if the worker had prefetched it), not lost.
        assert redis_session.command("LLEN", "celery").endswith(b":1\r\n")
    finally:
        client.close()

    database = migrated_db.rsplit("/", 1)[1]
    assert pg_server.execute(f"SELECT n FROM task_results WHERE task_id = '{running.id}'", database) == [(20,)]
    assert pg_server.execute(f"SELECT count(*) FROM task_results WHERE task_id = '{queued.id}'", database) == [(0,)]
    messages = [r["message"] for r in worker.log_records()]
    assert "worker shutdown requested" in messages
    assert messages.index("worker shutdown requested") < messages.index("task finished")
    assert not heartbeat.exists(), "the heartbeat file outlived the worker"
    # stdout stayed JSON all along (Celery's plain-text shutdown banner is suppressed).
    assert all(line.startswith("{") for line in worker.stdout().splitlines() if line)
