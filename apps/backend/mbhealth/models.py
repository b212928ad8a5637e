"""Database tables (SQLAlchemy 2 declarative). Alembic migrations create them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Identity, Integer, MetaData, String, func, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TaskResult(Base):
    """The durable record of one finished task: its input and its result."""

    __tablename__ = "task_results"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    task_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    task_name: Mapped[str] = mapped_column(String(200))
    n: Mapped[int]
    result: Mapped[dict[str, Any]] = mapped_column(JSONB)
    # How many times a run of the task wrote this row: 1, or more when a redelivered message
    # ran the task again (the write is idempotent: the same row, counted). Revision 0002.
    runs: Mapped[int] = mapped_column(Integer, server_default=text("1"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
