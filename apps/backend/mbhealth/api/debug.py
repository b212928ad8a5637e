"""Test-only endpoints, mounted only when ENVIRONMENT=test."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Query

router = APIRouter(prefix="/debug", tags=["debug"])

MAX_SLEEP_SECONDS = 10.0


@router.get("/sleep")
async def sleep(seconds: float = Query(1.0, gt=0, le=MAX_SLEEP_SECONDS)) -> dict[str, float]:
    """A deliberately slow request (graceful-shutdown tests)."""
    await asyncio.sleep(seconds)
    return {"slept": seconds}
