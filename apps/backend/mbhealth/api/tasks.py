"""The feature path: enqueue an `analyze_number` task, then read its state and result.

POST /api/v1/tasks {"n": 1..1000} -> 202 {"task_id", "state", "status_url"}
GET  /api/v1/tasks/{task_id}      -> 200 {"task_id", "state", "result", "error"}

A finished task is read from PostgreSQL (the durable record) without touching Redis, so
results stay readable while Redis is down; only the state of an unfinished task needs Redis.
When the dependency a request needs is down: 503 with a Retry-After header.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any, Literal, get_args

from celery.result import AsyncResult
from fastapi import APIRouter, HTTPException, Response, status
from kombu.exceptions import OperationalError as KombuOperationalError
from pydantic import BaseModel, Field, StrictInt
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from mbhealth.celery_app import celery_app
from mbhealth.db import session
from mbhealth.models import TaskResult
from mbhealth.tasks import MAX_N, MIN_N, analyze_number

log = logging.getLogger(__name__)
router = APIRouter(prefix="/tasks", tags=["tasks"])

# Seconds a client should wait before retrying a 503 (a dependency blip).
RETRY_AFTER_SECONDS = 5
_RETRY_AFTER = {"Retry-After": str(RETRY_AFTER_SECONDS)}

TaskState = Literal["PENDING", "RECEIVED", "STARTED", "RETRY", "SUCCESS", "FAILURE", "REVOKED"]
_STATES = frozenset(get_args(TaskState))


class TaskRequest(BaseModel):
    n: StrictInt = Field(ge=MIN_N, le=MAX_N, description="the number to analyze")


class TaskAccepted(BaseModel):
    task_id: uuid.UUID
    state: TaskState
    status_url: str


class TaskStatus(BaseModel):
    task_id: uuid.UUID
    state: TaskState
    result: dict[str, Any] | None = None
    error: str | None = None


@router.post("", status_code=status.HTTP_202_ACCEPTED, response_model=TaskAccepted)
def create_task(body: TaskRequest, response: Response) -> TaskAccepted:
    """Queue the analysis of n; poll `status_url` for its state and result."""
    try:
        async_result = analyze_number.apply_async(args=[body.n])
    except (KombuOperationalError, RedisError, OSError) as exc:
        log.error("could not enqueue task", extra={"error": type(exc).__name__})
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "task queue unavailable", headers=_RETRY_AFTER) from None
    status_url = f"/api/v1/tasks/{async_result.id}"
    response.headers["Location"] = status_url
    log.info("task queued", extra={"task_id": async_result.id, "n": body.n})
    return TaskAccepted(task_id=uuid.UUID(async_result.id), state="PENDING", status_url=status_url)


@router.get("/{task_id}", response_model=TaskStatus)
def get_task(task_id: uuid.UUID) -> TaskStatus:
    """The task's state, and its result once SUCCESS: from PostgreSQL first (the worker writes
    the row before the task succeeds), else the state from Redis. An id nobody queued reads
    as PENDING, as in Celery."""
    stored = _stored_result(task_id)
    if stored is not None:
        return TaskStatus(task_id=task_id, state="SUCCESS", result=stored)
    async_result = AsyncResult(str(task_id), app=celery_app)
    try:
        state = async_result.state
        info = async_result.info
    except (RedisError, OSError, KombuOperationalError) as exc:
        log.error("could not read task state", extra={"task_id": str(task_id), "error": type(exc).__name__})
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, "result backend unavailable", headers=_RETRY_AFTER
        ) from None
    if state == "SUCCESS" and isinstance(info, dict):
        return TaskStatus(task_id=task_id, state="SUCCESS", result=info)
    if state == "FAILURE":
        # The exception type only: its message could quote task input.
        return TaskStatus(task_id=task_id, state="FAILURE", error=type(info).__name__ if info else "unknown")
    return TaskStatus(task_id=task_id, state=state if state in _STATES else "PENDING")


def _stored_result(task_id: uuid.UUID) -> dict[str, Any] | None:
    """The durable result, or None when there is none (yet) or PostgreSQL cannot be read."""
    try:
        with session() as db:
            return db.scalars(select(TaskResult.result).where(TaskResult.task_id == task_id)).one_or_none()
    except SQLAlchemyError as exc:
        log.warning("could not read stored result", extra={"task_id": str(task_id), "error": type(exc).__name__})
        return None
