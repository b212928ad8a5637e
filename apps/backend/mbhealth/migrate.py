"""`python -m mbhealth migrate`: Alembic `upgrade head` (or `downgrade REV`), configured in code.

Rollback-aware (see mbhealth.schema_compat): on a database already at a newer revision that
is declared compatible with this release, nothing changes and one log line says so; on a
newer revision that is not, :class:`~mbhealth.schema_compat.IncompatibleSchema` is raised.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config

from mbhealth.config import Settings
from mbhealth.schema_compat import IncompatibleSchema, NewerCompatibleSchema

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

log = logging.getLogger("mbhealth.migrate")

__all__ = ["IncompatibleSchema", "alembic_config", "downgrade", "upgrade"]


def alembic_config(settings: Settings) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Passed as an attribute, not an ini option: ini interpolation mangles '%' in passwords.
    config.attributes["sqlalchemy_url"] = settings.sqlalchemy_url
    return config


def upgrade(settings: Settings, revision: str = "head") -> NewerCompatibleSchema | None:
    """Migrate up to `revision`; returns the NewerCompatibleSchema when the database was left as it is."""
    config = alembic_config(settings)
    command.upgrade(config, revision)
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
    command.downgrade(alembic_config(settings), revision)
