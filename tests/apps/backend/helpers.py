"""Run `python -m mbhealth ...` as real subprocesses and talk to them over HTTP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[3]
BACKEND_DIR = REPO_ROOT / "apps" / "backend"
CONFIG_VARS = ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "LOG_LEVEL", "ENVIRONMENT")
# Variables a developer's shell might carry that would leak into the processes under test.
_SCRUB = CONFIG_VARS + ("PORT", "PYTHONPATH", "WORKER_CONCURRENCY", "PYTHONSAFEPATH")


def clean_env(**overrides: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _SCRUB and not k.startswith("WORKER_HEARTBEAT")}
    env.update(PYTHONPATH=str(BACKEND_DIR), PYTHONUNBUFFERED="1", PYTHONDONTWRITEBYTECODE="1")
    env.update(overrides)
    return env


def run_cli(
    *args: str, env: dict[str, str], timeout: float = 30, cwd: str | Path = "/"
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mbhealth", *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=cwd
    )


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.1, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(interval)


@dataclass
class Response:
    status: int
    body: Any
    headers: dict[str, str]  # lower-case names


def http(method: str, url: str, body: Any = None, timeout: float = 15) -> Response:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw, status, headers = resp.read(), resp.status, {k.lower(): v for k, v in resp.headers.items()}
    except urllib.error.HTTPError as exc:
        raw, status, headers = exc.read(), exc.code, {k.lower(): v for k, v in exc.headers.items()}
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode(errors="replace")
    return Response(status, parsed, headers)


class BackendProcess:
    """`python -m mbhealth <command>` with stdout/stderr captured to files."""

    def __init__(self, command: list[str], env: dict[str, str], log_dir: Path, name: str) -> None:
        self.command = command
        self.env = env
        self.stdout_path = log_dir / f"{name}.stdout"
        self.stderr_path = log_dir / f"{name}.stderr"
        self._out = self.stdout_path.open("wb")
        self._err = self.stderr_path.open("wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "mbhealth", *command],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._out,
            stderr=self._err,
            cwd="/",
        )

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def output(self) -> str:
        return self.stdout() + self.stderr()

    def log_records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout().splitlines() if line.strip()]

    def wait_for_log(self, message: str, timeout: float = 20) -> None:
        wait_until(lambda: message in self.stdout() or self._died(), timeout, what=f"log {message!r}")
        if message not in self.stdout():
            raise AssertionError(
                f"{self.command} exited with {self.proc.returncode} before logging {message!r}:\n"
                f"{self.output()[-4000:]}"
            )

    def _died(self) -> bool:
        return self.proc.poll() is not None

    def terminate(self, timeout: float = 30) -> int:
        """SIGTERM, then wait; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._out.close()
        self._err.close()


class ApiServer(BackendProcess):
    def __init__(self, env: dict[str, str], log_dir: Path, name: str = "api") -> None:
        self.port = int(env["PORT"])
        super().__init__(["serve"], env, log_dir, name)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/v1"

    def wait_live(self, timeout: float = 20) -> ApiServer:
        def live() -> bool:
            if self._died():
                raise AssertionError(f"serve exited with {self.proc.returncode}:\n{self.output()[-4000:]}")
            try:
                return http("GET", self.base_url + "/health/live", timeout=1).status == 200
            except OSError:
                return False

        wait_until(live, timeout, 0.05, "the API to answer /health/live")
        return self

    def get(self, path: str, **kw: Any) -> Response:
        return http("GET", self.base_url + path, **kw)

    def post(self, path: str, body: Any, **kw: Any) -> Response:
        return http("POST", self.base_url + path, body, **kw)


class Worker(BackendProcess):
    def __init__(self, env: dict[str, str], log_dir: Path, name: str = "worker") -> None:
        super().__init__(["worker"], env, log_dir, name)

    def wait_ready(self, timeout: float = 30) -> Worker:
        self.wait_for_log(" ready.", timeout)
        return self
