"""Alembic environment: online migrations only, serialized by a PostgreSQL advisory lock."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

from mbhealth.models import Base

# Any constant; two migrate Jobs running at once take turns instead of racing.
ADVISORY_LOCK_KEY = 0x4D42484D  # "MBHM"

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    url = config.attributes["sqlalchemy_url"]
    engine = create_engine(url, poolclass=pool.NullPool, hide_parameters=True, connect_args={"connect_timeout": 10})
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=target_metadata, compare_type=True)
        with context.begin_transaction():
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run `python -m mbhealth migrate`")
run_migrations_online()
