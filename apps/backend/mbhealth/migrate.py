"""`python -m mbhealth migrate`: Alembic `upgrade head` (or `downgrade REV`), configured in code.

Rollback-aware (see mbhealth.schema_compat): on a database already at a newer revision that
is declared compatible with this release, nothing changes and one log line says so; on a
newer revision that is not, :class:`~mbhealth.schema_compat.IncompatibleSchema` is raised.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.util import CommandError

from mbhealth.config import Settings
from mbhealth.schema_compat import IncompatibleSchema, NewerCompatibleSchema

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

log = logging.getLogger("mbhealth.migrate")

__all__ = ["IncompatibleSchema", "MigrationRefused", "alembic_config", "downgrade", "upgrade"]

# What the database (or Alembic) answers the same way however often it is asked: SQL it cannot run,
# data a constraint refuses, an unknown revision. A lost connection (OperationalError) is not here.
_REFUSALS = (sa.exc.ProgrammingError, sa.exc.IntegrityError, sa.exc.DataError, sa.exc.NotSupportedError,
             CommandError)


class MigrationRefused(Exception):
    """A migration step failed in a way running it again cannot change (`migrate` exits 4)."""

    def __init__(self, action: str, error: Exception):
        cause = getattr(error, "orig", None) or error
        # The driver's first line names the problem (a column, a constraint); later lines may
        # quote row values, and the statement is left out for the same reason.
        first = (str(cause).strip().splitlines() or [""])[0][:300]
        self.error = type(cause).__name__
        super().__init__(f"{action} failed and would fail again: {self.error}: {first}; "
                         "fix the migration (or the data it trips over) in a new release")


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Passed as an attribute, not an ini option: ini interpolation mangles '%' in passwords.
    config.attributes["sqlalchemy_url"] = settings.sqlalchemy_url
    return config


def wait_for_database(settings: Settings) -> None:
    """Until the database accepts a connection, or `MIGRATE_WAIT_SECONDS` have passed (then the last
    error is raised). On a new pod the database may still be starting, or the network policy that lets
    the Job's pod reach it may not be in force yet: the migration waits instead of failing the release."""
    deadline = time.monotonic() + settings.migrate_wait_seconds
    engine = sa.create_engine(settings.sqlalchemy_url, connect_args={"connect_timeout": 5})
    try:
        while True:
            try:
                with engine.connect():
                    return
            except sa.exc.OperationalError as error:
                if time.monotonic() >= deadline:
                    raise
                # The driver's first line names host and port, never the password.
                reason = str(getattr(error, "orig", error)).strip().splitlines()[0][:200]
                log.warning("the database does not accept connections yet; retrying",
                            extra={"event": "migrate_waiting_for_database", "reason": reason})
                time.sleep(1.0)
    finally:
        engine.dispose()


def upgrade(settings: Settings, revision: str = "head") -> NewerCompatibleSchema | None:
    """Migrate up to `revision`; returns the NewerCompatibleSchema when the database was left as it is."""
    wait_for_database(settings)
    config = alembic_config(settings)
    try:
        command.upgrade(config, revision)
    except _REFUSALS as error:
        raise MigrationRefused(f"the migration to {revision}", error) from error
    newer: NewerCompatibleSchema | None = config.attributes.get("newer_schema")
    if newer is not None:
        log.warning(
            newer.message,
            extra={
                "event": "migrate_newer_schema_kept",
                "database_revision": newer.database_revision,
                "release_head": newer.release_head,
                "compatible_since": newer.compatible_since,
            },
        )
    return newer


def downgrade(settings: Settings, revision: str) -> None:
    """Migrate down to `revision` (run with the *newer* release's image, which has the down steps)."""
    wait_for_database(settings)
    try:
        command.downgrade(alembic_config(settings), revision)
    except _REFUSALS as error:
        raise MigrationRefused(f"the downgrade to {revision}", error) from error
