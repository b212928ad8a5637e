"""`python -m mbhealth smoke`: the post-deploy smoke test a release must pass.

Run by a Kubernetes Job after the Deployments roll (Pulumi fails the update when
it fails). Checks, in order, each retried until the deadline:

1. the API is ready (`GET <api>/api/v1/health/ready` is 200 "ready": PostgreSQL and Redis answer);
2. the frontend answers `GET <web>/health` and serves the SPA at `/`;
3. one task round-trip *through the frontend's /api proxy*: POST a task, poll it until
   SUCCESS, and check the result (API -> Redis -> worker -> PostgreSQL -> API).

Standard library only; one JSON line per check on stdout; exit 0 when all pass, 1 otherwise.
"""

from __future__ import annotations

import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

REQUEST_TIMEOUT = 5.0
SMOKE_N = 10


class SmokeFailure(Exception):
    """A check is not (yet) passing; retried until the deadline."""


class TaskFailed(Exception):
    """The task itself failed: final, not retried."""


def _request(method: str, url: str, body: Any = None) -> tuple[int, bytes, str]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as response:  # noqa: S310 - operator-given URLs
            return response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers.get("Content-Type", "")


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None


def _until(deadline: float, check: Callable[[], str], interval: float = 1.0) -> str:
    """Retry `check` until it returns (its detail) or the deadline passes (last failure raised)."""
    while True:
        try:
            return check()
        except (SmokeFailure, OSError) as failure:
            if time.monotonic() >= deadline:
                raise SmokeFailure(str(failure)) from None
        time.sleep(interval)


def check_api_ready(api: str) -> str:
    """Ready with every dependency up: a "degraded" API (Redis down) serves traffic, but a
    release is not accepted on it."""
    status, raw, _ = _request("GET", f"{api}/api/v1/health/ready")
    body = _json(raw) or {}
    if status != 200 or not isinstance(body, dict) or body.get("status") != "ready":
        detail = body.get("status") if isinstance(body, dict) else None
        failed = body.get("failed") if isinstance(body, dict) else None
        raise SmokeFailure(f"{api}/api/v1/health/ready answered {status} {detail}; failed: {failed}")
    return "ready"


def check_web(web: str) -> str:
    status, _, _ = _request("GET", f"{web}/health")
    if status != 200:
        raise SmokeFailure(f"{web}/health answered {status}")
    status, raw, content_type = _request("GET", f"{web}/")
    if status != 200 or "text/html" not in content_type or b"<div id=" not in raw:
        raise SmokeFailure(f"{web}/ answered {status} ({content_type}) without the app's HTML")
    return "health 200, index served"


def task_round_trip(base: str, deadline: float) -> str:
    status, raw, _ = _request("POST", f"{base}/api/v1/tasks", {"n": SMOKE_N})
    body = _json(raw) or {}
    if status != 202 or "task_id" not in body:
        raise SmokeFailure(f"POST {base}/api/v1/tasks answered {status}: {raw[:200]!r}")
    task_id = body["task_id"]

    def finished() -> str:
        status, raw, _ = _request("GET", f"{base}/api/v1/tasks/{task_id}")
        state = (_json(raw) or {}).get("state")
        if status != 200 or state != "SUCCESS":
            if state == "FAILURE":
                raise TaskFailed(f"task {task_id} failed: {raw[:300]!r}")
            raise SmokeFailure(f"task {task_id} is {state or status}")
        result = _json(raw)["result"]
        if result.get("sum") != SMOKE_N * (SMOKE_N + 1) // 2:
            raise SmokeFailure(f"task {task_id} returned a wrong result: {result}")
        return f"task {task_id} SUCCESS"

    return _until(deadline, finished, interval=0.5)


def _report(check: str, ok: bool, detail: str) -> int:
    print(json.dumps({"event": "smoke", "check": check, "ok": ok, "detail": detail}), flush=True)
    return 0 if ok else 1


def run_smoke(api: str, web: str | None, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    api, web = api.rstrip("/"), web.rstrip("/") if web else None
    checks: list[tuple[str, Callable[[], str]]] = [("api-ready", lambda: _until(deadline, lambda: check_api_ready(api)))]
    if web:
        checks.append(("web", lambda: _until(deadline, lambda: check_web(web))))
    checks.append(("task-round-trip", lambda: task_round_trip(web or api, deadline)))
    for name, check in checks:
        try:
            detail = check()
        except (SmokeFailure, TaskFailed, OSError) as failure:
            return _report(name, False, str(failure))
        _report(name, True, detail)
    return 0


if __name__ == "__main__":  # pragma: no cover - use `python -m mbhealth smoke`
    sys.exit(run_smoke(sys.argv[1], sys.argv[2] if len(sys.argv) > 2 else None, 60))
