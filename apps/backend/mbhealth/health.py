"""Dependency checks for readiness: PostgreSQL and Redis, each with a short timeout.

What each dependency means for readiness (whether Kubernetes routes traffic to this pod):

* **PostgreSQL is required.** It is the system of record: every task result is read from
  it and the worker writes there. A pod that cannot reach it is not ready.
* **Redis is required once, then optional.** It is the task queue and a result cache. A pod
  is not ready until Redis has answered it once (a new pod with a wrong REDIS_URL or a
  missing network policy never gets traffic, so a rollout stops instead of replacing
  working pods). After that, a Redis outage only *degrades* the pod: readiness answers 200
  `"status": "degraded"`, task submissions answer 503 with Retry-After, finished results
  are still read from PostgreSQL. Redis is shared by every pod: failing readiness on it
  would take every pod out of the Service at once and turn a degraded API into a total
  outage, including the read paths that never touch Redis.
"""

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
# Dependencies whose failure, once they have answered this process, degrades it rather than
# making it unready (see the module docstring).
OPTIONAL_ONCE_SEEN = frozenset({"redis"})


class Readiness:
    """Per-process memory of which optional dependencies have answered at least once."""

    def __init__(self) -> None:
        self.seen: set[str] = set()

    def verdict(self, results: list[CheckResult]) -> tuple[str, list[str], list[str]]:
        """(status, failed, blocking): status is ready, degraded or unavailable."""
        for r in results:
            if r.ok:
                self.seen.add(r.name)
        failed = [r.name for r in results if not r.ok]
        blocking = [n for n in failed if n not in OPTIONAL_ONCE_SEEN or n not in self.seen]
        status = "unavailable" if blocking else "degraded" if failed else "ready"
        return status, failed, blocking


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
