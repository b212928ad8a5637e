"""The deployed app in headless Chromium, as a person uses it: open the stack's `url`, see the API's
readiness, start a task in the form and wait for the worker's result on the page.

Playwright (the pinned Python package) drives Debian's Chromium (`executable_path`; Playwright
never downloads a browser here). Names under `.localhost` resolve to loopback in Chromium itself.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

# Per shared/ENVIRONMENT.md: no background traffic out of this machine, no sandbox as root.
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]


@dataclass(frozen=True)
class Visit:
    title: str
    readiness: str
    task_state: str
    result: str
    screenshot: Path


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    raise AssertionError("chromium is not installed (bash tools/machine/system-deps.sh services)")


def start_a_task(url: str, n: int, screenshot: Path, timeout_ms: int = 60_000) -> Visit:
    """Open `url`, submit n in the task form, and return what the page shows once the task ends."""
    from playwright.sync_api import sync_playwright

    profile = Path(tempfile.mkdtemp(prefix="mbh-chromium-"))
    try:
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                str(profile), executable_path=chromium(), headless=True, args=CHROMIUM_FLAGS)
            try:
                page = context.new_page()
                page.goto(url, timeout=timeout_ms)
                readiness = page.get_by_text("API ready")
                readiness.wait_for(timeout=timeout_ms)
                page.fill("#task-n", str(n))
                page.get_by_role("button", name="Start task").click()
                state = page.locator("dd[data-state]")
                page.wait_for_function(
                    "() => ['SUCCESS', 'FAILURE', 'REVOKED'].includes("
                    "document.querySelector('dd[data-state]')?.dataset.state)", timeout=timeout_ms)
                result = page.locator(".task__result")
                visit = Visit(title=page.title(), readiness=readiness.inner_text(),
                              task_state=state.get_attribute("data-state") or "",
                              result=result.inner_text() if result.count() else "",
                              screenshot=screenshot)
                page.screenshot(path=str(screenshot), full_page=True)
                return visit
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
