"""A worker killed while it runs a task (SIGKILL: an OOM kill, a lost node) loses nothing: its
unacked message goes back to the queue once older than WORKER_VISIBILITY_TIMEOUT (the workers'
sweep, mbhealth/worker.py) and another worker runs it; the result has one row in PostgreSQL.
Real Redis, PostgreSQL and worker processes; the timeout scaled down from the deployed 180 s."""

from __future__ import annotations

import time

import psutil
import pytest
from celery import Celery

from tests.apps.backend.helpers import run_cli, wait_until
from tests.support.services import PostgresServer, ServiceUnavailable

pytestmark = pytest.mark.services

VISIBILITY_TIMEOUT = 4.0
SLOW_SECONDS = 8.0  # the test-only delay (ENVIRONMENT=test), within MAX_TEST_DELAY_SECONDS


def test_a_killed_workers_task_is_run_by_another_and_recorded_once(make_env, processes, pg_server, migrated_db,
                                                                    fresh_redis) -> None:
    env = make_env(migrated_db, fresh_redis.url(), WORKER_VISIBILITY_TIMEOUT=str(VISIBILITY_TIMEOUT),
                   WORKER_CONCURRENCY="1")
    first = processes.worker(env, name="worker-killed").wait_ready()
    client = Celery("redelivery-test", broker=env["REDIS_URL"], backend=env["REDIS_URL"])
    try:
        task = client.send_task("mbhealth.analyze_number", args=[13], kwargs={"test_delay_seconds": SLOW_SECONDS})
        wait_until(lambda: task.id in first.stdout() and "task started" in first.stdout(), 20, 0.1,
                   "the first worker to start the task")
        # SIGKILL to the whole worker at once, as a container is killed: its pool's child too.
        tree = psutil.Process(first.pid)
        for process in [*tree.children(recursive=True), tree]:
            process.kill()
        first.kill()
        killed_at = time.monotonic()
        second = processes.worker(env, name="worker-after").wait_ready()
        wait_until(lambda: task.state == "SUCCESS", VISIBILITY_TIMEOUT + 10 + SLOW_SECONDS + 30, 0.2,
                   "the task to be redelivered and finished by the other worker")
        assert time.monotonic() - killed_at >= VISIBILITY_TIMEOUT, "redelivered before the visibility timeout"
        assert task.id in second.stdout()
    finally:
        client.close()
    database = migrated_db.rsplit("/", 1)[1]
    rows = pg_server.execute(f"SELECT runs FROM task_results WHERE task_id = '{task.id}'", database)
    assert rows == [(1,)], rows


def test_a_task_whose_result_write_finds_postgres_away_is_retried_until_it_is_back(make_env, processes,
                                                                                   fresh_redis) -> None:
    """PostgreSQL stopped after the submission (a restart, a failover): the worker's write fails, the
    task is retried with a backoff, and once PostgreSQL is back its row is written, once."""
    server = PostgresServer()
    try:
        server.start()
    except ServiceUnavailable as missing:
        pytest.skip(str(missing))
    try:
        database_url = server.create_database()
        env = make_env(database_url, fresh_redis.url(), WORKER_CONCURRENCY="1")
        migrated = run_cli("migrate", env=env)
        assert migrated.returncode == 0, migrated.stdout + migrated.stderr
        worker = processes.worker(env).wait_ready()
        client = Celery("retry-test", broker=env["REDIS_URL"], backend=env["REDIS_URL"])
        try:
            server.stop()
            task = client.send_task("mbhealth.analyze_number", args=[10])
            wait_until(lambda: "Retry in" in worker.output(), 30, 0.2, "the task to be retried while PostgreSQL is away")
            server.start()
            wait_until(lambda: task.state == "SUCCESS", 60, 0.2, "the retried task to finish once PostgreSQL is back")
        finally:
            client.close()
        rows = server.execute(f"SELECT runs, (result->>'sum')::int FROM task_results WHERE task_id = '{task.id}'",
                              database_url.rsplit("/", 1)[1])
        assert rows == [(1, 55)], rows
    finally:
        server.cleanup()
