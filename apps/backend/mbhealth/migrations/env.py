"""Alembic environment: online migrations only, serialized by a PostgreSQL advisory lock.

Under the lock, before anything runs, the database's revision is checked against this
release (mbhealth.schema_compat): a newer revision declared compatible with this release's
code is left alone (a rollback over an expand migration), any other newer revision fails.
After the migrations, in the same transaction, the chain's compatibility is recorded.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

from mbhealth import schema_compat
from mbhealth.models import Base

# Any constant; two migrate Jobs running at once take turns instead of racing.
ADVISORY_LOCK_KEY = 0x4D42484D  # "MBHM"

config = context.config
target_metadata = Base.metadata


def include_name(name, type_, parent_names) -> bool:  # noqa: ANN001 - Alembic's signature
    # The compatibility record is written by the migrate command, not by a migration.
    return not (type_ == "table" and name == schema_compat.TABLE)


def run_migrations_online() -> None:
    url = config.attributes["sqlalchemy_url"]
    engine = create_engine(url, poolclass=pool.NullPool, hide_parameters=True, connect_args={"connect_timeout": 10})
    script = context.script
    with engine.connect() as connection:
        context.configure(
            connection=connection, target_metadata=target_metadata, compare_type=True, include_name=include_name
        )
        with context.begin_transaction():
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
            migration_context = context.get_context()
            newer = schema_compat.check(connection, script, migration_context.get_current_heads())
            config.attributes["newer_schema"] = newer
            if newer is None:
                context.run_migrations()
                schema_compat.record(connection, script)
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run `python -m mbhealth migrate`")
run_migrations_online()
