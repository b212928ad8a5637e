"""Headless Chromium loads a deep link through the production nginx setup.

Proves what header and file tests cannot: the built app's scripts run under the image's
Content-Security-Policy, the deep link is routed client-side and the API is reached via /api.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import missing
from .harness import BackendStub, Nginx

pytestmark = pytest.mark.browser

# Per shared/ENVIRONMENT.md: no background traffic out of this machine, no sandbox as root.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    missing("chromium not installed (bash tools/machine/system-deps.sh services)")
    raise AssertionError("unreachable")


@pytest.fixture
def profile_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="mbh-chromium-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_deep_link_renders_readiness_and_task_under_the_csp(
    chromium: str, profile_dir: Path, nginx: Nginx, backend: BackendStub
) -> None:
    result = subprocess.run(
        [
            chromium,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile_dir}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            f"http://127.0.0.1:{nginx.port}/tasks/browser-1",
        ],
        capture_output=True,
        text=True,
        timeout=90,
    )
    dom = result.stdout
    assert result.returncode == 0, result.stderr[-2000:]
    # Rendered by the app's JavaScript (index.html itself has an empty #root), so the
    # bundle ran under the CSP nginx sent with it.
    assert "API not ready" in dom and "Failing: redis" in dom, dom[-2000:]
    assert "Task browser-1" in dom
    assert 'data-state="SUCCESS"' in dom and '"value": 55' in dom
    backend.find("/api/v1/health/ready")
    assert backend.find("/api/v1/tasks/browser-1").method == "GET"
