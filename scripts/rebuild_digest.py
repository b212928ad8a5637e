"""The stand-in image digest: exactly what pulumi-docker compares to decide whether a docker.Image rebuilds.

pulumi-docker 5.x docker.Image (provider/provider.go, read from its source): Check adds
`build.contextDigest` (hashContext: the Dockerfile under the name "Dockerfile" with mode 0, then every
context file after the ignore file: its path, its full Go file mode string and the sha256 of its
content, or of a symbolic link's resolved path), and Diff compares every input with the last
deploy's, except registry.username and registry.password. Any difference is an Update: a build and
a push. Synth's stand-in digest is a sha256 over the same, with each file's mode as a checkout gives it.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from pathlib import Path
from typing import Any, Mapping

from scripts.build_context import context_files, ignore_file_for

REPO_ROOT = Path(__file__).resolve().parent.parent
_CREDENTIALS = ("username", "password")


def json_digest(value: Any, length: int = 64) -> str:
    """sha256 (hex, the first `length` digits) of a value's JSON with sorted keys."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:length]


def go_file_mode(mode: int) -> str:
    """Go's fs.FileMode.String() for what a build context holds (the mode string pulumi-docker hashes)."""
    kind = "L" if stat.S_ISLNK(mode) else ""
    special = ("u" if mode & stat.S_ISUID else "") + ("g" if mode & stat.S_ISGID else "") + \
              ("t" if mode & stat.S_ISVTX else "")
    bits = "".join(c if mode & (1 << (8 - i)) else "-" for i, c in enumerate("rwxrwxrwx"))
    return (kind + special or "-") + bits


def checkout_mode(mode: int) -> str:
    """The mode a git checkout gives a file under umask 022 (what CI's runners check out with): git keeps
    only the owner's executable bit and whether it is a link, the umask decides the rest. pulumi-docker
    hashes the full mode, so group/other bits a laptop's umask 002 adds would rebuild images that
    nothing changed; the stand-ins hash this normal form (README "make synth", stand-in digests)."""
    if stat.S_ISLNK(mode):
        return go_file_mode(stat.S_IFLNK | 0o777)
    return go_file_mode(stat.S_IFREG | (0o755 if mode & stat.S_IXUSR else 0o644))


def _entry(path: Path, relative: str, mode: str, root: Path) -> bytes:
    """One file's record in the context digest, as pulumi-docker's hashPath writes it."""
    if mode.startswith("L"):
        resolved = Path(os.path.realpath(path))
        target = resolved.relative_to(root).as_posix() if resolved.is_relative_to(root) else resolved.as_posix()
        content = hashlib.sha256(target.encode()).digest()
    else:
        content = hashlib.sha256(path.read_bytes()).digest()
    return relative.encode() + mode.encode() + content + b"\0"


def context_digest(context: Path, dockerfile: Path, root: Path = REPO_ROOT) -> str:
    """pulumi-docker's `contextDigest` of a build, with each context file's mode in its checkout form."""
    accumulator = hashlib.sha256()
    accumulator.update(_entry(dockerfile, "Dockerfile", go_file_mode(0), root) if dockerfile.is_file()
                       else b"Dockerfile missing\0")
    if context.is_dir():
        for relative in context_files(context, ignore_file_for(context, dockerfile)):
            path = context / relative
            accumulator.update(_entry(path, relative, checkout_mode(path.lstat().st_mode), root))
    else:
        accumulator.update(b"context missing\0")
    return accumulator.hexdigest()


def mode_drift(build: Mapping[str, Any], root: Path = REPO_ROOT) -> list[str]:
    """Context files whose mode here is not the checkout form (`path: -rw-rw-r--`): pulumi-docker would
    hash these modes, so `pulumi up` from this tree would rebuild where the stand-ins show no change."""
    context, dockerfile = _build_paths(build, root)
    if not context.is_dir():
        return []
    drift = []
    for relative in context_files(context, ignore_file_for(context, dockerfile)):
        mode = (context / relative).lstat().st_mode
        if go_file_mode(mode) != checkout_mode(mode):
            drift.append(f"{(context / relative).relative_to(root).as_posix()}: {go_file_mode(mode)}")
    return drift


def _build_paths(build: Mapping[str, Any], root: Path) -> tuple[Path, Path]:
    """The context and the Dockerfile with pulumi-docker's defaults (`.`, `<context>/Dockerfile`)."""
    context = str(build.get("context") or ".")
    return root / context, root / str(build.get("dockerfile") or Path(context) / "Dockerfile")


def rebuild_inputs(inputs: Mapping[str, Any], root: Path = REPO_ROOT) -> dict[str, Any]:
    """Exactly what pulumi-docker compares to decide whether docker.Image rebuilds (and pushes): every
    input of the resource (image name, build settings with the cache settings and the builder version,
    registry server, skipPush, ...) with the build's `contextDigest`, and without the registry
    credentials, which its Diff skips. Inputs are wire names (`imageName`, `build.cacheFrom`)."""
    build = dict(inputs.get("build") or {})
    context, dockerfile = _build_paths(build, root)
    build.setdefault("context", ".")
    build.setdefault("dockerfile", (Path(str(build["context"])) / "Dockerfile").as_posix())
    build["contextDigest"] = context_digest(context, dockerfile, root)
    compared = {**inputs, "build": build}
    if isinstance(inputs.get("registry"), Mapping):
        compared["registry"] = {k: v for k, v in inputs["registry"].items() if k not in _CREDENTIALS}
    return compared


def rebuild_digest(inputs: Mapping[str, Any], root: Path = REPO_ROOT) -> str:
    """The stand-in image digest: sha256 over `rebuild_inputs` (a docker.Image's inputs, secrets revealed)."""
    return json_digest(rebuild_inputs(inputs, root))

