"""The build stages' cache images (`<repo>:buildcache-<stage>`, components/build_specs.py), kept
between runners: dev's registry in CI is a new kind cluster's, so the deploy copies them from
prod's registry into dev's before `pulumi up` (pulumi-docker's `cacheFrom` reads them there), and
after it pushes each stage of what it just built (every layer already in the engine's cache, so
nothing builds twice) and copies them back. `pip install` and `npm ci` then run only when their
inputs change, on any runner."""

from __future__ import annotations

from typing import Mapping

from components.build_specs import BACKEND_VARIANTS, IMAGE_BUILDS, ImageBuildSpec
from scripts.ci import registry
from scripts.ci.stack import PROJECT, stack_file
from scripts.ci.tools import REPO_ROOT, run


def specs(stack: str) -> dict[str, ImageBuildSpec]:
    variant = (stack_file(stack).get("config") or {}).get(f"{PROJECT}:backendVariant") or "slim"
    return {**IMAGE_BUILDS, "backend": BACKEND_VARIANTS[variant]}


def refs(stack: str, server: str) -> list[tuple[ImageBuildSpec, str, str]]:
    """(spec, stage, cache image in `server`) for every stage of every image `stack` builds."""
    return [(spec, stage, ref) for name, spec in specs(stack).items()
            for stage, ref in zip(spec.stages, spec.cache_refs(f"{server}/{PROJECT}/{name}"))]


def seed(stack: str, server: str, keep: str, env: Mapping[str, str]) -> int:
    """Copy the kept cache images into `server`; how many there were (none on a first run)."""
    kept = {ref: theirs for (_, _, ref), (_, _, theirs) in zip(refs(stack, server), refs(stack, keep))}
    return sum(registry.copy(theirs, ours, env, check=False) for ours, theirs in kept.items())


def save(stack: str, server: str, keep: str, tag: str, env: Mapping[str, str]) -> None:
    """Push each stage of the build just made as its cache image, and keep it in `keep`."""
    build_env = {**env, "DOCKER_BUILDKIT": "1"}
    for (spec, stage, ref), (_, _, theirs) in zip(refs(stack, server), refs(stack, keep)):
        args = [f"--build-arg={k}={v}" for k, v in {**spec.build_args(tag), "BUILDKIT_INLINE_CACHE": "1"}.items()]
        run(["docker", "build", "--target", stage, *args, "--file", str(REPO_ROOT / spec.dockerfile),
             "--tag", ref, str(REPO_ROOT / spec.context)], env=build_env)
        run(["docker", "push", ref], env=build_env)
        registry.copy(ref, theirs, env)
