"""`python -m mbhealth migrate` creates the schema with Alembic; the API never migrates.

Rollbacks (mbhealth/schema_compat.py): a release's migrate Job that finds the database at a
newer revision keeps it when that revision is declared compatible with the release's code
(expand), and fails loudly otherwise (contract, or nothing recorded). "Another release" is a
copy of the package with a migration removed (the release before it) or added (a later one).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.apps.backend.helpers import BACKEND_DIR, run_cli
from tests.support.migrations import REFUSED_MIGRATION
from tests.support.services import free_port

pytestmark = pytest.mark.services

VERSIONS = Path("mbhealth/migrations/versions")
EX_INCOMPATIBLE_SCHEMA = 3
EX_MIGRATION_REFUSED = 4
EX_CONFIG = 78
# The exits that say "this fails again, however often it runs"; a database away is none of them.
FINAL = (EX_INCOMPATIBLE_SCHEMA, EX_MIGRATION_REFUSED, EX_CONFIG)


# A later release's contract migration: drops what the code of 0001 and 0002 writes.
CONTRACT_0003 = '''"""Contract: task_results.task_name is no longer stored."""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None
compatible_since = "0003"


def upgrade() -> None:
    op.drop_column("task_results", "task_name")


def downgrade() -> None:
    op.add_column("task_results", sa.Column("task_name", sa.String(200), server_default="mbhealth.analyze_number",
                                            nullable=False))
'''


def _columns(pg, database: str) -> dict[str, str]:
    rows = pg.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'task_results'", database
    )
    return dict(rows)


def _version(pg, database: str) -> list[tuple]:
    return pg.execute("SELECT version_num FROM alembic_version", database)


def _records(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def _release(tmp_path: Path, name: str, drop: tuple[str, ...] = (), add: dict[str, str] | None = None) -> str:
    """Another release of the backend: this package with migrations dropped or added; its PYTHONPATH."""
    root = tmp_path / name
    shutil.copytree(BACKEND_DIR / "mbhealth", root / "mbhealth", ignore=shutil.ignore_patterns("__pycache__"))
    for filename in drop:
        (root / VERSIONS / filename).unlink()
    for filename, text in (add or {}).items():
        (root / VERSIONS / filename).write_text(text)
    return str(root)


def test_migrate_creates_the_table_and_is_idempotent(pg_server, make_env, redis_url) -> None:
    url = pg_server.create_database()
    database = url.rsplit("/", 1)[1]
    env = make_env(url, redis_url)

    first = run_cli("migrate", env=env)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "Running upgrade  -> 0001" in first.stdout and "Running upgrade 0001 -> 0002" in first.stdout
    assert _columns(pg_server, database) == {
        "id": "bigint",
        "task_id": "uuid",
        "task_name": "character varying",
        "n": "integer",
        "result": "jsonb",
        "runs": "integer",
        "created_at": "timestamp with time zone",
    }
    assert _version(pg_server, database) == [("0002",)]
    # The chain's compatibility, for a later rollback's migrate Job to read.
    recorded = pg_server.execute("SELECT revision, compatible_since FROM schema_compatibility ORDER BY 1", database)
    assert recorded == [("0001", "0001"), ("0002", "0001")]
    # Owned by the application's role, not the superuser.
    owner = pg_server.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'task_results'", database)
    assert owner == [(database,)]

    second = run_cli("migrate", env=env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "Running upgrade" not in second.stdout
    assert _version(pg_server, database) == [("0002",)]


def test_every_migration_declares_a_valid_compatible_since() -> None:
    sys.path.insert(0, str(BACKEND_DIR))
    from alembic.script import ScriptDirectory

    from mbhealth.migrate import MIGRATIONS_DIR
    from mbhealth.schema_compat import chain_declarations

    declared = chain_declarations(ScriptDirectory(str(MIGRATIONS_DIR)))
    assert declared == {"0001": "0001", "0002": "0001"}


def test_0002_is_an_expand_migration_code_of_0001_runs_on_it(pg_server, make_env, redis_url) -> None:
    """What `compatible_since = "0001"` claims, checked: 0001's own writes work on the 0002 schema."""
    url = pg_server.create_database()
    database = url.rsplit("/", 1)[1]
    env = make_env(url, redis_url)
    assert run_cli("migrate", "0001", env=env).returncode == 0
    assert _version(pg_server, database) == [("0001",)]
    # The upsert of the 0001 release's task (mbhealth/tasks.py at 0001), before and after 0002.
    upsert_0001 = (
        "INSERT INTO task_results (task_id, task_name, n, result) VALUES ('{id}', 'mbhealth.analyze_number', {n}, "
        "'{{\"n\": {n}}}') ON CONFLICT (task_id) DO UPDATE SET result = excluded.result, n = excluded.n"
    )
    before, after = uuid.uuid4(), uuid.uuid4()
    pg_server.execute(upsert_0001.format(id=before, n=1), database)
    assert run_cli("migrate", env=env).returncode == 0
    assert _version(pg_server, database) == [("0002",)]
    for _ in range(2):  # a first write and a redelivered one
        pg_server.execute(upsert_0001.format(id=after, n=2), database)
    rows = pg_server.execute("SELECT task_id, n, runs FROM task_results ORDER BY n", database)
    assert rows == [(before, 1, 1), (after, 2, 1)]


def test_rollback_over_an_expand_migration_keeps_the_schema_and_says_so(pg_server, make_env, redis_url, tmp_path):
    url = pg_server.create_database()
    database = url.rsplit("/", 1)[1]
    env = make_env(url, redis_url)
    assert run_cli("migrate", env=env).returncode == 0  # this release: 0002
    previous = _release(tmp_path, "release-0001", drop=("0002_task_results_runs.py",))

    rollback = run_cli("migrate", env={**env, "PYTHONPATH": previous})
    out = rollback.stdout + rollback.stderr
    assert rollback.returncode == 0, out
    (kept,) = [r for r in _records(rollback.stdout) if r.get("event") == "migrate_newer_schema_kept"]
    assert kept["level"] == "WARNING"
    assert (kept["database_revision"], kept["release_head"], kept["compatible_since"]) == ("0002", "0001", "0001")
    assert kept["message"].startswith("database schema is at revision 0002, newer than this release (head 0001)")
    assert "Running upgrade" not in out and "Running downgrade" not in out
    assert _version(pg_server, database) == [("0002",)]
    assert "runs" in _columns(pg_server, database)

    # Rolling forward again is an ordinary no-op upgrade.
    forward = run_cli("migrate", env=env)
    assert forward.returncode == 0 and "migrate_newer_schema_kept" not in forward.stdout


def test_rollback_over_a_contract_migration_fails_loudly_until_the_schema_is_downgraded(
    pg_server, make_env, redis_url, tmp_path
) -> None:
    url = pg_server.create_database()
    database = url.rsplit("/", 1)[1]
    env = make_env(url, redis_url)
    later = _release(tmp_path, "release-0003", add={"0003_contract.py": CONTRACT_0003})
    assert run_cli("migrate", env={**env, "PYTHONPATH": later}).returncode == 0
    assert _version(pg_server, database) == [("0003",)]

    # This release (head 0002) cannot run on 0003: the Job fails, before any Deployment changes.
    rollback = run_cli("migrate", env=env)
    assert rollback.returncode == EX_INCOMPATIBLE_SCHEMA, rollback.stdout + rollback.stderr
    (failure,) = [r for r in _records(rollback.stdout) if r.get("event") == "migrate_incompatible_schema"]
    assert failure["level"] == "CRITICAL"
    assert (failure["database_revision"], failure["release_head"]) == ("0003", "0002")
    assert "needs code from revision 0003 on" in failure["message"]
    assert "python -m mbhealth migrate --downgrade 0002" in failure["message"]
    assert "Traceback" not in rollback.stdout + rollback.stderr
    assert _version(pg_server, database) == [("0003",)]

    # The documented way back: the later release's image downgrades, then this release migrates.
    down = run_cli("migrate", "--downgrade", "0002", env={**env, "PYTHONPATH": later})
    assert down.returncode == 0, down.stdout + down.stderr
    assert "Running downgrade 0003 -> 0002" in down.stdout
    again = run_cli("migrate", env=env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _version(pg_server, database) == [("0002",)]
    assert "task_name" in _columns(pg_server, database)


def test_a_newer_revision_with_no_compatibility_record_fails(pg_server, make_env, redis_url) -> None:
    url = pg_server.create_database()
    database = url.rsplit("/", 1)[1]
    env = make_env(url, redis_url)
    assert run_cli("migrate", env=env).returncode == 0
    # Migrated by something that kept no record (a hand-run alembic, another tool).
    pg_server.execute("UPDATE alembic_version SET version_num = '9abc'", database)
    result = run_cli("migrate", env=env)
    assert result.returncode == EX_INCOMPATIBLE_SCHEMA, result.stdout + result.stderr
    assert "records no compatibility for it" in result.stdout


def test_api_start_up_does_not_migrate(pg_server, make_env, redis_url, processes) -> None:
    url = pg_server.create_database()
    api = processes.api(make_env(url, redis_url))
    assert api.get("/health/ready").status == 200
    assert pg_server.execute("SELECT to_regclass('task_results')", url.rsplit("/", 1)[1]) == [(None,)]


def test_a_migration_the_database_refuses_exits_4_without_a_traceback(pg_server, make_env, redis_url, tmp_path):
    url = pg_server.create_database()
    database = url.rsplit("/", 1)[1]
    env = make_env(url, redis_url)
    assert run_cli("migrate", env=env).returncode == 0
    broken = _release(tmp_path, "release-0003", add={"0003_refused.py": REFUSED_MIGRATION})

    result = run_cli("migrate", env={**env, "PYTHONPATH": broken})
    output = result.stdout + result.stderr
    assert result.returncode == EX_MIGRATION_REFUSED, output
    (refused,) = [r for r in _records(result.stdout) if r.get("event") == "migrate_refused"]
    assert refused["level"] == "CRITICAL" and refused["error"] == "UndefinedColumn"
    assert 'column "no_such_column" does not exist' in refused["message"]
    assert "Traceback" not in output
    password = url.split("://", 1)[1].split("@", 1)[0].split(":", 1)[1]
    assert password not in output
    assert _version(pg_server, database) == [("0002",)], "a refused step is rolled back with its transaction"


def test_migrate_fails_once_its_wait_for_an_unreachable_database_is_over(make_env, redis_url) -> None:
    dead = f"postgresql://app:dead-pa55word@127.0.0.1:{free_port()}/app"
    started = time.monotonic()
    result = run_cli("migrate", env={**make_env(dead, redis_url), "MIGRATE_WAIT_SECONDS": "3"}, timeout=30)
    assert result.returncode != 0
    assert result.returncode not in FINAL, "a database away is not a migration that fails whatever happens"
    assert 3 <= time.monotonic() - started < 15
    assert "migrate_waiting_for_database" in result.stdout + result.stderr
    assert "dead-pa55word" not in result.stdout + result.stderr


def test_migrate_waits_for_a_database_that_comes_up_late(pg_server, make_env, redis_url) -> None:
    """The real node showed it: a migrate Job's first connection can come before PostgreSQL (or the
    network policy that lets the Job in) is ready. Migrate waits, then migrates."""
    url = pg_server.create_database()
    pg_server.stop()
    proc = subprocess.Popen([sys.executable, "-m", "mbhealth", "migrate"], env=make_env(url, redis_url),
                            cwd=BACKEND_DIR, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(4)
        assert proc.poll() is None, "migrate gave up while the database was down"
        pg_server.start()
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, out
    assert "migrate_waiting_for_database" in out
    assert pg_server.execute("SELECT to_regclass('task_results')", url.rsplit("/", 1)[1]) == [("task_results",)]
