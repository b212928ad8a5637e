"""The image's entrypoint: refuses bad settings before nginx starts, renders a valid config."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.build_specs import APP_GID, APP_UID

from .conftest import missing
from .harness import ENTRYPOINT, TEMPLATE, entrypoint_env, find_nginx, free_port, readable_copies, run_as_app_user


@pytest.fixture
def scratch() -> Iterator[Path]:
    base = Path(tempfile.mkdtemp(prefix="mbh-frontend-entrypoint-"))
    os.chmod(base, 0o777)
    yield base
    shutil.rmtree(base, ignore_errors=True)


def run_entrypoint(scratch: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    values = {
        "NGINX_LISTEN": "127.0.0.1:1",
        "NGINX_ROOT": str(scratch),
        "NGINX_RUNTIME_DIR": str(scratch / "run"),
        "NGINX_TEMPLATE": str(TEMPLATE),
        **env,
    }
    values = {k: v for k, v in values.items() if v != "<unset>"}
    return subprocess.run(
        ["sh", str(ENTRYPOINT), *args],
        env=entrypoint_env(find_nginx() or "/usr/sbin/nginx", **values),
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"BACKEND_URL": "<unset>"}, "BACKEND_URL is not set"),
        ({"BACKEND_URL": ""}, "BACKEND_URL is not set"),
        ({"BACKEND_URL": "backend:8000"}, "BACKEND_URL must start with http:// or https://"),
        ({"BACKEND_URL": "http://backend:8000/api"}, "BACKEND_URL must be scheme://host[:port] without a path"),
        ({"BACKEND_URL": "http://backend:8000;return 200"}, "BACKEND_URL is empty or contains"),
        ({"BACKEND_URL": "http://backend:8000", "NGINX_ROOT": "html"}, "NGINX_ROOT must be an absolute path"),
        ({"BACKEND_URL": "http://backend:8000", "NGINX_LISTEN": "8080 default_server"}, "NGINX_LISTEN is empty"),
        ({"BACKEND_URL": "http://backend:8000", "NGINX_RESOLVER": "10.96.0.10; return 200"},
         "NGINX_RESOLVER must be DNS servers as address[:port]"),
        ({"BACKEND_URL": "http://backend:8000", "NGINX_RESOLVER": "fd00::a"}, "NGINX_RESOLVER must be DNS servers"),
    ],
)
def test_bad_settings_stop_start_up_naming_the_variable(scratch: Path, env: dict[str, str], message: str) -> None:
    result = run_entrypoint(scratch, **env)
    assert result.returncode == 64, result
    assert message in result.stderr
    assert not (scratch / "run").exists(), "nothing may be rendered from a refused setting"


@pytest.mark.services
def test_renders_a_config_nginx_accepts(scratch: Path, nginx_bin: str) -> None:
    """`frontend-entrypoint -t` (args go to nginx): the rendered config passes `nginx -t`."""
    render_and_test(scratch, nginx_bin, ENTRYPOINT, TEMPLATE)


@pytest.mark.services
def test_runs_as_the_image_user_from_a_private_checkout(scratch: Path, nginx_bin: str) -> None:
    """A fresh clone in a mode-0700 directory (`mktemp -d`): uid 10001 cannot read the checkout,
    so the test runs copies it can read."""
    private = Path(tempfile.mkdtemp(prefix="mbh-private-checkout-"))
    try:
        assert private.stat().st_mode & 0o777 == 0o700
        checkout_nginx = private / "apps" / "frontend" / "nginx"
        shutil.copytree(ENTRYPOINT.parent, checkout_nginx)
        render_and_test(scratch, nginx_bin, checkout_nginx / ENTRYPOINT.name, checkout_nginx / TEMPLATE.name)
    finally:
        shutil.rmtree(private, ignore_errors=True)


def render_and_test(scratch: Path, nginx_bin: str, entrypoint_file: Path, template_file: Path) -> None:
    entrypoint, template = readable_copies(scratch, entrypoint_file, template_file)
    port = free_port()  # `nginx -t` binds the listen address too
    out, err = scratch / "stdout.log", scratch / "stderr.log"
    out.touch()
    err.touch()
    if os.geteuid() == 0:
        # nginx reopens /dev/stdout for its access log. A container runtime hands PID 1
        # stdio owned by the container user (runc chowns it); here files play that part.
        for path in (scratch, out, err):
            os.chown(path, APP_UID, APP_GID)
    with out.open("ab") as stdout, err.open("ab") as stderr:
        result = subprocess.run(
            ["sh", str(entrypoint), "-t"],
            env=entrypoint_env(
                nginx_bin,
                BACKEND_URL="http://127.0.0.1:8000/",
                NGINX_ROOT=str(scratch),
                NGINX_RUNTIME_DIR=str(scratch / "run"),
                NGINX_TEMPLATE=str(template),
                NGINX_LISTEN=f"127.0.0.1:{port}",
            ),
            cwd=scratch,
            stdout=stdout,
            stderr=stderr,
            timeout=30,
            **run_as_app_user(),
        )
    log = err.read_text()
    assert result.returncode == 0, log
    assert "test is successful" in log
    rendered = (scratch / "run" / "nginx.conf").read_text()
    # The trailing slash is dropped: proxy_pass with a URI part would rewrite /api/ paths.
    assert 'default "http://127.0.0.1:8000";' in rendered
    assert "proxy_pass $mbh_backend;" in rendered
    # No NGINX_RESOLVER: the nameservers of /etc/resolv.conf (in a pod, the cluster DNS the kubelet writes).
    assert f"resolver {' '.join(resolv_conf_nameservers())} valid=10s;" in rendered
    assert f"listen 127.0.0.1:{port} default_server;" in rendered


def test_defaults_match_the_image(scratch: Path) -> None:
    """The defaults the image relies on are written in the script, not only in docs."""
    text = ENTRYPOINT.read_text()
    assert "NGINX_LISTEN=${NGINX_LISTEN:-8080}" in text
    assert "NGINX_RUNTIME_DIR=${NGINX_RUNTIME_DIR:-/tmp/nginx}" in text
    assert "NGINX_ROOT=${NGINX_ROOT:-/usr/share/nginx/html}" in text
    assert os.access(ENTRYPOINT, os.X_OK), "the image copies the script with its mode: keep it executable"


def test_entrypoint_passes_shellcheck() -> None:
    """POSIX sh only: the alpine base runs it with busybox ash, a Debian base with dash."""
    shellcheck = shutil.which("shellcheck", path=str(Path(sys.executable).parent)) or shutil.which("shellcheck")
    if shellcheck is None:
        missing("shellcheck not installed (pip install -r requirements-dev.txt)")
    assert shellcheck is not None
    result = subprocess.run(
        [shellcheck, "--shell=sh", "--severity=style", str(ENTRYPOINT)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def resolv_conf_nameservers() -> list[str]:
    servers = [fields[1] for line in Path("/etc/resolv.conf").read_text().splitlines()
               if len(fields := line.split()) >= 2 and fields[0] == "nameserver" and "%" not in fields[1]]
    assert servers, "this machine's /etc/resolv.conf names no nameserver"
    return [f"[{server}]" if ":" in server else server for server in servers]
