"""Structured JSON logs at LOG_LEVEL; SECRET_KEY and the passwords never reach them."""

from __future__ import annotations

import json
import logging

import pytest

from tests.apps.backend.helpers import run_cli, wait_until

DB_PASSWORD = "db-S3cret-pa55"
REDIS_PASSWORD = "redis-S3cret-pa55"


def _secrets(env: dict[str, str]) -> list[str]:
    return [env["SECRET_KEY"], DB_PASSWORD, REDIS_PASSWORD]


def _assert_json_lines(text: str) -> list[dict]:
    records = []
    for line in text.splitlines():
        if not line.strip():
            continue
        record = json.loads(line)
        assert {"time", "level", "logger", "message"} <= record.keys(), line
        records.append(record)
    return records


@pytest.mark.services
def test_debug_logs_of_every_command_never_contain_secrets(pg_server, processes, make_env, tmp_path) -> None:
    from tests.support.services import RedisServer

    redis = RedisServer(password=REDIS_PASSWORD).start()
    try:
        url = pg_server.create_database(password=DB_PASSWORD)
        env = make_env(url, redis.url(), LOG_LEVEL="DEBUG")
        assert DB_PASSWORD in env["DATABASE_URL"] and REDIS_PASSWORD in env["REDIS_URL"]

        migrate = run_cli("migrate", env=env)
        assert migrate.returncode == 0, migrate.stdout + migrate.stderr
        worker = processes.worker(env)
        api = processes.api(env)
        task_id = api.post("/tasks", {"n": 12}).body["task_id"]
        wait_until(lambda: api.get(f"/tasks/{task_id}").body["state"] == "SUCCESS", 20, 0.1, "the task")
        # Failure paths log connection errors: they must not leak either.
        redis.stop()
        assert api.get("/health/ready").status == 503
        assert api.post("/tasks", {"n": 3}).status == 503
        probe = run_cli("probe", "worker-ready", env=env)
        assert probe.returncode == 1
        redis.start()
        assert api.terminate(timeout=10) == 0
        assert worker.terminate(timeout=30) == 0
        bad_db = run_cli("serve", env={**env, "DATABASE_URL": f"mysql://app:{DB_PASSWORD}@db/app"})
        assert bad_db.returncode == 78
    finally:
        redis.cleanup()

    outputs = {
        "migrate": migrate.stdout + migrate.stderr,
        "api": api.output(),
        "worker": worker.output(),
        "probe": probe.stdout + probe.stderr,
        "config-error": bad_db.stdout + bad_db.stderr,
    }
    for name, text in outputs.items():
        for secret in _secrets(env):
            assert secret not in text, f"{name} output contains a secret"

    # stdout is JSON, one object per line, and DEBUG really was on.
    api_records = _assert_json_lines(api.stdout())
    worker_records = _assert_json_lines(worker.stdout())
    _assert_json_lines(migrate.stdout)
    assert any(r["level"] == "DEBUG" for r in api_records + worker_records)
    # Redacted URLs keep their shape, so the logs stay useful.
    assert any("redis://:***@127.0.0.1" in r["message"] for r in worker_records)


@pytest.fixture
def restore_logging():
    """configure_logging rewires the root logger: give pytest's back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        logging.captureWarnings(False)
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)


def test_info_level_drops_debug_records(capsys: pytest.CaptureFixture[str], restore_logging) -> None:
    from mbhealth.logs import configure_logging

    configure_logging("INFO")
    logging.getLogger("mbhealth.test").debug("hidden")
    logging.getLogger("mbhealth.test").info("shown", extra={"detail": 7})
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["message"], r.get("detail")) for r in lines] == [("shown", 7)]


def test_redactor_masks_known_secrets_and_any_url_password() -> None:
    from mbhealth.logs import JsonFormatter, Redactor

    # Known values are at least MIN_SECRET_LENGTH long here; a quote checks the JSON-escaped form.
    redactor = Redactor(["k3y-value", 'quo"te-value'])
    formatter = JsonFormatter(redactor)
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "key=%s other=%s", ("k3y-value", 'quo"te-value'), None)
    record.url = "postgresql://user:unlisted-pw@db:5432/app"
    line = formatter.format(record)
    assert "k3y-value" not in line and "quo" not in line and "unlisted-pw" not in line
    parsed = json.loads(line)
    assert parsed["message"] == "key=*** other=***"
    assert parsed["url"] == "postgresql://user:***@db:5432/app"
    try:
        raise RuntimeError("connect to redis://:k3y-value@cache:6379/0 failed")
    except RuntimeError:
        import sys

        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "boom", (), sys.exc_info())
    assert "k3y-value" not in formatter.format(record)


def test_a_short_password_is_masked_where_it_is_a_credential_and_nowhere_else(
    capsys: pytest.CaptureFixture[str], restore_logging, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A one-letter DB password must not mangle unrelated text ("/a***i/v1/...")."""
    from mbhealth.config import Settings
    from mbhealth.logs import MIN_SECRET_LENGTH, configure_logging

    secret_key = "k" * 16 + "-secret-key-value-0123456789"
    database_url = "postgresql://app:p@127.0.0.1:5432/app"
    redis_url = "redis://:r@127.0.0.1:6379/0"
    for name, value in {"DATABASE_URL": database_url, "REDIS_URL": redis_url, "SECRET_KEY": secret_key,
                        "LOG_LEVEL": "DEBUG", "ENVIRONMENT": "test"}.items():
        monkeypatch.setenv(name, value)
    secrets = Settings().secret_values()  # what the CLI hands to configure_logging
    assert "p" in secrets and "r" in secrets and len("p") < MIN_SECRET_LENGTH
    configure_logging("DEBUG", secrets)

    log = logging.getLogger("mbhealth.test")
    log.info('127.0.0.1:40000 - "GET /api/v1/health/live HTTP/1.1" 200', extra={"path": "/api/v1/health/ready"})
    log.info("connecting to %s and %s", database_url, redis_url)
    log.info("conninfo host=127.0.0.1 user=app password=p dbname=app")
    log.info("settings %s", {"SECRET_KEY": secret_key, "password": "p"})
    log.info("key is %s", secret_key)
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    messages = [r["message"] for r in records]

    # Unrelated text is untouched: no "p" or "r" is masked as a bare substring.
    assert messages[0] == '127.0.0.1:40000 - "GET /api/v1/health/live HTTP/1.1" 200'
    assert records[0]["path"] == "/api/v1/health/ready"
    # The short passwords are still masked where they are credentials, and the URLs keep their shape.
    assert messages[1] == "connecting to postgresql://app:***@127.0.0.1:5432/app and redis://:***@127.0.0.1:6379/0"
    assert messages[2] == "conninfo host=127.0.0.1 user=app password=*** dbname=app"
    assert messages[3] == "settings {'SECRET_KEY': '***', 'password': '***'}"
    # SECRET_KEY's value is masked wherever it appears, with or without a key in front.
    assert messages[4] == "key is ***"
    assert all(secret_key not in m and ":p@" not in m and ":r@" not in m for m in messages)
