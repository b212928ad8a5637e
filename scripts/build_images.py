#!/usr/bin/env python3
"""Build every image from components/build_specs.py, push it to the local registry, print digests.

The build inputs (context, Dockerfile, target, build args) come only from
`components.build_specs` — the same spec the Pulumi image component reads. The base
images are the offline stand-ins of tools/standins/forge_bases.py (run as a command: `--json`
prints them), passed through the spec's own base-image build args
(`ImageBuildSpec.build_args(version, base_images=...)`), or with --real-bases the
Dockerfiles' own.

Besides each spec's deployed target, `EXTRA_TARGETS` names the Dockerfile targets the
image suite compares against it (the worker target must add no layers; the production
image must be much smaller than the development one).

An image with variants selectable per stack (`VARIANTS`: the backend's `slim` default and
`distroless`, `mbhealth:backendVariant`) builds the chosen variant's spec instead; extra
targets belong to the default variant only.

Usage:
  scripts/build_images.py [--version V] [--only NAME ...] [--backend-variant slim|distroless]
                          [--no-extra-targets] [--no-push] [--json]
Library:
  build(spec, version=..., standins=...) -> Built;  build_all(version) -> {key: Built}
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
for _path in (REPO_ROOT, REPO_ROOT / "scripts"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import docker_client
from docker_client import DOCKER, REGISTRY, DockerError, docker_env, image_inspect, push

from components.build_specs import BACKEND_VARIANTS, IMAGE_BUILDS, ImageBuildSpec, substitute_for

# Dockerfile targets built beside each spec's deployed target, for the suite's comparisons.
EXTRA_TARGETS: Mapping[str, tuple[str, ...]] = {
    "backend": ("worker", "development"),
    "frontend": ("development",),
}
# Images with variants selectable per stack: {image name: {variant: spec}} (build_specs' own maps).
VARIANTS: Mapping[str, Mapping[str, ImageBuildSpec]] = {"backend": BACKEND_VARIANTS}
DEFAULT_VERSION = os.environ.get("MBH_VERSION", "0.0.0-local")
REPO_PREFIX = "mbhealth"
VERSION_LABEL = "org.opencontainers.image.version"
# The machine's stand-in forge, run as a command (never imported: it is the machine's, not the product's).
FORGE = REPO_ROOT / "tools" / "standins" / "forge_bases.py"


class StandinsError(RuntimeError):
    """The stand-in base images could not be forged (the forge's own log says why)."""


class BuildError(RuntimeError):
    """A docker build failed; the message carries the end of BuildKit's plain log."""

    def __init__(self, key: str, command: Sequence[str], log: str):
        self.key, self.command, self.log = key, list(command), log
        tail = "\n".join(log.rstrip().splitlines()[-60:])
        super().__init__(f"docker build of {key} failed:\n  {' '.join(command)}\n{tail}")


@dataclass(frozen=True)
class Built:
    key: str  # "backend", "backend:worker", ...
    spec: ImageBuildSpec  # the spec, with `target` set to what was built
    version: str
    build_args: Mapping[str, str]
    tag: str  # localhost:5000/mbhealth/backend:0.0.0-local[-worker]
    image_id: str  # sha256:... (config digest)
    repo_digest: str | None  # localhost:5000/mbhealth/backend@sha256:... when pushed
    seconds: float  # wall time of `docker build`
    log: str  # BuildKit's plain progress output

    @property
    def ref(self) -> str:
        """The immutable reference to run: repo@digest when pushed, else the image id."""
        return self.repo_digest or self.image_id

    def inspect(self) -> dict:
        info = image_inspect(self.image_id)
        if info is None:
            raise DockerError(f"image {self.image_id} ({self.key}) is gone from the engine")
        return info


def forged_standins(push_images: bool = True) -> dict[str, str]:
    """{real base image ref: stand-in ref}: the forge's `--json` output (its log goes to stderr)."""
    argv = [sys.executable, str(FORGE), "--json", *(() if push_images else ("--no-push",))]
    proc = subprocess.run(argv, stdout=subprocess.PIPE, text=True)
    if proc.returncode != 0:
        raise StandinsError(f"the stand-in base images could not be forged ({FORGE.relative_to(REPO_ROOT)})")
    return json.loads(proc.stdout)


def standin_build_args(base_image_args: Mapping[str, str], standins: Mapping[str, str]) -> dict[str, str]:
    """Map a build spec's {ARG: real default image} to {ARG: stand-in ref}."""
    out = {}
    for arg, real in base_image_args.items():
        standin = substitute_for(real, standins)
        if standin is None:
            raise KeyError(f"no stand-in forged for base image {real!r} (build arg {arg}); known: {sorted(standins)}")
        out[arg] = standin
    return out


def image_key(spec: ImageBuildSpec, target: str | None = None) -> str:
    target = target or spec.target
    default = IMAGE_BUILDS.get(spec.name)
    return spec.name if default is not None and target == default.target else f"{spec.name}:{target}"


def image_tag(spec: ImageBuildSpec, version: str, target: str, registry: str = REGISTRY) -> str:
    safe_version = re.sub(r"[^A-Za-z0-9_.-]", "-", version)[:100]
    suffix = "" if image_key(spec, target) == spec.name else f"-{target}"
    return f"{registry}/{REPO_PREFIX}/{spec.name}:{safe_version}{suffix}"


def build_command(
    spec: ImageBuildSpec,
    *,
    version: str,
    standins: Mapping[str, str] | None,
    tag: str,
    iidfile: Path,
    root: Path = REPO_ROOT,
    no_cache: bool = False,
    extra_args: Iterable[str] = (),
) -> tuple[list[str], dict[str, str]]:
    """The `docker build` argv (without the docker binary) and the build args it passes."""
    base_images = (
        standin_build_args(spec.base_image_args, standins) if standins is not None else None
    )
    build_args = spec.build_args(version, base_images=base_images)
    argv = [
        "build",
        "--network", "host",
        "--progress", "plain",
        "--file", str(spec.dockerfile_path(root)),
        "--target", spec.target,
        "--tag", tag,
        "--iidfile", str(iidfile),
    ]
    for name, value in sorted(build_args.items()):
        argv += ["--build-arg", f"{name}={value}"]
    if no_cache:
        argv.append("--no-cache")
    argv += list(extra_args)
    argv.append(str(spec.context_path(root)))
    return argv, build_args


def build(
    spec: ImageBuildSpec,
    *,
    version: str = DEFAULT_VERSION,
    target: str | None = None,
    standins: Mapping[str, str] | None = None,
    push_image: bool = True,
    no_cache: bool = False,
    root: Path = REPO_ROOT,
    extra_args: Iterable[str] = (),
    registry: str = REGISTRY,
) -> Built:
    """Build one image (spec's target, or `target`) with BuildKit on the host network.

    `standins` maps each real base image ref to its stand-in (forged_standins());
    None keeps the Dockerfile's defaults (the real upstream images).
    """
    if target:
        spec = dataclasses.replace(spec, target=target)
    key = image_key(spec)
    tag = image_tag(spec, version, spec.target, registry)
    dockerfile = spec.dockerfile_path(root)
    if not dockerfile.is_file():
        raise BuildError(key, ["docker", "build", str(spec.context_path(root))], f"{dockerfile} does not exist")
    run_dir = root / "build" / "images"
    run_dir.mkdir(parents=True, exist_ok=True)
    iidfile = run_dir / f"{key.replace(':', '-')}.iid"
    iidfile.unlink(missing_ok=True)
    argv, build_args = build_command(
        spec, version=version, standins=standins, tag=tag, iidfile=iidfile,
        root=root, no_cache=no_cache, extra_args=extra_args,
    )
    started = time.monotonic()
    proc = subprocess.run(
        [DOCKER, *argv], env=docker_env(), capture_output=True, text=True, cwd=root,
    )
    seconds = time.monotonic() - started
    log = proc.stderr + proc.stdout
    if proc.returncode != 0:
        raise BuildError(key, [DOCKER, *argv], log)
    image_id = iidfile.read_text().strip()
    repo_digest = push(tag) if push_image else None
    return Built(
        key=key, spec=spec, version=version, build_args=build_args, tag=tag,
        image_id=image_id, repo_digest=repo_digest, seconds=seconds, log=log,
    )


def spec_for(name: str, variant: str | None = None) -> ImageBuildSpec:
    """The build spec of image `name`: its IMAGE_BUILDS entry, or the named variant's spec."""
    if variant is None:
        return IMAGE_BUILDS[name]
    variants = VARIANTS.get(name, {})
    if variant not in variants:
        raise KeyError(f"{name}: unknown variant {variant!r}; known: {sorted(variants)}")
    return variants[variant]


def targets_for(name: str, extra_targets: bool = True, variant: str | None = None) -> list[str]:
    spec = spec_for(name, variant)
    is_default = spec == IMAGE_BUILDS[name]
    return [spec.target, *(EXTRA_TARGETS.get(name, ()) if extra_targets and is_default else ())]


def build_all(
    version: str = DEFAULT_VERSION,
    *,
    standins: Mapping[str, str] | None = None,
    only: Iterable[str] | None = None,
    extra_targets: bool = True,
    push_image: bool = True,
    keep_going: bool = True,
    variants: Mapping[str, str] | None = None,
) -> tuple[dict[str, Built], dict[str, BuildError]]:
    """Build every spec in IMAGE_BUILDS (and its EXTRA_TARGETS); return (built, failed) by key.

    `variants` picks a variant per image name (e.g. {"backend": "distroless"}).
    """
    if standins is None:
        standins = forged_standins()
    built: dict[str, Built] = {}
    failed: dict[str, BuildError] = {}
    for name in only or IMAGE_BUILDS:
        variant = (variants or {}).get(name)
        spec = spec_for(name, variant)
        for target in targets_for(name, extra_targets, variant):
            try:
                result = build(spec, version=version, target=target, standins=standins, push_image=push_image)
                built[result.key] = result
            except BuildError as exc:
                failed[exc.key] = exc
                if not keep_going:
                    return built, failed
    return built, failed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", default=DEFAULT_VERSION, help="VERSION build arg (default %(default)s)")
    parser.add_argument("--only", action="append", choices=sorted(IMAGE_BUILDS), help="build only this image")
    parser.add_argument("--backend-variant", choices=sorted(BACKEND_VARIANTS),
                        help="the backend variant to build (default: IMAGE_BUILDS' backend, slim)")
    parser.add_argument("--no-extra-targets", action="store_true", help="only each spec's deployed target")
    parser.add_argument("--no-push", action="store_true", help="do not push to the local registry")
    parser.add_argument("--no-cache", action="store_true", help="build without the layer cache (cold build)")
    parser.add_argument("--real-bases", action="store_true", help="use the Dockerfiles' default base images")
    parser.add_argument("--json", action="store_true", help="print {key: {tag, digest, seconds}} as JSON")
    args = parser.parse_args(argv)
    problem = docker_client.engine_problem()
    if problem:
        print(f"build-images: {problem}", file=sys.stderr)
        return 2
    try:
        standins = None if args.real_bases else forged_standins(push_images=True)
    except StandinsError as exc:
        print(f"build-images: {exc}", file=sys.stderr)
        return 1
    built: dict[str, Built] = {}
    failed: dict[str, BuildError] = {}
    variants = {"backend": args.backend_variant} if args.backend_variant else {}
    for name in args.only or IMAGE_BUILDS:
        variant = variants.get(name)
        for target in targets_for(name, not args.no_extra_targets, variant):
            spec = spec_for(name, variant)
            print(f"build-images: building {image_key(dataclasses.replace(spec, target=target))} ...",
                  file=sys.stderr, flush=True)
            try:
                result = build(
                    spec, version=args.version, target=target,
                    standins=standins,
                    push_image=not args.no_push,
                    no_cache=args.no_cache,
                )
            except BuildError as exc:
                failed[exc.key] = exc
                print(f"build-images: {exc}", file=sys.stderr)
                continue
            built[result.key] = result
            print(f"build-images: {result.key}: {result.repo_digest or result.image_id} "
                  f"({result.seconds:.1f}s)", file=sys.stderr, flush=True)
    if args.json:
        print(json.dumps(
            {k: {"tag": b.tag, "digest": b.repo_digest, "image_id": b.image_id, "seconds": round(b.seconds, 2)}
             for k, b in built.items()},
            indent=2,
        ))
    else:
        for key, result in built.items():
            print(f"{key:22} {result.repo_digest or result.image_id}")
    if failed:
        print(f"build-images: FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
