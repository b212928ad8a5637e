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
    """200 "ready" when PostgreSQL and Redis answer; 200 "degraded" when only Redis fails after
    it has answered this process once; else 503 "unavailable" (see mbhealth.health)."""
    results = await check_all(request.app.state.settings)
    status, failed, blocking = request.app.state.readiness.verdict(results)
    body = {
        "status": status,
        "checks": {r.name: r.as_json() for r in results},
        "failed": failed,
    }
    return JSONResponse(body, status_code=503 if blocking else 200, headers={"Cache-Control": "no-store"})
