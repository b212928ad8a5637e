"""Runs the frontend image's nginx setup on loopback: the same template, the same entrypoint.

The image does `frontend-entrypoint` -> envsubst(template) -> `exec nginx -p /tmp/nginx/ ...`.
Here the same two files are copied byte for byte into a scratch dir and the entrypoint runs
with the host-specific values the template takes (listen address, document root, runtime
dir) passed as environment variables, exactly as the image passes its defaults. As root the
process runs as the image's uid/gid 10001, whose only writable place is the scratch dir.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from components.build_specs import APP_GID, APP_UID, REPO_ROOT

FRONTEND = REPO_ROOT / "apps" / "frontend"
TEMPLATE = FRONTEND / "nginx" / "nginx.conf.template"
ENTRYPOINT = FRONTEND / "nginx" / "entrypoint.sh"
DIST = FRONTEND / "dist"


def find_nginx() -> str | None:
    """nginx lives in /usr/sbin, which is not on every user's PATH."""
    return shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Response:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def header_values(self, name: str) -> list[str]:
        return self.headers.get_all(name) or []


def request(
    port: int,
    path: str,
    *,
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 10.0,
) -> Response:
    """One HTTP/1.1 request with exactly the given headers (http.client adds only Host and,
    for a body, Content-Length; it never asks for gzip on its own)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return Response(resp.status, resp.headers, resp.read())
    finally:
        conn.close()


# --------------------------------------------------------------------------- backend stub


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class BackendStub:
    """A real HTTP server on loopback standing in for the API behind nginx's /api/."""

    server: ThreadingHTTPServer
    requests: list[RecordedRequest] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def find(self, path: str) -> RecordedRequest:
        matches = [r for r in self.requests if r.path == path]
        assert matches, f"backend never received {path!r}; it saw {[r.path for r in self.requests]}"
        return matches[-1]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


# Shapes as the MBHealth API (apps/backend/mbhealth/api) answers them.
STUB_TASK_ID = "0b7c1f9e-2f7a-4a34-9c51-3f4bb9a0d7e1"


def start_backend_stub() -> BackendStub:
    recorded: list[RecordedRequest] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib name
            pass

        def _answer(self, status: int, payload: object, extra: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (extra or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            recorded.append(
                RecordedRequest(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
            )
            path = self.path.split("?", 1)[0]
            if path == "/api/v1/health/ready":
                # What the API says when Redis is down; its own framing header must not win.
                self._answer(
                    503,
                    {
                        "status": "unavailable",
                        "checks": {"postgresql": {"status": "ok"}, "redis": {"status": "error", "error": "timeout"}},
                        "failed": ["redis"],
                    },
                    {"Cache-Control": "no-store", "X-Frame-Options": "SAMEORIGIN"},
                )
            elif path == "/api/v1/tasks" and self.command == "POST":
                self._answer(
                    202,
                    {"task_id": STUB_TASK_ID, "state": "PENDING", "status_url": f"/api/v1/tasks/{STUB_TASK_ID}"},
                )
            elif path.startswith("/api/v1/tasks/"):
                task_id = path.rsplit("/", 1)[1]
                result = {"n": 10, "value": 55}
                self._answer(200, {"task_id": task_id, "state": "SUCCESS", "result": result, "error": None})
            elif path == "/api/slow":
                time.sleep(1.5)
                self._answer(200, {"slow": True})
            else:
                self._answer(200, {"echo": self.path})

        do_GET = do_POST = do_PUT = do_DELETE = _handle

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="backend-stub", daemon=True).start()
    stub = BackendStub(server)
    stub.requests = recorded
    return stub


# --------------------------------------------------------------------------------- nginx


@dataclass
class Nginx:
    proc: subprocess.Popen[bytes]
    port: int
    base: Path

    @property
    def runtime_dir(self) -> Path:
        return self.base / "run"

    @property
    def html(self) -> Path:
        return self.base / "html"

    def access_log(self) -> str:
        return (self.base / "stdout.log").read_text(errors="replace")

    def error_log(self) -> str:
        return (self.base / "stderr.log").read_text(errors="replace")

    def get(self, path: str, **kwargs: Any) -> Response:
        return request(self.port, path, **kwargs)

    def stop(self, sig: int = signal.SIGQUIT, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.returncode

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.base, ignore_errors=True)


def run_as_app_user() -> dict[str, Any]:
    """Popen kwargs that drop root to the image's uid/gid (nothing to do when not root)."""
    if os.geteuid() != 0:
        return {}
    return {"user": APP_UID, "group": APP_GID, "extra_groups": []}


def readable_copies(directory: Path, entrypoint: Path = ENTRYPOINT, template: Path = TEMPLATE) -> tuple[Path, Path]:
    """Copies of the entrypoint and the template that the image's uid can read and run.

    The checkout may sit in a private directory (mode 0700, as `mktemp -d` makes): a
    process dropped to uid 10001 can read nothing there. Whatever runs as that user
    runs from copies in a directory it can read.
    """
    etc = directory / "etc"
    etc.mkdir(mode=0o755, exist_ok=True)
    os.chmod(etc, 0o755)
    entrypoint_copy, template_copy = etc / "frontend-entrypoint", etc / template.name
    shutil.copyfile(entrypoint, entrypoint_copy)
    shutil.copyfile(template, template_copy)
    os.chmod(entrypoint_copy, 0o755)
    os.chmod(template_copy, 0o644)
    return entrypoint_copy, template_copy


def entrypoint_env(nginx_bin: str, **values: str) -> dict[str, str]:
    path = os.pathsep.join([str(Path(nginx_bin).parent), "/usr/local/bin", "/usr/bin", "/bin"])
    return {"PATH": path, "LANG": "C.UTF-8", **values}


def start_nginx(dist: Path, backend_url: str, nginx_bin: str, resolver: str | None = None) -> Nginx:
    """nginx through the image's entrypoint; `resolver` is NGINX_RESOLVER (default: /etc/resolv.conf's)."""
    base = Path(tempfile.mkdtemp(prefix="mbh-frontend-nginx-"))
    os.chmod(base, 0o755)
    shutil.copytree(dist, base / "html")
    entrypoint, template = readable_copies(base)
    (base / "stdout.log").touch()
    (base / "stderr.log").touch()
    if os.geteuid() == 0:
        for path in [base, *base.rglob("*")]:
            os.chown(path, APP_UID, APP_GID, follow_symlinks=False)

    port = free_port()
    env = entrypoint_env(
        nginx_bin,
        BACKEND_URL=backend_url,
        NGINX_LISTEN=f"127.0.0.1:{port}",
        NGINX_ROOT=str(base / "html"),
        NGINX_RUNTIME_DIR=str(base / "run"),
        NGINX_TEMPLATE=str(template),
        **({"NGINX_RESOLVER": resolver} if resolver else {}),
    )
    with open(base / "stdout.log", "ab") as out, open(base / "stderr.log", "ab") as err:
        proc = subprocess.Popen(
            [str(entrypoint)],
            env=env,
            cwd=base,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            **run_as_app_user(),
        )
    server = Nginx(proc, port, base)
    deadline = time.monotonic() + 15
    while True:
        if proc.poll() is not None:
            log = server.error_log()
            shutil.rmtree(base, ignore_errors=True)
            raise RuntimeError(f"nginx exited with {proc.returncode} on start:\n{log}")
        try:
            if server.get("/health", timeout=2).status == 200:
                return server
        except OSError:
            pass
        if time.monotonic() > deadline:
            log = server.error_log()
            server.cleanup()
            raise RuntimeError(f"nginx did not answer /health within 15 s:\n{log}")
        time.sleep(0.05)

