"""Structured JSON logs on stdout, with secrets redacted from every line.

One JSON object per line: time (UTC, ISO 8601), level, logger, message, any `extra`
fields, and the formatted exception if there is one. Two layers keep secrets out:

1. Structure, always: the password part of any ``scheme://user:password@host`` URL
   (known or not, however short) and the value of a ``SECRET_KEY=...``,
   ``password=...`` or ``"password": "..."`` pair are replaced by "***".
2. Known secret values (SECRET_KEY, the database and Redis URLs and their passwords)
   are replaced wherever they occur, but only when at least MIN_SECRET_LENGTH
   characters long: masking every "p" of a one-letter password would turn
   "/api/v1/health/live" into "/a***i/v1/health/live" and hide nothing. A short
   password is still masked where it is a password: inside its URL (layer 1), and the
   whole DATABASE_URL/REDIS_URL value is long enough to be masked as a known value.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

REDACTED = "***"
# Known secret values shorter than this are masked only where structure says they are a
# credential (URL userinfo, key=value), never as a bare substring.
MIN_SECRET_LENGTH = 8
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/@\s\"']*:)[^@\s\"']+@")
# `SECRET_KEY=v`, `password=v`, `DB_PASSWORD=v` (libpq conninfo, env dumps), `"password": "v"` (JSON, also
# JSON-escaped inside a message string), `'secret_key': 'v'` (a Python dict's repr).
_KEY_VALUE = re.compile(
    r"""(?P<head>(?<![A-Za-z0-9])(?:secret_key|password|passwd)(?:\\?["'])?\s*[:=]\s*(?:\\?["'])?)"""
    r"""(?P<value>[^\s"'\\,;&}\]]+)""",
    re.IGNORECASE,
)

# Attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's ANSI-coloured duplicate of the message
    "taskName",
}


class Redactor:
    """Masks credentials by structure (URL passwords, key=value) and known secret values.

    Known values shorter than `min_length` are not masked as substrings (see the module
    docstring); the structural rules still catch them where they are used as credentials.
    """

    def __init__(self, secrets: Iterable[str] = (), min_length: int = MIN_SECRET_LENGTH) -> None:
        self._secrets: list[str] = []
        self.min_length = min_length
        self.update(secrets)

    def update(self, secrets: Iterable[str]) -> None:
        found: set[str] = set(self._secrets)
        for secret in secrets:
            if not secret or len(secret) < self.min_length:
                continue
            # The raw value and its JSON-escaped form (what appears inside a JSON line).
            found.add(secret)
            found.add(json.dumps(secret)[1:-1])
        # Longest first, so a URL is replaced whole before the password inside it.
        self._secrets = sorted(found, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        # Structure first: a known URL keeps its shape (scheme://user:***@host) when its
        # password is masked before the whole value would be.
        text = _URL_PASSWORD.sub(lambda m: m.group("head") + REDACTED + "@", text)
        text = _KEY_VALUE.sub(lambda m: m.group("head") + REDACTED, text)
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


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
