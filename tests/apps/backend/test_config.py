"""Configuration comes only from env vars; a missing or malformed one stops start-up, named."""

from __future__ import annotations

import json

import pytest

from tests.apps.backend.helpers import CONFIG_VARS, clean_env, run_cli

EX_CONFIG = 78
VALID = {
    "DATABASE_URL": "postgresql://app:db-pa55word@127.0.0.1:5432/app",
    "REDIS_URL": "redis://:redis-pa55word@127.0.0.1:6379/0",
    "SECRET_KEY": "k" * 48,
    "LOG_LEVEL": "INFO",
    "ENVIRONMENT": "production",
}


def _config_error(result) -> dict:
    """The one JSON log line a refused start-up prints."""
    assert result.returncode == EX_CONFIG, result.stdout + result.stderr
    records = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    errors = [r for r in records if r.get("event") == "config_error"]
    assert len(errors) == 1, result.stdout
    assert errors[0]["level"] == "CRITICAL"
    return errors[0]


@pytest.mark.parametrize("command", ["serve", "worker", "migrate"])
@pytest.mark.parametrize("missing", CONFIG_VARS)
def test_missing_variable_stops_startup_naming_it(command: str, missing: str) -> None:
    env = clean_env(**{k: v for k, v in VALID.items() if k != missing})
    error = _config_error(run_cli(command, env=env))
    assert error["variables"] == [missing]
    assert f"{missing} is not set" in error["message"]


MALFORMED = [
    ("DATABASE_URL", "mysql://app:db-pa55word@127.0.0.1/app", "schemes"),
    ("DATABASE_URL", "postgresql://app:db-pa55word@127.0.0.1:5432", "database"),
    ("DATABASE_URL", "postgresql://app:db-pa55word@127.0.0.1:notaport/app", "not a valid URL"),
    ("DATABASE_URL", "not a url at all", "schemes"),
    ("REDIS_URL", "http://:redis-pa55word@127.0.0.1:6379/0", "schemes"),
    ("REDIS_URL", "redis://:redis-pa55word@127.0.0.1:6379/zero", "number"),
    ("REDIS_URL", "redis://", "host"),
    ("SECRET_KEY", "too-short-secret", "at least 32 characters"),
    ("LOG_LEVEL", "LOUD", "DEBUG"),
    ("ENVIRONMENT", "moon", "production"),
]


@pytest.mark.parametrize(("variable", "value", "hint"), MALFORMED, ids=[f"{v}={x[:20]}" for v, x, _ in MALFORMED])
def test_malformed_variable_stops_startup_naming_it_without_echoing_it(variable: str, value: str, hint: str) -> None:
    result = run_cli("serve", env=clean_env(**{**VALID, variable: value}))
    error = _config_error(result)
    assert error["variables"] == [variable]
    assert error["message"].startswith("invalid configuration: " + variable)
    assert hint in error["message"]
    everything = result.stdout + result.stderr
    # The value (and any password or key in it) is never printed.
    for secret in ("db-pa55word", "redis-pa55word", "too-short-secret", VALID["SECRET_KEY"]):
        assert secret not in everything


def test_every_problem_is_reported_at_once() -> None:
    env = clean_env(**{**VALID, "LOG_LEVEL": "LOUD", "REDIS_URL": "ftp://x"})
    env.pop("SECRET_KEY")
    error = _config_error(run_cli("serve", env=env))
    assert sorted(error["variables"]) == ["LOG_LEVEL", "REDIS_URL", "SECRET_KEY"]


def test_settings_normalise_case_and_derive_driver_urls(monkeypatch: pytest.MonkeyPatch) -> None:
    from mbhealth.config import Settings

    for key, value in VALID.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("ENVIRONMENT", " Staging ")
    monkeypatch.setenv("DATABASE_URL", "postgres://app:p%40ss@db:5432/app")
    settings = Settings()
    assert settings.log_level == "DEBUG"
    assert settings.environment == "staging"
    assert settings.port == 8000
    assert settings.libpq_url == "postgresql://app:p%40ss@db:5432/app"
    assert settings.sqlalchemy_url == "postgresql+psycopg://app:p%40ss@db:5432/app"
    # Both the encoded and the decoded password are known secrets (for the log redactor).
    assert {"p%40ss", "p@ss", VALID["SECRET_KEY"]} <= set(settings.secret_values())
    assert "p%40ss" not in repr(settings) and VALID["SECRET_KEY"] not in repr(settings)


def test_no_dotenv_file_is_read(tmp_path) -> None:
    (tmp_path / ".env").write_text("".join(f"{k}={v}\n" for k, v in VALID.items()))
    result = run_cli("serve", env=clean_env(), cwd=tmp_path)
    assert sorted(_config_error(result)["variables"]) == sorted(CONFIG_VARS)


def test_bad_worker_tuning_variable_is_named() -> None:
    result = run_cli("worker", env=clean_env(**VALID, WORKER_CONCURRENCY="many"))
    error = _config_error(result)
    assert error["variables"] == ["WORKER_CONCURRENCY"]
