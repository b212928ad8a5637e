"""Build times: cold builds, `--no-cache` builds and rebuilds after a one-line change, over several runs."""

from __future__ import annotations

import secrets
import shutil
import statistics
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import build_images
from docker_client import docker

from bench.images.buildkit_log import dependency_steps, parse_steps, short_step
from components.build_specs import IMAGE_BUILDS, ImageBuildSpec

VERSION = "0.0.0-bench"


# The one-line code change of a rebuild: (file in the context, line appended). {marker} is
# unique per run, so a rebuild never hits the cache of an earlier one.
CODE_CHANGE: Mapping[str, tuple[str, str]] = {
    "backend": ("mbhealth/__init__.py", '_BENCH_MARKER = "{marker}"'),
    "frontend": ("src/main.tsx", "console.debug('bench {marker}');"),
}
# Not part of any build context (.dockerignore), and large: not copied for the rebuild.
COPY_IGNORE = shutil.ignore_patterns("node_modules", "dist", "__pycache__", ".vite", "coverage")


def log(msg: str) -> None:
    print(f"bench-images: {msg}", file=sys.stderr, flush=True)


@dataclass
class Series:
    values: list[float] = field(default_factory=list)

    def add(self, value: float) -> None:
        self.values.append(value)

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    def cell(self, fmt: str = "{:.2f}") -> str:
        return f"{fmt.format(self.median)} ({fmt.format(min(self.values))}–{fmt.format(max(self.values))})"


@dataclass
class BuildTimes:
    cold: Series = field(default_factory=Series)  # empty build cache (fresh runner)
    nocache: Series = field(default_factory=Series)  # --no-cache, download caches warm
    rebuild: Series = field(default_factory=Series)
    ratio: Series = field(default_factory=Series)  # rebuild / cold
    nocache_ratio: Series = field(default_factory=Series)  # rebuild / nocache
    cold_steps: dict[str, Series] = field(default_factory=dict)
    rebuild_steps: dict[str, Series] = field(default_factory=dict)
    rebuild_cached: dict[str, int] = field(default_factory=dict)
    dependency_cached: list[str] = field(default_factory=list)


def changed_copy(spec: ImageBuildSpec, root: Path, marker: str) -> Path:
    """Copy the spec's context (and Dockerfile) under `root`, then add one line of code there."""
    context = spec.context_path(root)
    shutil.copytree(spec.context_path(), context, symlinks=True, ignore=COPY_IGNORE)
    dockerfile = spec.dockerfile_path(root)
    if not dockerfile.exists():
        dockerfile.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(spec.dockerfile_path(), dockerfile)
    rel, line = CODE_CHANGE[spec.name]
    target = context / rel
    if not target.is_file():
        raise SystemExit(f"bench-images: {spec.context}/{rel} (the file a rebuild changes) does not exist")
    text = target.read_text()
    target.write_text(text + ("" if text.endswith("\n") else "\n") + line.format(marker=marker) + "\n")
    return root


def empty_build_cache() -> None:
    """No layer cache and no cache mounts (pip/npm downloads): the engine as a fresh runner has it."""
    docker("builder", "prune", "--all", "--force")


def bench_builds(standins: Mapping[str, str], runs: int) -> dict[str, BuildTimes]:
    results = {name: BuildTimes() for name in IMAGE_BUILDS}
    for run in range(1, runs + 1):
        for name, spec in IMAGE_BUILDS.items():
            times = results[name]
            empty_build_cache()
            cold = build_images.build(spec, version=VERSION, standins=standins, push_image=False, no_cache=True)
            nocache = build_images.build(spec, version=VERSION, standins=standins, push_image=False, no_cache=True)
            with tempfile.TemporaryDirectory(prefix="mbh-bench-") as tmp:
                root = changed_copy(spec, Path(tmp), marker=f"{run}-{secrets.token_hex(4)}")
                rebuild = build_images.build(spec, version=VERSION, standins=standins, push_image=False, root=root)
            deps = dependency_steps(parse_steps(rebuild.log))
            if not deps or not all(s.cached for s in deps):
                raise SystemExit(
                    f"bench-images: the {name} rebuild re-ran its dependency steps "
                    f"({[s.name for s in deps if not s.cached] or 'none found'}): no layer cache?\n"
                    + rebuild.log[-3000:])
            times.dependency_cached = [short_step(s.name, 60) for s in deps]
            times.cold.add(cold.seconds)
            times.nocache.add(nocache.seconds)
            times.rebuild.add(rebuild.seconds)
            times.ratio.add(rebuild.seconds / cold.seconds)
            times.nocache_ratio.add(rebuild.seconds / nocache.seconds)
            for step in parse_steps(cold.log):
                times.cold_steps.setdefault(step.name, Series()).add(step.seconds)
            for step in parse_steps(rebuild.log):
                if step.cached:
                    times.rebuild_cached[step.name] = times.rebuild_cached.get(step.name, 0) + 1
                times.rebuild_steps.setdefault(step.name, Series()).add(0.0 if step.cached else step.seconds)
            log(f"run {run}/{runs} {name}: cold {cold.seconds:.1f}s, --no-cache {nocache.seconds:.1f}s, "
                f"rebuild {rebuild.seconds:.1f}s")
    return results
