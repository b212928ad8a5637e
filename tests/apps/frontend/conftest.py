"""Fixtures for the frontend tests: the built app, a backend stand-in and nginx on loopback."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.dns import DnsServer, find_dnsmasq, start_dns_server

from .harness import DIST, FRONTEND, BackendStub, Nginx, find_nginx, start_backend_stub, start_nginx

REQUIRE_SERVICES = os.environ.get("MBH_REQUIRE_SERVICES") == "1"


def missing(reason: str) -> None:
    """Skip with a one-line reason, or fail when CI says every service must be there."""
    if REQUIRE_SERVICES:
        pytest.fail(f"{reason} (MBH_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def nginx_bin() -> str:
    nginx = find_nginx()
    if nginx is None:
        missing("nginx not installed (bash tools/machine/system-deps.sh services)")
    if shutil.which("envsubst") is None:
        missing("envsubst not installed (Debian gettext-base; bash tools/machine/system-deps.sh services)")
    assert nginx is not None
    return nginx


@pytest.fixture(scope="session")
def frontend_dist() -> Path:
    """apps/frontend/dist as `make frontend` builds it; built here when it is missing."""
    if not (DIST / "index.html").is_file():
        npm = shutil.which("npm")
        if npm is None:
            missing("apps/frontend/dist is not built and npm is not installed")
        assert npm is not None
        if not (FRONTEND / "node_modules").is_dir():
            subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=FRONTEND, check=True)
        subprocess.run([npm, "run", "build"], cwd=FRONTEND, check=True)
    assert list(DIST.glob("assets/*.js")), f"{DIST} has no built JavaScript"
    return DIST


@pytest.fixture(scope="session")
def backend() -> Iterator[BackendStub]:
    stub = start_backend_stub()
    yield stub
    stub.close()


@pytest.fixture(scope="module")
def nginx(nginx_bin: str, frontend_dist: Path, backend: BackendStub) -> Iterator[Nginx]:
    server = start_nginx(frontend_dist, backend.url, nginx_bin)
    yield server
    server.cleanup()


@pytest.fixture
def dns_server() -> Iterator[DnsServer]:
    dnsmasq = find_dnsmasq()
    if dnsmasq is None:
        missing("dnsmasq not installed (Debian dnsmasq-base; bash tools/machine/system-deps.sh services)")
    assert dnsmasq is not None
    server = start_dns_server(dnsmasq)
    yield server
    server.stop()
