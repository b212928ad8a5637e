"""Liveness and readiness endpoints for Kubernetes probes."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from mbhealth import __version__
from mbhealth.health import check_all

router = APIRouter(prefix="/health", tags=["health"])


@router.get("/live")
async def live() -> dict[str, str]:
    """The process serves requests. Touches nothing external."""
    return {"status": "ok", "version": __version__}


@router.get("/ready")
async def ready(request: Request) -> JSONResponse:
    """PostgreSQL and Redis both answer: 200, else 503 naming the failed dependencies."""
    results = await check_all(request.app.state.settings)
    failed = [r.name for r in results if not r.ok]
    body = {
        "status": "unavailable" if failed else "ready",
        "checks": {r.name: r.as_json() for r in results},
        "failed": failed,
    }
    return JSONResponse(body, status_code=503 if failed else 200, headers={"Cache-Control": "no-store"})
