#!/usr/bin/env python3
"""Forge offline stand-ins for the Dockerfiles' base images and push them to the local registry.

No public registry can be reached on these machines, so `python:3.11-slim`, `python:3.11`,
`node:20-alpine`, `nginx:1.25-alpine`, `debian:12-slim` and
`gcr.io/distroless/python3-debian12` are replaced by look-alikes built from Debian packages:

1. one `debootstrap --variant=minbase bookworm` root filesystem (cached as a tarball
   under MBH_BASES_CACHE, default /var/cache/mbhealth-bases, keyed by its recipe),
2. `docker import`ed as `localhost:5000/standin/debian:bookworm-slim`,
3. the stand-ins built on it with BuildKit (`--network host`, apt through the Debian
   mirror apt is configured with; apt lists and .debs in BuildKit cache mounts), each
   labelled `org.mbhealth.standin=true`, tagged `localhost:5000/standin/<name>:<tag>`
   and pushed to the local registry only. Stand-ins never leave the machine.
   The distroless one is shell-less: the files of the Debian packages distroless is made
   of (base, cc, python3), laid out in a scratch image without dpkg, apt, a shell or
   coreutils; its ENTRYPOINT is /usr/bin/python3.11 like the real one's. The nginx one is
   alpine-like the same way: nginx, envsubst and a busybox userland, no dpkg, apt or bash.
   `python:3.11` (the full image) is buildpack-deps:bookworm's package lists plus CPython.

Every stand-in carries the host's CA bundle (the TLS-intercepting proxy's CA) so
`pip install` / `npm ci` inside builds reach PyPI and the npm registry.

The forge in modules: forge_bases.py (this file: the stand-ins, the Debian image, the builds and
the CLI), standin_rootfs.py (1.), standin_dockerfile.py and standin_context_files.py (the recipe
of 3.), standin_context.py (the build context they make), forge_machine.py (the cache, the host's
CA bundle and Debian mirror, the log).

A second run with an unchanged recipe reuses the images (a few docker inspects).

Usage:  tools/standins/forge_bases.py [--force] [--no-push] [--json]
Library: `forge()` -> {real base image ref: stand-in ref}; `STANDINS`, `recipe_key()`.
The Docker client helpers it builds and pushes with are docker_client.py's.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT / "scripts") not in sys.path:
    sys.path.insert(0, str(REPO_ROOT / "scripts"))

from docker_client import (  # noqa: E402
    REGISTRY,
    docker,
    engine_problem,
    image_inspect,
    push,
    registry_has,
    registry_problem,
    repo_digest,
)

import forge_machine  # noqa: E402
import standin_context  # noqa: E402
import standin_context_files  # noqa: E402
import standin_dockerfile  # noqa: E402
import standin_rootfs  # noqa: E402
from forge_machine import HOST_CA_BUNDLE, ForgeError, forge_lock, log  # noqa: E402
from standin_context import prepare_context  # noqa: E402
from standin_rootfs import SUITE, ensure_rootfs, rootfs_key, rootfs_recipe  # noqa: E402

STANDIN_LABEL = "org.mbhealth.standin"


@dataclass(frozen=True)
class Standin:
    stands_for: str  # the real image ref a Dockerfile defaults to
    repo: str  # stand-in repository in the local registry
    target: str  # stage in standin_dockerfile.FORGE_DOCKERFILE
    tag: str | None = None  # default: the real ref's tag

    def ref(self, registry: str = REGISTRY) -> str:
        tag = self.tag or self.stands_for.split(":", 1)[1]
        return f"{registry}/{self.repo}:{tag}"


STANDINS: tuple[Standin, ...] = (
    Standin("python:3.11-slim", "standin/python", "python"),
    # The backend's development target: the full image (compilers, headers, VCS tools).
    Standin("python:3.11", "standin/python", "python-full", tag="3.11"),
    Standin("nginx:1.25-alpine", "standin/nginx", "nginx"),
    Standin("node:20-alpine", "standin/node", "node"),
    # The backend's distroless variant: its builder stage and its (shell-less) base.
    Standin("debian:12-slim", "standin/debian", "debian-slim"),
    Standin("gcr.io/distroless/python3-debian12", "standin/distroless-python3", "distroless-python", tag="debian12"),
)
DEBIAN_REPO = "standin/debian"
DEBIAN_TAG = f"{SUITE}-slim"


# Everything the stand-ins are made from is in these modules' text (the recipes, the pinned node/npm
# versions, the build commands): a change to any of them is a new recipe key.
FORGE_MODULES: tuple[Path, ...] = (Path(__file__), *(
    Path(module.__file__)
    for module in (forge_machine, standin_rootfs, standin_dockerfile, standin_context_files, standin_context)
))


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def recipe_key() -> str:
    """Key of the whole forge: its modules (FORGE_MODULES), the rootfs recipe, the CA bundle."""
    digest = hashlib.sha256()
    for path in FORGE_MODULES:
        digest.update(path.read_bytes())
    digest.update(rootfs_recipe().encode())
    if HOST_CA_BUNDLE.exists():
        digest.update(_sha256_file(HOST_CA_BUNDLE).encode())
    return digest.hexdigest()[:16]


def ensure_debian_image(key: str, force: bool = False) -> str:
    """`docker import` the rootfs tarball as the shared Debian base of every stand-in."""
    ref = f"{REGISTRY}/{DEBIAN_REPO}:{DEBIAN_TAG}"
    info = image_inspect(ref)
    rootfs_id = rootfs_key()
    if info and (info["Config"].get("Labels") or {}).get(f"{STANDIN_LABEL}.rootfs") == rootfs_id and not force:
        return ref
    tarball = ensure_rootfs(force=force)
    log(f"docker import {tarball.name} -> {ref}")
    changes = [
        "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "ENV LANG=C.UTF-8",
        'CMD ["bash"]',
        f"LABEL {STANDIN_LABEL}=true",
        f"LABEL {STANDIN_LABEL}.for=debian:{SUITE}-slim",
        f"LABEL {STANDIN_LABEL}.rootfs={rootfs_id}",
        f"LABEL {STANDIN_LABEL}.key={key}",
    ]
    args = ["import"]
    for change in changes:
        args += ["--change", change]
    with tarball.open("rb") as fh:
        docker(*args, "--message", f"debootstrap --variant=minbase {SUITE}", "-", ref, stdin=fh)
    return ref


def _standins_current(key: str, registry_check: bool) -> bool:
    for standin in STANDINS:
        info = image_inspect(standin.ref())
        if not info or (info["Config"].get("Labels") or {}).get(f"{STANDIN_LABEL}.key") != key:
            return False
        if registry_check and not registry_has(standin.ref()):
            return False
    return True


def forge(force: bool = False, push_images: bool = True) -> dict[str, str]:
    """Build (or reuse) every stand-in; return {real image ref: stand-in ref in the local registry}.

    The returned refs are `localhost:5000/standin/NAME@sha256:...` when pushed, so builds
    that use them are pinned to exactly what was forged.
    """
    problem = engine_problem()
    if problem:
        raise ForgeError(f"{problem}")
    if push_images:
        problem = registry_problem()
        if problem:
            raise ForgeError(f"{problem}")
    with forge_lock():
        return _forge(force, push_images)


def _forge(force: bool, push_images: bool) -> dict[str, str]:
    key = recipe_key()
    started = time.monotonic()
    if force or not _standins_current(key, registry_check=push_images):
        base = ensure_debian_image(key, force=force)
        ctx = prepare_context(key)
        for standin in STANDINS:
            t0 = time.monotonic()
            log(f"building {standin.ref()} (stand-in for {standin.stands_for})")
            proc = docker(
                "build",
                "--network", "host",
                "--target", standin.target,
                "--build-arg", f"DEBIAN_IMAGE={base}",
                "--build-arg", f"STANDIN_RECIPE={key}",
                "--tag", standin.ref(),
                "--progress", "plain",
                str(ctx),
                check=False,
            )
            if proc.returncode != 0:
                raise ForgeError(f"building {standin.ref()} failed:\n{proc.stderr[-5000:]}")
            log(f"built {standin.ref()} in {time.monotonic() - t0:.0f}s")
        # Drop the stand-ins' superseded (now untagged) versions.
        docker("image", "prune", "--force", "--filter", f"label={STANDIN_LABEL}=true", check=False)
    else:
        log(f"stand-ins up to date (key {key})")
    result: dict[str, str] = {}
    for standin in STANDINS:
        ref = standin.ref()
        if push_images:
            digest = repo_digest(ref)
            if not digest or not registry_has(digest):
                digest = push(ref)
            result[standin.stands_for] = digest
        else:
            result[standin.stands_for] = ref
    log(f"done in {time.monotonic() - started:.1f}s")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="re-run debootstrap and rebuild every stand-in")
    parser.add_argument("--no-push", action="store_true", help="do not push to the local registry")
    parser.add_argument("--json", action="store_true", help="print {real ref: stand-in ref} as JSON")
    args = parser.parse_args(argv)
    try:
        refs = forge(force=args.force, push_images=not args.no_push)
    except ForgeError as exc:
        log(str(exc))
        return 1
    if args.json:
        print(json.dumps(refs, indent=2, sort_keys=True))
    else:
        for real, standin in refs.items():
            print(f"{real:22} -> {standin}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
