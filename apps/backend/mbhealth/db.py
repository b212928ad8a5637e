"""The SQLAlchemy engine and sessions, created lazily per process from DATABASE_URL."""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy import Engine, create_engine
from sqlalchemy.orm import Session, sessionmaker

from mbhealth.config import get_settings

# Seconds libpq may spend establishing a connection (TCP + TLS + auth).
CONNECT_TIMEOUT = 3


@lru_cache(maxsize=1)
def get_engine() -> Engine:
    settings = get_settings()
    return create_engine(
        settings.sqlalchemy_url,
        pool_pre_ping=True,
        pool_size=5,
        max_overflow=5,
        pool_timeout=5,
        pool_recycle=1800,
        # hide_parameters: bound values never reach SQLAlchemy's error messages or logs.
        hide_parameters=True,
        connect_args={"connect_timeout": CONNECT_TIMEOUT, "application_name": "mbhealth"},
    )


@lru_cache(maxsize=1)
def _session_factory() -> sessionmaker[Session]:
    return sessionmaker(get_engine(), expire_on_commit=False)


def session() -> Session:
    return _session_factory()()


def dispose_engine(close: bool = True) -> None:
    """Drop pooled connections: at API shutdown (close=True) or after a fork, where the
    child must not close the parent's sockets (close=False)."""
    if get_engine.cache_info().currsize:
        get_engine().dispose(close=close)
