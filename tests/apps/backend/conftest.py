"""Fixtures for the backend suite: real PostgreSQL and Redis, real API and worker processes."""

from __future__ import annotations

import secrets
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.apps.backend.helpers import (
    BACKEND_DIR,
    ApiServer,
    Worker,
    clean_env,
    run_cli,
)
from tests.support import services
from tests.support.services import PostgresServer, RedisServer, free_port

# The shared service fixtures (real PostgreSQL and Redis), made available to this suite.
pg_server = services.pg_server
redis_session = services.redis_session
fresh_redis = services.fresh_redis

# In-process tests import the package the same way the subprocesses find it.
if str(BACKEND_DIR) not in sys.path:
    sys.path.insert(0, str(BACKEND_DIR))


@pytest.fixture(scope="session")
def secret_key() -> str:
    return "sk-" + secrets.token_urlsafe(40)


@pytest.fixture(scope="session")
def migrated_db(pg_server: PostgresServer, secret_key: str, redis_session: RedisServer) -> str:
    """A database of the suite's own, migrated once with `python -m mbhealth migrate`."""
    url = pg_server.create_database()
    env = clean_env(
        DATABASE_URL=url, REDIS_URL=redis_session.url(), SECRET_KEY=secret_key, LOG_LEVEL="INFO", ENVIRONMENT="test"
    )
    result = run_cli("migrate", env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    return url


@pytest.fixture
def redis_url(redis_session: RedisServer) -> str:
    """The session Redis, emptied for this test (no queued task leaks between tests)."""
    redis_session.flushall()
    return redis_session.url()


@pytest.fixture
def make_env(tmp_path: Path, secret_key: str) -> Callable[..., dict[str, str]]:
    """Environment for a backend process; keyword arguments override or (None) remove."""

    def make(database_url: str, redis_url: str, **overrides: str | None) -> dict[str, str]:
        env = clean_env(
            DATABASE_URL=database_url,
            REDIS_URL=redis_url,
            SECRET_KEY=secret_key,
            LOG_LEVEL="INFO",
            ENVIRONMENT="test",
            PORT=str(free_port()),
            WORKER_HEARTBEAT_FILE=str(tmp_path / "worker.heartbeat"),
            WORKER_HEARTBEAT_INTERVAL="0.5",
            WORKER_CONCURRENCY="2",
        )
        for key, value in overrides.items():
            if value is None:
                env.pop(key, None)
            else:
                env[key] = value
        return env

    return make


@pytest.fixture
def env(make_env, migrated_db: str, redis_url: str) -> dict[str, str]:
    """The usual environment: the migrated database and the session Redis."""
    return make_env(migrated_db, redis_url)


class Processes:
    """Starts API and worker processes for one test and always reaps them."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self.started: list = []

    def api(self, env: dict[str, str], name: str = "api") -> ApiServer:
        server = ApiServer(env, self.log_dir, name)
        self.started.append(server)
        return server.wait_live()

    def worker(self, env: dict[str, str], name: str = "worker") -> Worker:
        worker = Worker(env, self.log_dir, name)
        self.started.append(worker)
        return worker.wait_ready()

    def close(self) -> None:
        for proc in reversed(self.started):
            proc.kill()


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    procs = Processes(tmp_path)
    try:
        yield procs
    finally:
        procs.close()
