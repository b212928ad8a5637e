"""Nothing lost under load while a release rolls: real containers, as the Deployment does it.

The prod stack's synthesized pods run on the real images (tests/images/rollout.py): two backend
replicas behind a Service stand-in, behind the frontend's nginx; a steady, bounded load through
nginx (reads and task submissions) while each replica is replaced in turn; then a worker is
stopped (preStop, SIGTERM) and another killed (SIGKILL) with tasks in flight. No request may
fail, and every accepted task must be recorded exactly once. `make bench-reliability` runs the
same scenario longer and harder (bench/reliability.py -> bench/reliability.md).

Run this suite alone on the engine: it uses free loopback ports, but its load and its timing
assume nothing else is building or running containers.
"""

from __future__ import annotations

import secrets
from typing import Iterator

import pytest

from scripts.synth import synthesize
from tests.images import rollout
from tests.images.harness import Release
from tests.support.services import PostgresServer, RedisServer, skip_or_fail

STACK = "prod"  # maxSurge 1, maxUnavailable 0, preStop pause, grace periods as deployed
RATE = 20.0  # requests/s through nginx
DURATION = 30.0  # s of load at least; it goes on until the roll is done
VISIBILITY_TIMEOUT = 20.0  # WORKER_VISIBILITY_TIMEOUT for the workers (the deployed default is 180 s)


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    try:
        server = PostgresServer().start()
    except Exception as exc:  # noqa: BLE001
        skip_or_fail(f"PostgreSQL: {exc}")
    yield server
    server.cleanup()


@pytest.fixture(scope="module")
def redis() -> Iterator[RedisServer]:
    try:
        server = RedisServer(password="reliability-" + secrets.token_hex(8)).start()
    except Exception as exc:  # noqa: BLE001
        skip_or_fail(f"Redis: {exc}")
    yield server
    server.cleanup()


@pytest.fixture(scope="module")
def release(images, postgres, redis) -> Iterator[Release]:
    real = {"backend": images.get("backend").ref, "frontend": images.get("frontend").ref}
    opened = Release(synthesize(STACK), real, postgres.create_database(), redis.url())
    code, logs, _ = opened.run_job("migrate")
    assert code == 0, f"migrate Job failed:\n{logs}"
    yield opened
    opened.close()


def test_a_rolling_release_under_load_fails_no_request_and_loses_no_task(release, postgres, redis) -> None:
    database = release.secret_values["DATABASE_URL"].rsplit("/", 1)[1]
    result = rollout.run_scenario(
        release, redis.url(), lambda sql: postgres.execute(sql, database),
        rate=RATE, duration=DURATION, visibility_timeout=VISIBILITY_TIMEOUT, log=print,
    )
    print(rollout.summary(result))

    # The roll happened as a Deployment does it, inside the load.
    assert len(result.roll_steps) == 2
    for step in result.roll_steps:
        assert step.old_exit_code == 0 and not step.old_killed, step
        assert step.old_prestop_seconds >= 4.5, step  # the preStop pause ran before SIGTERM
    assert result.roll_window[1] <= result.duration, "the roll outlasted the load"
    served = result.replica_connections
    for step in result.roll_steps:
        assert served.get(step.old_port, 0) > 0 and served.get(step.new_port, 0) > 0, served

    # Not one request failed, during the roll or outside it.
    assert result.requests == round(RATE * result.duration) >= RATE * DURATION
    assert result.roll_requests > 0
    assert result.failed == 0, f"{result.failed} failed requests: {dict(result.failures)}"

    # Workers stopped with tasks in flight: the graceful one finished its tasks, the killed one's
    # tasks came back to the queue and ran again elsewhere.
    graceful, killed = result.worker_stops
    assert graceful.in_flight >= 1 and graceful.exit_code == 0 and not graceful.killed, graceful
    assert killed.in_flight >= 1, killed

    # Every accepted task is recorded exactly once; nothing lost.
    assert result.tasks_submitted > RATE * DURATION * 0.3
    assert result.tasks_missing == [], f"{len(result.tasks_missing)} tasks lost: {result.tasks_missing[:5]}"
    assert result.tasks_duplicated == []
    assert result.tasks_recorded == result.tasks_submitted
    # The killed worker's tasks ran twice (redelivered); their writes landed on one row each.
    assert len(result.tasks_run_twice) >= killed.in_flight
    assert result.tasks_written_twice == []  # killed before their write: one write each
