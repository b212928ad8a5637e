"""FastAPI application factory (uvicorn calls :func:`create_app`)."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from mbhealth import __version__
from mbhealth.api import debug, health, tasks
from mbhealth.celery_app import configure_celery
from mbhealth.config import get_settings
from mbhealth.db import dispose_engine
from mbhealth.health import Readiness

API_PREFIX = "/api/v1"


def create_app() -> FastAPI:
    settings = get_settings()
    configure_celery(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        # No migrations here: `python -m mbhealth migrate` (a Job) owns the schema.
        yield
        dispose_engine()

    interactive_docs = settings.environment in ("development", "test")
    app = FastAPI(
        title="MBHealth API",
        version=__version__,
        lifespan=lifespan,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs" if interactive_docs else None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.readiness = Readiness()
    app.include_router(health.router, prefix=API_PREFIX)
    app.include_router(tasks.router, prefix=API_PREFIX)
    if settings.environment == "test":
        # Test-only endpoints (a slow request for the graceful-shutdown test).
        app.include_router(debug.router, prefix=API_PREFIX)
    return app
