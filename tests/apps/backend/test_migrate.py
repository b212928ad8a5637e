"""`python -m mbhealth migrate` creates the schema with Alembic; the API never migrates."""

from __future__ import annotations

import time

import pytest

from tests.apps.backend.helpers import run_cli
from tests.support.services import free_port

pytestmark = pytest.mark.services


def _columns(pg, database: str) -> dict[str, str]:
    rows = pg.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'task_results'", database
    )
    return dict(rows)


def test_migrate_creates_the_table_and_is_idempotent(pg_server, make_env, redis_url) -> None:
    url = pg_server.create_database()
    database = url.rsplit("/", 1)[1]
    env = make_env(url, redis_url)

    first = run_cli("migrate", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Running upgrade  -> 0001" in first.stdout
    assert _columns(pg_server, database) == {
        "id": "bigint",
        "task_id": "uuid",
        "task_name": "character varying",
        "n": "integer",
        "result": "jsonb",
        "created_at": "timestamp with time zone",
    }
    assert pg_server.execute("SELECT version_num FROM alembic_version", database) == [("0001",)]
    # Owned by the application's role, not the superuser.
    owner = pg_server.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'task_results'", database)
    assert owner == [(database,)]

    second = run_cli("migrate", env=env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "Running upgrade" not in second.stdout
    assert pg_server.execute("SELECT version_num FROM alembic_version", database) == [("0001",)]


def test_api_start_up_does_not_migrate(pg_server, make_env, redis_url, processes) -> None:
    url = pg_server.create_database()
    api = processes.api(make_env(url, redis_url))
    assert api.get("/health/ready").status == 200
    assert pg_server.execute("SELECT to_regclass('task_results')", url.rsplit("/", 1)[1]) == [(None,)]


def test_migrate_fails_fast_when_the_database_is_unreachable(make_env, redis_url) -> None:
    dead = f"postgresql://app:dead-pa55word@127.0.0.1:{free_port()}/app"
    started = time.monotonic()
    result = run_cli("migrate", env=make_env(dead, redis_url), timeout=30)
    assert result.returncode != 0
    assert time.monotonic() - started < 15
    assert "dead-pa55word" not in result.stdout + result.stderr
