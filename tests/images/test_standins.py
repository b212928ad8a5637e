"""The offline stand-in base images: labelled, local-only, laid out like the real ones."""

from __future__ import annotations

from pathlib import Path

import docker_client
import forge_bases
import pytest
from docker_client import docker, image_inspect

REAL = {s.stands_for: s for s in forge_bases.STANDINS}
DISTROLESS = "gcr.io/distroless/python3-debian12"


def _run(ref: str, *command: str, entrypoint: str | None = None, extra: tuple[str, ...] = ()) -> str:
    args = ["run", "--rm", "--network", "host", *extra]
    if entrypoint is not None:
        args += ["--entrypoint", entrypoint]
    return docker(*args, ref, *command).stdout


@pytest.mark.parametrize("real", sorted(REAL))
def test_standin_is_labelled_and_only_in_the_local_registry(standins, real) -> None:
    ref = standins[real]
    assert ref.startswith(f"{docker_client.REGISTRY}/standin/") and "@sha256:" in ref
    assert docker_client.registry_has(ref)
    labels = image_inspect(ref)["Config"]["Labels"]
    assert labels["org.mbhealth.standin"] == "true"
    assert labels["org.mbhealth.standin.for"] == real
    assert labels["org.mbhealth.standin.key"] == forge_bases.recipe_key()


def test_forge_is_cached(standins) -> None:
    import time

    started = time.monotonic()
    assert forge_bases.forge() == standins
    assert time.monotonic() - started < 10


def test_python_standin(standins) -> None:
    ref = standins["python:3.11-slim"]
    out = _run(ref, "sh", "-c", "python --version; pip --version; python -m venv /tmp/v && /tmp/v/bin/pip --version;"
               " echo PIP_CERT=$PIP_CERT")
    assert "Python 3.11." in out
    assert out.count("pip ") >= 2
    assert "PIP_CERT=/etc/ssl/certs/ca-certificates.crt" in out


def test_standins_trust_the_host_ca_bundle(standins) -> None:
    host_bundle = Path(forge_bases.HOST_CA_BUNDLE).read_text()
    first_host_cert = host_bundle[host_bundle.index("-----BEGIN CERTIFICATE-----"):].split("-----END CERTIFICATE-----")[0]
    for real in sorted(REAL):
        if real == DISTROLESS:  # no `cat` there: its python reads the file
            bundle = _run(standins[real], "-c", "print(open('/etc/ssl/certs/ca-certificates.crt').read())")
        else:
            bundle = _run(standins[real], "cat", "/etc/ssl/certs/ca-certificates.crt", entrypoint="")
        assert first_host_cert in bundle, real


def test_nginx_standin_is_laid_out_like_the_official_image(standins, tmp_path: Path) -> None:
    ref = standins["nginx:1.25-alpine"]
    config = image_inspect(ref)["Config"]
    assert config["Cmd"] == ["nginx", "-g", "daemon off;"]
    assert config["Entrypoint"] == ["/docker-entrypoint.sh"]
    assert config["StopSignal"] == "SIGQUIT"
    out = _run(ref, "/bin/sh", "-c",
               "id nginx; test -d /etc/nginx/conf.d && test -f /etc/nginx/mime.types"
               " && test -f /usr/share/nginx/html/index.html && command -v envsubst && command -v wget && echo layout-ok",
               entrypoint="")
    assert "uid=101(nginx) gid=101(nginx)" in out and "layout-ok" in out
    # Alpine-like: a busybox userland, no bash, apt, dpkg or coreutils.
    out = _run(ref, "/bin/sh", "-c", "readlink -f /bin/sh; for c in bash apt dpkg ls wget awk sort find; do"
               " printf '%s=%s\\n' $c \"$(readlink -f \"$(command -v $c)\" 2>/dev/null)\"; done", entrypoint="")
    found = dict(line.split("=", 1) for line in out.splitlines()[1:])
    assert out.splitlines()[0] == "/usr/bin/busybox", out
    assert found["bash"] == found["apt"] == found["dpkg"] == "", found
    assert {found[c] for c in ("ls", "wget", "awk", "sort", "find")} == {"/usr/bin/busybox"}, found
    # The entrypoint renders /etc/nginx/templates/*.template with the env, like the official one.
    (tmp_path / "port.conf.template").write_text("server { listen 127.0.0.1:${TEST_PORT}; }\n")
    tmp_path.chmod(0o755)
    (tmp_path / "port.conf.template").chmod(0o644)
    out = _run(ref, "nginx", "-T", extra=("-e", "TEST_PORT=18081", "-v", f"{tmp_path}:/etc/nginx/templates:ro"))
    assert "listen 127.0.0.1:18081;" in out


def test_python_full_standin_has_the_build_toolchain(standins) -> None:
    # python:3.11 (not slim) is buildpack-deps: compilers, headers, VCS clients.
    ref = standins["python:3.11"]
    out = _run(ref, "sh", "-c", "python --version; python -m venv /tmp/v && /tmp/v/bin/pip --version >/dev/null"
               " && echo venv-ok; gcc --version | head -n1; git --version; make --version | head -n1;"
               " pg_config --version; test -f \"$(python3-config --includes | sed 's/^-I//; s/ .*//')/Python.h\""
               " && echo headers-ok")
    assert "Python 3.11." in out and "venv-ok" in out and "headers-ok" in out, out
    assert "gcc" in out and "git version" in out and "GNU Make" in out and "PostgreSQL" in out, out
    labels = image_inspect(ref)["Config"]["Labels"]
    assert labels["org.mbhealth.standin.for"] == "python:3.11"


def test_node_standin(standins) -> None:
    ref = standins["node:20-alpine"]
    out = _run(ref, "sh", "-c", "node --version; npm --version; npx --version; echo $NODE_EXTRA_CA_CERTS; id node")
    lines = out.split()
    assert lines[0].startswith("v20.")
    assert "/etc/ssl/certs/ca-certificates.crt" in out and "uid=1000(node)" in out
    # The official entrypoint contract: a leading flag runs node.
    assert _run(ref, "-e", "console.log(1 + 1)").strip() == "2"


def test_debian_standin_builds_a_venv_against_usr_bin_python311(standins) -> None:
    ref = standins["debian:12-slim"]
    out = _run(ref, "sh", "-c", ". /etc/os-release && echo $VERSION_ID; echo PIP_CERT=$PIP_CERT; "
               "test -e /usr/bin/python3.11 && echo has-python || echo no-python")
    assert out.split()[0] == "12" and "PIP_CERT=/etc/ssl/certs/ca-certificates.crt" in out
    assert "no-python" in out  # like debian:12-slim: the Dockerfile installs python3-venv itself


def test_distroless_standin_is_shell_less_like_the_real_one(standins) -> None:
    ref = standins[DISTROLESS]
    config = image_inspect(ref)["Config"]
    assert config["Entrypoint"] == ["/usr/bin/python3.11"]
    assert not config.get("User") or config["User"] in ("0", "root")
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["SSL_CERT_FILE"] == "/etc/ssl/certs/ca-certificates.crt" and env["LANG"] == "C.UTF-8"
    for missing in ("sh", "bash", "cat", "ls"):
        proc = docker("run", "--rm", "--network", "host", "--entrypoint", missing, ref, check=False)
        assert proc.returncode != 0 and "executable file not found" in proc.stderr, missing
    script = (
        "import os, pwd, ssl, sqlite3, ctypes, uuid, zlib, lzma, bz2, readline, sys;"
        "print(sys.version_info[:2], os.readlink('/usr/bin/python3'), pwd.getpwnam('nonroot').pw_uid,"
        " oct(os.stat('/tmp').st_mode & 0o7777), sorted(os.listdir('/usr/bin')),"
        " os.path.exists('/var/lib/dpkg/status.d/python3.11-minimal'), os.path.exists('/usr/bin/apt'))"
    )
    out = _run(ref, "-c", script)
    assert out.strip() == (
        "(3, 11) python3.11 65532 0o1777 ['python', 'python3', 'python3.11'] True False"
    ), out
