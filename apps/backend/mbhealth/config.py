"""Configuration, read only from environment variables (pydantic-settings).

Every process (API, worker, migrate) calls :func:`get_settings` first; a missing or
malformed variable stops start-up with a :class:`ConfigError` that names it. Error
messages never echo a value: the URLs and the key carry secrets.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENVIRONMENTS = ("development", "test", "staging", "production")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")
REDIS_SCHEMES = ("redis", "rediss")
SECRET_KEY_MIN_LENGTH = 32


class ConfigError(Exception):
    """Invalid configuration; ``variables`` names the offending environment variables."""

    def __init__(self, message: str, variables: list[str]):
        super().__init__(message)
        self.variables = variables


def _split_url(value: str, schemes: tuple[str, ...]):
    try:
        parts = urlsplit(value)
        port = parts.port  # raises ValueError on a non-numeric or out-of-range port
    except ValueError:
        raise ValueError("is not a valid URL") from None
    if parts.scheme not in schemes:
        raise ValueError(f"must use one of the schemes {', '.join(s + '://' for s in schemes)}")
    if not parts.hostname:
        raise ValueError("must name a host")
    return parts, port


class _EnvSettings(BaseSettings):
    # Environment variables only: no .env file, no secrets directory.
    model_config = SettingsConfigDict(case_sensitive=True, extra="ignore", frozen=True, env_file=None)


class Settings(_EnvSettings):
    """The application's settings. Secret-bearing values are SecretStr (masked in repr)."""

    database_url: SecretStr = Field(validation_alias="DATABASE_URL")
    redis_url: SecretStr = Field(validation_alias="REDIS_URL")
    secret_key: SecretStr = Field(validation_alias="SECRET_KEY")
    log_level: Literal[LOG_LEVELS] = Field(validation_alias="LOG_LEVEL")  # type: ignore[valid-type]
    environment: Literal[ENVIRONMENTS] = Field(validation_alias="ENVIRONMENT")  # type: ignore[valid-type]
    port: int = Field(8000, validation_alias="PORT", ge=1, le=65535)
    # `migrate` waits this long for the database to accept connections (it may be starting, or the
    # Job's NetworkPolicy not yet in force for its new pod) before it fails.
    migrate_wait_seconds: float = Field(60.0, validation_alias="MIGRATE_WAIT_SECONDS", ge=0, le=600)

    @field_validator("database_url")
    @classmethod
    def _check_database_url(cls, value: SecretStr) -> SecretStr:
        parts, _ = _split_url(value.get_secret_value(), POSTGRES_SCHEMES)
        if not parts.path.strip("/"):
            raise ValueError("must name a database (postgresql://user:password@host:5432/dbname)")
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: SecretStr) -> SecretStr:
        parts, _ = _split_url(value.get_secret_value(), REDIS_SCHEMES)
        db = parts.path.strip("/")
        if db and not db.isdigit():
            raise ValueError("database must be a number (redis://:password@host:6379/0)")
        return value

    @field_validator("secret_key")
    @classmethod
    def _check_secret_key(cls, value: SecretStr) -> SecretStr:
        if len(value.get_secret_value()) < SECRET_KEY_MIN_LENGTH:
            raise ValueError(f"must be at least {SECRET_KEY_MIN_LENGTH} characters long")
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.strip().upper() if isinstance(value, str) else value

    @field_validator("environment", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    # Derived forms -----------------------------------------------------------------

    @property
    def libpq_url(self) -> str:
        """DATABASE_URL as libpq/psycopg accepts it (postgresql://...)."""
        return "postgresql://" + self.database_url.get_secret_value().split("://", 1)[1]

    @property
    def sqlalchemy_url(self) -> str:
        """DATABASE_URL for SQLAlchemy, always on the psycopg 3 driver."""
        return "postgresql+psycopg://" + self.libpq_url.split("://", 1)[1]

    def secret_values(self) -> list[str]:
        """Every secret string a log line must never contain (for the log redactor)."""
        values = [self.secret_key.get_secret_value()]
        for url in (self.database_url, self.redis_url):
            raw = url.get_secret_value()
            values.append(raw)
            password = urlsplit(raw).password
            if password:
                values.extend({password, unquote(password)})
        return [v for v in values if v]


class WorkerSettings(_EnvSettings):
    """Optional worker tuning; every variable has a default."""

    concurrency: int = Field(2, validation_alias="WORKER_CONCURRENCY", ge=1, le=64)
    heartbeat_file: str = Field("/tmp/mbhealth-worker.heartbeat", validation_alias="WORKER_HEARTBEAT_FILE")
    heartbeat_interval: float = Field(10.0, validation_alias="WORKER_HEARTBEAT_INTERVAL", gt=0, le=300)
    heartbeat_max_age: float = Field(60.0, validation_alias="WORKER_HEARTBEAT_MAX_AGE", gt=0, le=3600)
    # Seconds after which a message taken by a worker that died without acking it (killed,
    # OOM, node lost) goes back to the queue for another worker. Longer than any task can be
    # held (50 s hard limit, plus waiting as a prefetched message), or a running task would
    # be delivered a second time. Redis' default is an hour.
    visibility_timeout: float = Field(180.0, validation_alias="WORKER_VISIBILITY_TIMEOUT", gt=0, le=86400)


_MISSING_TYPES = {"missing"}


def _config_error(exc: ValidationError) -> ConfigError:
    variables: list[str] = []
    problems: list[str] = []
    for err in exc.errors(include_input=False, include_url=False):
        loc = err.get("loc") or ("?",)
        name = str(loc[0])
        if name not in variables:
            variables.append(name)
        if err["type"] in _MISSING_TYPES:
            problems.append(f"{name} is not set")
        else:
            msg = err["msg"].removeprefix("Value error, ")
            problems.append(f"{name} {msg}" if err["type"] == "value_error" else f"{name}: {msg}")
    return ConfigError("invalid configuration: " + "; ".join(problems), variables)


def _load(model):
    try:
        return model()
    except ValidationError as exc:
        raise _config_error(exc) from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, validated once; raises ConfigError."""
    return _load(Settings)


@lru_cache(maxsize=1)
def get_worker_settings() -> WorkerSettings:
    return _load(WorkerSettings)
