"""Dependency checks for readiness: PostgreSQL and Redis, each with a short timeout."""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import psycopg
import redis

from mbhealth.config import Settings

log = logging.getLogger(__name__)

# Seconds each dependency gets. The whole readiness answer comes within CHECK_TIMEOUT,
# inside a 3 s HTTP probe timeout. (libpq's connect_timeout has a floor of 2 s.)
PG_CONNECT_TIMEOUT = 2
REDIS_TIMEOUT = 1.5
CHECK_TIMEOUT = 2.5

# Checks run on their own small pool so a hung dependency cannot starve request threads.
_executor = ThreadPoolExecutor(max_workers=4, thread_name_prefix="readiness")


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    error: str | None = None

    def as_json(self) -> dict[str, str]:
        return {"status": "ok"} if self.ok else {"status": "error", "error": self.error or "unknown"}


def check_postgres(settings: Settings) -> None:
    with psycopg.connect(
        settings.libpq_url,
        connect_timeout=PG_CONNECT_TIMEOUT,
        application_name="mbhealth-readiness",
        options="-c statement_timeout=2000",
    ) as conn:
        conn.execute("SELECT 1").fetchone()


def check_redis(settings: Settings) -> None:
    client = redis.Redis.from_url(
        settings.redis_url.get_secret_value(),
        socket_connect_timeout=REDIS_TIMEOUT,
        socket_timeout=REDIS_TIMEOUT,
        retry_on_timeout=False,
    )
    try:
        client.ping()
    finally:
        client.close()


CHECKS = {"postgresql": check_postgres, "redis": check_redis}


async def _run(name: str, settings: Settings) -> CheckResult:
    loop = asyncio.get_running_loop()
    try:
        await asyncio.wait_for(loop.run_in_executor(_executor, CHECKS[name], settings), CHECK_TIMEOUT)
        return CheckResult(name, True)
    except TimeoutError:
        error = "timeout"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        error = type(exc).__name__
        log.warning("readiness check failed", extra={"dependency": name, "error": error, "detail": str(exc)})
        return CheckResult(name, False, error)
    log.warning("readiness check failed", extra={"dependency": name, "error": error})
    return CheckResult(name, False, error)


async def check_all(settings: Settings) -> list[CheckResult]:
    return list(await asyncio.gather(*(_run(name, settings) for name in CHECKS)))
