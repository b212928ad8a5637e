"""task_results.runs: how many times a run of the task wrote its row (redeliveries counted).

An expand migration: a NOT NULL column with a server default. Code of revision 0001 never
names the column: its inserts get the default (1) and its upsert leaves the count as it is.
So a rollback to a 0001 release keeps this schema (see mbhealth/schema_compat.py).

Revision ID: 0002
Revises: 0001
Create Date: 2026-03-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None
# Expand: code from revision 0001 on runs on this schema.
compatible_since = "0001"


def upgrade() -> None:
    op.add_column("task_results", sa.Column("runs", sa.Integer(), server_default=sa.text("1"), nullable=False))


def downgrade() -> None:
    op.drop_column("task_results", "runs")
