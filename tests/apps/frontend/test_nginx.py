"""The production nginx setup of the frontend image, served by a real nginx on loopback.

Same template, same entrypoint as the image (see harness.py); only the listen address,
document root and runtime dir differ, passed the way the image passes its defaults.
"""

from __future__ import annotations

import gzip
import json
import re
import signal
import threading
import time
from pathlib import Path

import pytest

from tests.support.dns import DnsServer

from .harness import STUB_TASK_ID, BackendStub, Nginx, Response, request, start_nginx

pytestmark = pytest.mark.services

IMMUTABLE = "public, max-age=31536000, immutable"
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def built_assets(dist: Path, suffix: str) -> list[Path]:
    found = sorted(dist.glob(f"assets/*{suffix}"))
    assert found, f"the build produced no assets/*{suffix}"
    return found


# ----------------------------------------------------------------------- process shape


def test_entrypoint_execs_nginx_so_it_receives_signals(nginx: Nginx) -> None:
    """The entrypoint's own pid becomes the nginx master (exec), as PID 1 in the container."""
    cmdline = Path(f"/proc/{nginx.proc.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    assert cmdline.startswith("nginx: master process nginx"), cmdline
    assert f"-p {nginx.runtime_dir}/" in cmdline


def test_runs_unprivileged_with_all_state_in_the_runtime_dir(nginx: Nginx) -> None:
    status = Path(f"/proc/{nginx.proc.pid}/status").read_text()
    uid = re.search(r"^Uid:\s+(\d+)", status, re.M)
    assert uid is not None and uid.group(1) != "0", "nginx runs as root"
    made = sorted(p.name for p in nginx.runtime_dir.iterdir())
    assert made == sorted(
        ["nginx.conf", "nginx.pid", "client_body_temp", "proxy_temp", "fastcgi_temp", "uwsgi_temp", "scgi_temp"]
    )
    assert (nginx.runtime_dir / "nginx.pid").read_text().strip() == str(nginx.proc.pid)


def test_rendering_substitutes_only_the_template_variables(nginx: Nginx, backend: BackendStub) -> None:
    conf = (nginx.runtime_dir / "nginx.conf").read_text()
    assert "${" not in conf
    assert "proxy_pass $mbh_backend;" in conf
    assert f'default "{backend.url}";' in conf
    assert f"root {nginx.html};" in conf
    # nginx's own variables survive envsubst untouched.
    for variable in ("$uri", "$host", "$proxy_add_x_forwarded_for", "$request_id"):
        assert variable in conf


# ---------------------------------------------------------------------------- routing


@pytest.mark.parametrize("path", ["/", "/tasks/123", "/tasks/abc-def/", "/some/deep/link"])
def test_deep_links_serve_the_app_shell(nginx: Nginx, frontend_dist: Path, path: str) -> None:
    resp = nginx.get(path)
    assert resp.status == 200
    assert resp.body == (frontend_dist / "index.html").read_bytes()
    assert (resp.header("Content-Type") or "").startswith("text/html")
    assert resp.header("Cache-Control") == "no-cache"


@pytest.mark.parametrize(
    "path", ["/assets/index-missing.js", "/assets/nope.css", "/assets/sub/dir", "/favicon.ico", "/tasks/1/app.js"]
)
def test_missing_files_are_404_not_the_app_shell(nginx: Nginx, frontend_dist: Path, path: str) -> None:
    resp = nginx.get(path)
    assert resp.status == 404
    assert resp.body != (frontend_dist / "index.html").read_bytes()
    # An error must never be cached as if it were a hashed asset.
    assert resp.header("Cache-Control") is None


def test_existing_public_file_is_served(nginx: Nginx, frontend_dist: Path) -> None:
    resp = nginx.get("/favicon.svg")
    assert resp.status == 200
    assert resp.body == (frontend_dist / "favicon.svg").read_bytes()
    assert resp.header("Content-Type") == "image/svg+xml"


# ---------------------------------------------------------------------------- headers


@pytest.mark.parametrize("path", ["/", "/tasks/9", "/assets/missing.js", "/health", "/api/v1/health/ready"])
def test_security_headers_on_every_response(nginx: Nginx, path: str) -> None:
    resp = nginx.get(path)
    for name, value in SECURITY_HEADERS.items():
        assert resp.header_values(name) == [value], f"{name} on {path} ({resp.status})"
    csp = resp.header_values("Content-Security-Policy")
    assert len(csp) == 1, f"CSP on {path}: {csp}"
    directives = {d.split()[0]: d.split()[1:] for d in (p.strip() for p in csp[0].split(";")) if d}
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["object-src"] == ["'none'"]
    permissions = resp.header("Permissions-Policy") or ""
    assert "camera=()" in permissions and "geolocation=()" in permissions


def test_server_header_hides_the_version(nginx: Nginx) -> None:
    assert nginx.get("/").header("Server") == "nginx"
    assert b"nginx/" not in nginx.get("/assets/missing.js").body


def test_hashed_assets_are_immutable(nginx: Nginx, frontend_dist: Path) -> None:
    assets = [p for p in (frontend_dist / "assets").iterdir() if not p.name.endswith(".gz")]
    assert any(p.suffix == ".js" for p in assets) and any(p.suffix == ".css" for p in assets)
    for asset in assets:
        resp = nginx.get(f"/assets/{asset.name}")
        assert resp.status == 200, asset.name
        assert resp.body == asset.read_bytes()
        assert resp.header("Cache-Control") == IMMUTABLE, asset.name


def test_index_html_is_revalidated(nginx: Nginx) -> None:
    for path in ("/", "/index.html"):
        resp = nginx.get(path)
        assert resp.status == 200
        assert resp.header("Cache-Control") == "no-cache"
        assert resp.header("ETag")


# ------------------------------------------------------------------------------- gzip


def test_precompressed_files_are_served_as_is(nginx: Nginx, frontend_dist: Path) -> None:
    compressed = built_assets(frontend_dist, ".js.gz") + built_assets(frontend_dist, ".css.gz")
    for gz in compressed:
        original = gz.with_suffix("")
        resp = nginx.get(f"/assets/{original.name}", headers={"Accept-Encoding": "gzip, deflate, br"})
        assert resp.status == 200
        assert resp.header("Content-Encoding") == "gzip", original.name
        assert "Accept-Encoding" in (resp.header("Vary") or "")
        # Byte-identical to the .gz from the build: gzip_static, not on-the-fly gzip.
        assert resp.body == gz.read_bytes(), original.name
        assert gzip.decompress(resp.body) == original.read_bytes()
        assert resp.header("Cache-Control") == IMMUTABLE


def test_app_shell_is_served_precompressed_for_deep_links(nginx: Nginx, frontend_dist: Path) -> None:
    resp = nginx.get("/tasks/42", headers={"Accept-Encoding": "gzip"})
    assert resp.header("Content-Encoding") == "gzip"
    assert resp.body == (frontend_dist / "index.html.gz").read_bytes()


def test_identity_without_accept_encoding(nginx: Nginx, frontend_dist: Path) -> None:
    js = built_assets(frontend_dist, ".js")[0]
    resp = nginx.get(f"/assets/{js.name}")
    assert resp.header("Content-Encoding") is None
    assert resp.body == js.read_bytes()


# ----------------------------------------------------------------------------- health


def access_log_entries(nginx: Nginx, until_uri: str) -> list[dict[str, object]]:
    """The JSON access log, once it holds a request for `until_uri`."""
    deadline = time.monotonic() + 5
    while until_uri not in nginx.access_log() and time.monotonic() < deadline:
        time.sleep(0.05)
    return [json.loads(line) for line in nginx.access_log().splitlines() if line.strip()]


def test_health_is_200_and_not_logged(nginx: Nginx) -> None:
    marker = f"/tasks/log-marker-{time.monotonic_ns()}"
    resp = nginx.get("/health")
    assert resp.status == 200
    assert resp.body == b"ok\n"
    assert resp.header("Cache-Control") == "no-store"
    nginx.get(marker)  # a request that is logged, to know the log has caught up
    uris = [entry["uri"] for entry in access_log_entries(nginx, marker)]
    assert marker in uris
    assert "/health" not in uris


def test_access_log_is_one_json_object_per_request(nginx: Nginx) -> None:
    marker = f"/tasks/json-{time.monotonic_ns()}"
    nginx.get(marker, headers={"User-Agent": 'agent "with quotes"', "X-Request-ID": "rid-7"})
    entry = next(e for e in access_log_entries(nginx, marker) if e["uri"] == marker)
    assert entry["method"] == "GET"
    assert entry["status"] == 200
    assert entry["request_id"] == "rid-7"
    assert entry["user_agent"] == 'agent "with quotes"'
    assert isinstance(entry["duration"], float | int)


# -------------------------------------------------------------------------------- api


def test_api_is_proxied_with_forwarded_headers(nginx: Nginx, backend: BackendStub) -> None:
    resp = nginx.get(
        "/api/v1/health/ready?verbose=1",
        headers={"Host": "mbhealth.example", "X-Forwarded-Proto": "https", "X-Request-ID": "req-123"},
    )
    # The API's own answer comes back unchanged: status, body, its Cache-Control.
    assert resp.status == 503
    assert resp.header("Content-Type") == "application/json"
    assert json.loads(resp.body)["failed"] == ["redis"]
    assert resp.header_values("Cache-Control") == ["no-store"]
    # ...but the browser gets this server's framing policy, once.
    assert resp.header_values("X-Frame-Options") == ["DENY"]

    seen = backend.find("/api/v1/health/ready?verbose=1")
    assert seen.method == "GET"
    assert seen.headers["host"] == "mbhealth.example"
    assert seen.headers["x-forwarded-host"] == "mbhealth.example"
    assert seen.headers["x-forwarded-for"] == "127.0.0.1"
    assert seen.headers["x-real-ip"] == "127.0.0.1"
    assert seen.headers["x-forwarded-proto"] == "https"
    assert seen.headers["x-request-id"] == "req-123"


def test_api_gets_a_request_id_and_the_scheme_when_none_arrive(nginx: Nginx, backend: BackendStub) -> None:
    assert nginx.get("/api/v1/tasks/abc").status == 200
    seen = backend.find("/api/v1/tasks/abc")
    assert re.fullmatch(r"[0-9a-f]{32}", seen.headers["x-request-id"])
    assert seen.headers["x-forwarded-proto"] == "http"


def test_api_post_body_reaches_the_backend(nginx: Nginx, backend: BackendStub) -> None:
    resp = nginx.get("/api/v1/tasks", method="POST", body=b'{"n": 10}', headers={"Content-Type": "application/json"})
    assert resp.status == 202
    assert json.loads(resp.body)["task_id"] == STUB_TASK_ID
    seen = backend.find("/api/v1/tasks")
    assert (seen.method, seen.body) == ("POST", b'{"n": 10}')
    assert seen.headers["content-type"] == "application/json"


def test_api_paths_with_extensions_still_go_to_the_api(nginx: Nginx, backend: BackendStub) -> None:
    assert nginx.get("/api/openapi.json").status == 200
    assert backend.find("/api/openapi.json").method == "GET"


# ------------------------------------------------------------------------- lifecycle


def test_sigquit_drains_in_flight_requests(nginx_bin: str, frontend_dist: Path, backend: BackendStub) -> None:
    """The image's STOPSIGNAL: a request in flight when the signal arrives still completes."""
    server = start_nginx(frontend_dist, backend.url, nginx_bin)
    try:
        result: dict[str, object] = {}

        def slow_call() -> None:
            try:
                result["response"] = request(server.port, "/api/slow")
            except Exception as error:  # noqa: BLE001 - reported below
                result["error"] = error

        caller = threading.Thread(target=slow_call)
        caller.start()
        deadline = time.monotonic() + 5
        while not any(r.path == "/api/slow" for r in backend.requests) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert any(r.path == "/api/slow" for r in backend.requests), "the slow request never reached the backend"

        started = time.monotonic()
        server.proc.send_signal(signal.SIGQUIT)
        caller.join(10)
        assert "error" not in result, result.get("error")
        response = result["response"]
        assert isinstance(response, Response)
        assert response.status == 200
        assert response.body == b'{"slow": true}'
        assert server.proc.wait(10) == 0
        assert time.monotonic() - started < 10
    finally:
        server.cleanup()


# ------------------------------------------------------------------------------ DNS


@pytest.mark.services
def test_the_api_name_is_resolved_per_request_so_nginx_starts_and_recovers_before_it_resolves(
        nginx_bin: str, frontend_dist: Path, backend: BackendStub, dns_server: DnsServer) -> None:
    """A frontend pod may start before the backend's Service exists (or while the cluster DNS does
    not know it yet): nginx serves the app and /health, answers /api/ with 502 meanwhile, and
    reaches the API once the name resolves, without a restart."""
    name = "backend.mbhealth.svc.cluster.local"
    port = backend.server.server_address[1]
    server = start_nginx(frontend_dist, f"http://{name}:{port}", nginx_bin, resolver=dns_server.address)
    try:
        assert server.get("/health").status == 200
        assert server.get("/").status == 200
        assert server.get("/api/v1/echo-before").status == 502
        assert f"{name} could not be resolved" in server.error_log()

        dns_server.add(name, "127.0.0.1")
        deadline = time.monotonic() + 20  # a failed lookup is retried after at most `valid=10s`
        while (status := server.get("/api/v1/echo-after").status) == 502 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert status == 200, server.error_log()
        backend.find("/api/v1/echo-after")
        assert not [r for r in backend.requests if r.path == "/api/v1/echo-before"]
        assert server.proc.poll() is None, "nginx restarted"
    finally:
        server.cleanup()


@pytest.mark.services
def test_a_name_in_etc_hosts_is_taken_from_there_as_the_system_resolver_would(
        nginx_bin: str, frontend_dist: Path, backend: BackendStub, dns_server: DnsServer) -> None:
    """A pod's hostAliases or `docker run --add-host` write /etc/hosts, which nginx's resolver never
    reads: the entrypoint takes such a name's address from there (here `localhost`, which the DNS
    server does not know)."""
    port = backend.server.server_address[1]
    server = start_nginx(frontend_dist, f"http://localhost:{port}", nginx_bin, resolver=dns_server.address)
    try:
        assert 'default "http://127.0.0.1:' in (server.runtime_dir / "nginx.conf").read_text()
        assert server.get("/api/v1/from-etc-hosts").status == 200
        backend.find("/api/v1/from-etc-hosts")
    finally:
        server.cleanup()
