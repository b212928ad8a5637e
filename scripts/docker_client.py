"""The Docker client and the local registry, as the image builds use them.

Every image build of the project goes through `/usr/bin/docker` (Debian's client: BuildKit
works without the buildx plugin) against the engine DOCKER_HOST names, or the project's
private engine (tools/machine/docker-engine.sh) when DOCKER_HOST is unset and its socket exists,
and pushes to the registry MBH_REGISTRY names (default `localhost:5000`).

Library: `docker(*args)`, `docker_env()`, `engine_problem()`, `registry_problem()`,
`registry_has(ref)`, `image_inspect(ref)`, `push(ref)`, `repo_digest(ref)`; used by
build_images.py, trivy_offline.py, the stand-in forge and the image suites.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import urllib.request
from collections.abc import Mapping
from pathlib import Path

DOCKER = "/usr/bin/docker"  # Debian's client: BuildKit works without the buildx plugin
DEFAULT_SOCKET = "/run/mbhealth-docker.sock"  # tools/machine/docker-engine.sh's engine
REGISTRY = os.environ.get("MBH_REGISTRY", "localhost:5000")


def docker_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment for /usr/bin/docker: BuildKit on, DOCKER_HOST at our engine when unset."""
    env = dict(os.environ)
    env["DOCKER_BUILDKIT"] = "1"
    if not env.get("DOCKER_HOST") and Path(DEFAULT_SOCKET).is_socket():
        env["DOCKER_HOST"] = f"unix://{DEFAULT_SOCKET}"
    env.update(extra or {})
    return env


def docker(
    *args: str,
    check: bool = True,
    capture: bool = True,
    input: bytes | str | None = None,
    timeout: float | None = None,
    stdin=None,
) -> subprocess.CompletedProcess:
    """Run /usr/bin/docker; raise with its stderr on failure when check=True."""
    text = not isinstance(input, bytes)
    proc = subprocess.run(
        [DOCKER, *args],
        env=docker_env(),
        input=input,
        stdin=stdin,
        capture_output=capture,
        text=text,
        timeout=timeout,
    )
    if check and proc.returncode != 0:
        err = proc.stderr if capture else ""
        if isinstance(err, bytes):
            err = err.decode(errors="replace")
        raise DockerError(f"docker {' '.join(args[:3])} ... failed ({proc.returncode}): {(err or '').strip()[-4000:]}")
    return proc


class DockerError(RuntimeError):
    pass


def engine_problem() -> str | None:
    """None when a Docker engine answers through /usr/bin/docker; else a one-line reason."""
    if not os.access(DOCKER, os.X_OK):
        return f"{DOCKER} not installed (run: sudo bash tools/machine/system-deps.sh images)"
    try:
        proc = docker("version", "--format", "{{.Server.Version}}", check=False, timeout=15)
    except subprocess.TimeoutExpired:
        return "the Docker engine did not answer within 15s"
    if proc.returncode != 0:
        host = docker_env().get("DOCKER_HOST", "unix:///var/run/docker.sock")
        return f"no Docker engine answers at {host} (start one: sudo tools/machine/docker-engine.sh start)"
    return None


def registry_problem(registry: str = REGISTRY) -> str | None:
    url = f"http://{registry}/v2/"
    try:
        with _no_proxy_opener().open(url, timeout=5) as resp:
            if resp.status == 200:
                return None
            return f"registry {url} answered HTTP {resp.status}"
    except Exception as exc:  # noqa: BLE001 - any failure is "not reachable"
        return f"no registry answers at {url} ({exc.__class__.__name__}); start it: sudo tools/machine/docker-engine.sh start"


def _no_proxy_opener() -> urllib.request.OpenerDirector:
    return urllib.request.build_opener(urllib.request.ProxyHandler({}))


def registry_has(ref: str) -> bool:
    """True when the registry serves a manifest for `registry/repo:tag` or `repo@digest`."""
    registry, _, rest = ref.partition("/")
    if "@" in rest:
        repo, _, reference = rest.partition("@")
    else:
        repo, _, reference = rest.rpartition(":")
    req = urllib.request.Request(
        f"http://{registry}/v2/{repo}/manifests/{reference}",
        method="HEAD",
        headers={
            "Accept": ", ".join(
                (
                    "application/vnd.docker.distribution.manifest.v2+json",
                    "application/vnd.docker.distribution.manifest.list.v2+json",
                    "application/vnd.oci.image.manifest.v1+json",
                    "application/vnd.oci.image.index.v1+json",
                )
            )
        },
    )
    try:
        with _no_proxy_opener().open(req, timeout=5) as resp:
            return resp.status == 200
    except Exception:  # noqa: BLE001
        return False


def image_inspect(ref: str) -> dict | None:
    proc = docker("image", "inspect", ref, check=False)
    if proc.returncode != 0:
        return None
    return json.loads(proc.stdout)[0]


def push(ref: str) -> str:
    """Push a tag to the local registry; return its `repo@sha256:...` from the registry."""
    repo = ref.rsplit(":", 1)[0] if ":" in ref.rsplit("/", 1)[-1] else ref
    proc = docker("push", ref)
    match = re.search(r"digest: (sha256:[0-9a-f]{64})", proc.stdout)
    if not match:
        raise DockerError(f"docker push {ref}: no digest in output:\n{proc.stdout[-2000:]}")
    return f"{repo}@{match.group(1)}"


def repo_digest(ref: str) -> str | None:
    """The local image's RepoDigest in the same repository as `ref`, if it was pushed/pulled."""
    info = image_inspect(ref)
    if not info:
        return None
    repo = ref.rsplit(":", 1)[0] if ":" in ref.rsplit("/", 1)[-1] else ref.split("@")[0]
    for digest_ref in info.get("RepoDigests") or []:
        if digest_ref.split("@")[0] == repo:
            return digest_ref
    return None
