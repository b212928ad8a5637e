"""Celery tasks. Each writes its result to PostgreSQL (the durable record) and returns it."""

from __future__ import annotations

import logging
import math
import time
import uuid
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import OperationalError

from mbhealth.celery_app import celery_app
from mbhealth.config import get_settings
from mbhealth.db import session
from mbhealth.models import TaskResult

log = logging.getLogger(__name__)

ANALYZE_NUMBER = "mbhealth.analyze_number"
MIN_N = 1
MAX_N = 1000
# A test-only pause (honoured only when ENVIRONMENT=test) to exercise warm shutdown.
MAX_TEST_DELAY_SECONDS = 10.0
# PostgreSQL away (a restart, a failover) when a task writes its result: the task is retried, its
# message sent again with a delay of 1, 2, 4 ... 30 s, for about three minutes in all, instead of
# failing without a row (a submission the API accepted would be lost).
RESULT_WRITE_RETRIES = 10
RESULT_WRITE_BACKOFF_MAX = 30


def analyze(n: int) -> dict[str, Any]:
    """Facts about n: the sum and sum of squares of 1..n, the n-th Fibonacci number
    (as a string: F(1000) has 209 digits), how many primes are <= n, and whether n is one."""
    if isinstance(n, bool) or not isinstance(n, int) or not MIN_N <= n <= MAX_N:
        raise ValueError(f"n must be an integer from {MIN_N} to {MAX_N}")
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    sieve = bytearray([1]) * (n + 1)
    sieve[0:2] = b"\x00\x00"[: min(2, n + 1)]
    for p in range(2, math.isqrt(n) + 1):
        if sieve[p]:
            sieve[p * p :: p] = bytearray(len(range(p * p, n + 1, p)))
    return {
        "n": n,
        "sum": n * (n + 1) // 2,
        "sum_of_squares": n * (n + 1) * (2 * n + 1) // 6,
        "fibonacci": str(a),
        "prime_count": sum(sieve),
        "is_prime": bool(sieve[n]),
    }


@celery_app.task(name=ANALYZE_NUMBER, bind=True, autoretry_for=(OperationalError,), max_retries=RESULT_WRITE_RETRIES,
                 retry_backoff=1, retry_backoff_max=RESULT_WRITE_BACKOFF_MAX, retry_jitter=False)
def analyze_number(self, n: int, test_delay_seconds: float = 0.0) -> dict[str, Any]:
    task_id = uuid.UUID(self.request.id)
    log.info("task started", extra={"task_id": str(task_id), "task_name": ANALYZE_NUMBER, "n": n})
    result = analyze(n)
    if test_delay_seconds and get_settings().environment == "test":
        time.sleep(min(float(test_delay_seconds), MAX_TEST_DELAY_SECONDS))
    with session() as db, db.begin():
        # Idempotent: a redelivered message (acks_late) rewrites the same row and counts the run.
        stmt = insert(TaskResult).values(task_id=task_id, task_name=ANALYZE_NUMBER, n=n, result=result)
        stmt = stmt.on_conflict_do_update(
            index_elements=[TaskResult.task_id],
            set_={"result": stmt.excluded.result, "n": stmt.excluded.n, "runs": TaskResult.runs + 1},
        )
        db.execute(stmt)
    log.info("task finished", extra={"task_id": str(task_id), "task_name": ANALYZE_NUMBER})
    return result
