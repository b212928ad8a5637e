"""A release's migration that the database refuses, for the suites that run one: the backend's
`migrate` against a real PostgreSQL (tests/apps) and the migrate Job on the real node (tests/e2e)."""

# Expand: it declares 0002's code compatible, so only its upgrade step fails (exit 4, migrate_refused).
REFUSED_MIGRATION = '''"""Fails on purpose (tests/apps, tests/e2e): a migration whose upgrade raises against the real database.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None
compatible_since = "0002"


def upgrade() -> None:
    op.execute("SELECT no_such_column FROM task_results")


def downgrade() -> None:
    pass
'''
