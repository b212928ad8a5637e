"""Create task_results, the table the worker's tasks write their results to.

Revision ID: 0001
Revises:
Create Date: 2026-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None
# The first revision: no older code exists (see mbhealth/schema_compat.py).
compatible_since = "0001"


def upgrade() -> None:
    op.create_table(
        "task_results",
        sa.Column("id", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("task_name", sa.String(200), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("result", postgresql.JSONB(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_task_results"),
        sa.UniqueConstraint("task_id", name="uq_task_results_task_id"),
    )


def downgrade() -> None:
    op.drop_table("task_results")
