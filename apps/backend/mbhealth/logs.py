"""Structured JSON logs on stdout, with secrets redacted from every line.

One JSON object per line: time (UTC, ISO 8601), level, logger, message, any `extra`
fields, and the formatted exception if there is one. Two layers keep secrets out:
known secret values (SECRET_KEY, the database and Redis URLs and their passwords) are
replaced by "***" wherever they occur, and so is the password part of any
``scheme://user:password@host`` URL, known or not.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

REDACTED = "***"
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s\"']*:)[^@\s\"']+@")

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's ANSI-coloured duplicate of the message
    "taskName",
}


class Redactor:
    """Replaces known secret values (and URL passwords) in a string."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: list[str] = []
        self.update(secrets)

    def update(self, secrets: Iterable[str]) -> None:
        found: set[str] = set(self._secrets)
        for secret in secrets:
            if not secret:
                continue
            # The raw value and its JSON-escaped form (what appears inside a JSON line).
            found.add(secret)
            found.add(json.dumps(secret)[1:-1])
        # Longest first, so a URL is replaced whole before the password inside it.
        self._secrets = sorted(found, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return _URL_PASSWORD.sub(lambda m: m.group("head") + REDACTED + "@", text)


class JsonFormatter(logging.Formatter):
    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRS and not key.startswith("_"):
                payload[key] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        if record.stack_info:
            payload["stack"] = self.formatStack(record.stack_info)
        return self.redactor(json.dumps(payload, default=str, ensure_ascii=False))


_redactor = Redactor()


def configure_logging(level: str = "INFO", secrets: Iterable[str] = ()) -> None:
    """Send every logger (ours, uvicorn's, celery's, alembic's) through one JSON handler."""
    _redactor.update(secrets)
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(_redactor))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # Libraries that attach their own handlers or stop propagation: route them to root.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "celery", "alembic"):
        lib = logging.getLogger(name)
        lib.handlers.clear()
        lib.propagate = True
        lib.setLevel(logging.NOTSET)
    # Chatty at DEBUG and never useful here (and would log connection parameters).
    for name in ("asyncio", "psycopg.pool", "kombu.pidbox"):
        logging.getLogger(name).setLevel(max(logging.INFO, logging.getLevelName(level)))
    logging.captureWarnings(True)
