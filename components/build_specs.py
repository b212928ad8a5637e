"""Image build specs: the one source of truth for how each image is built and run.

Plain data (no Pulumi import) so that the Pulumi image component, the workload
component and the real-Docker image test suite all read the same values.
Paths are relative to the repository root (the Pulumi project directory).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Mapping, Optional

REPO_ROOT = Path(__file__).resolve().parent.parent

# Numeric uid/gid baked into every image (`USER 10001:10001`) and required by the
# pod security context. Kubernetes' runAsNonRoot can only verify a numeric USER.
APP_UID = 10001
APP_GID = 10001


_GLOBAL_ARG = re.compile(r"^ARG\s+([A-Za-z_][A-Za-z0-9_]*)(?:=(\S*))?\s*$")
_FROM = re.compile(r"^FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?\s*$", re.I)
_COPY_FROM = re.compile(r"^(?:COPY|RUN)\b.*?--(?:from|mount=[^ ]*\bfrom)=([^\s,]+)", re.I)
# The registry tag that holds one build stage's layers and BuildKit's inline cache metadata: stable
# across releases (the release tag about to be pushed is never in any registry yet).
CACHE_TAG = "buildcache-{stage}"


def dockerfile_arg_defaults(dockerfile: Path) -> dict[str, str]:
    """The Dockerfile's global build args (the `ARG NAME=default` lines before the first FROM), with
    their defaults."""
    defaults: dict[str, str] = {}
    for line in dockerfile.read_text().splitlines():
        line = line.strip()
        if re.match(r"FROM\s", line, re.I):
            break
        match = _GLOBAL_ARG.match(line)
        if match and match.group(2):
            defaults[match.group(1)] = match.group(2)
    return defaults


def dockerfile_base_images(dockerfile: Path) -> dict[str, str]:
    """{base-image ARG: the image it builds on by default}. The images are pinned once, as literal
    `FROM <image> AS <stage>` lines, since Dependabot bumps FROM lines and cannot read ARG defaults
    (dependabot-core#10190); each `ARG <NAME>=<stage>` default names its stage, so a build arg (a
    stand-in, a mirror) replaces the image and BuildKit never pulls the unused stage."""
    literal: dict[str, str] = {}
    for line in dockerfile.read_text().splitlines():
        match = _FROM.match(line.strip())
        if match and match.group(2) and "$" not in match.group(1):
            literal[match.group(2).lower()] = match.group(1)
    return {arg: literal[default.lower()] for arg, default in dockerfile_arg_defaults(dockerfile).items()
            if default.lower() in literal}


def dockerfile_stages(dockerfile: Path, target: str) -> tuple[str, ...]:
    """The named stages building `target` needs (its FROM parents and `COPY --from` sources,
    transitively), in Dockerfile order, `target` last."""
    parents: dict[str, set[str]] = {}
    order: list[str] = []
    current = None
    for line in dockerfile.read_text().splitlines():
        line = line.strip()
        stage = _FROM.match(line)
        if stage:
            current = stage.group(2) or f"#{len(order)}"
            order.append(current)
            parents[current] = {stage.group(1)}
            continue
        source = _COPY_FROM.match(line)
        if source and current:
            parents[current].add(source.group(1))
    if target not in parents:
        raise ValueError(f"{dockerfile}: no stage {target!r}; stages: {', '.join(order)}")
    needed, todo = set(), [target]
    while todo:
        stage = todo.pop()
        if stage in parents and stage not in needed:
            needed.add(stage)
            todo.extend(parents[stage])
    return tuple(stage for stage in order if stage in needed)


def substitute_for(image: str, substitutes: Mapping[str, str]) -> Optional[str]:
    """The stand-in for base image `image` (`MBH_BASE_IMAGES`, tools/standins/forge_bases.py): keyed by the
    image as the Dockerfile names it, or by its tag alone when the Dockerfile also pins a digest
    (`<image>:<tag>@sha256:…` is `<image>:<tag>`), so a digest bump keeps its stand-in."""
    return substitutes.get(image) or substitutes.get(image.split("@", 1)[0])


@dataclass(frozen=True)
class ImageBuildSpec:
    """How to build one image: context, Dockerfile, target and its base-image build args.

    The base images themselves are the Dockerfile's `FROM <image> AS <stage>` lines that its
    `ARG <NAME>=<stage>` defaults name, read from it (`dockerfile_base_images`): the spec names
    which args are its bases (`base_image_arg_names`), never their values.
    """

    name: str
    context: str
    dockerfile: str
    target: str
    # The global ARGs that name this build's base images (defaults: stages of the real upstream
    # images, in the Dockerfile). Offline suites pass local stand-ins instead; VERSION is set per build.
    base_image_arg_names: tuple[str, ...] = ()
    root: Path = field(default=REPO_ROOT, compare=False, repr=False)

    @property
    def base_image_args(self) -> Mapping[str, str]:
        """{ARG: its default image} as the Dockerfile declares them now."""
        path = self.dockerfile_path(self.root)
        defaults = dockerfile_base_images(path)
        missing = [arg for arg in self.base_image_arg_names if arg not in defaults]
        if missing:
            raise ValueError(f"{self.name}: {path} declares no base image for build arg(s) {missing}; expected "
                             f"a global `ARG <NAME>=<stage>` line before the first FROM, naming a stage "
                             f"`FROM <image> AS <stage>` (a literal image: Dependabot bumps FROM lines)")
        return MappingProxyType({arg: defaults[arg] for arg in self.base_image_arg_names})

    def build_args(self, version: str, base_images: Mapping[str, str] | None = None) -> dict[str, str]:
        """Build args for one build: base images (overridable) plus the release version."""
        args = dict(self.base_image_args)
        for key, value in (base_images or {}).items():
            if key not in args:
                raise KeyError(f"{self.name}: unknown base-image build arg {key!r}; known: {sorted(args)}")
            args[key] = value
        args["VERSION"] = version
        return args

    @property
    def stages(self) -> tuple[str, ...]:
        """The Dockerfile stages this build runs, `target` last."""
        return dockerfile_stages(self.dockerfile_path(self.root), self.target)

    def cache_refs(self, repository: str) -> list[str]:
        """One stable cache image per stage (`<repository>:buildcache-<stage>`): BuildKit's inline
        cache records only the stage an image is of, so every stage has its own."""
        return [f"{repository}:{CACHE_TAG.format(stage=stage)}" for stage in self.stages]

    def context_path(self, root: Path = REPO_ROOT) -> Path:
        return root / self.context

    def dockerfile_path(self, root: Path = REPO_ROOT) -> Path:
        return root / self.dockerfile


BACKEND_BUILD = ImageBuildSpec(
    name="backend",
    context="apps/backend",
    dockerfile="apps/backend/Dockerfile",
    target="production",
    # production (and worker) run on slim; the development target on the full image, whose
    # compilers, headers and git let a developer install or build any dependency.
    base_image_arg_names=("PYTHON_IMAGE", "PYTHON_DEV_IMAGE"),
)

# The distroless variant of the backend (selected per stack: `mbhealth:backendVariant`).
# Its venv is built on Debian 12 against /usr/bin/python3.11, the interpreter the
# distroless image ships (the slim image's lives in /usr/local and would not match).
# No shell in the result: probes are httpGet or `python -m ...`; preStop is the sleep action.
BACKEND_DISTROLESS_BUILD = ImageBuildSpec(
    name="backend",
    context="apps/backend",
    dockerfile="apps/backend/Dockerfile",
    target="production-distroless",
    base_image_arg_names=("DEBIAN_IMAGE", "DISTROLESS_IMAGE"),
)

BACKEND_VARIANTS: Mapping[str, ImageBuildSpec] = MappingProxyType(
    {"slim": BACKEND_BUILD, "distroless": BACKEND_DISTROLESS_BUILD}
)

FRONTEND_BUILD = ImageBuildSpec(
    name="frontend",
    context="apps/frontend",
    dockerfile="apps/frontend/Dockerfile",
    target="production",
    base_image_arg_names=("NODE_IMAGE", "NGINX_IMAGE"),
)

# The images Pulumi builds and pushes. The worker runs the backend image with its
# own command (one build rolls both the API and the worker); the Dockerfile's
# `worker` target exists for plain `docker build` users and adds no layers.
IMAGE_BUILDS: Mapping[str, ImageBuildSpec] = MappingProxyType(
    {spec.name: spec for spec in (BACKEND_BUILD, FRONTEND_BUILD)}
)


@dataclass(frozen=True)
class ProcessSpec:
    """How a container of an image runs: command, port, health checks, writable paths."""

    image: str  # key in IMAGE_BUILDS
    command: tuple[str, ...]
    port: int | None = None
    liveness_path: str | None = None
    readiness_path: str | None = None
    liveness_exec: tuple[str, ...] | None = None
    readiness_exec: tuple[str, ...] | None = None
    # Liveness as a TCP connect to `port` (the process accepts connections).
    liveness_tcp: bool = False
    writable_paths: tuple[str, ...] = ("/tmp",)
    # Seconds the process needs after SIGTERM to drain (finish in-flight work).
    drain_seconds: int = 20


BACKEND_API = ProcessSpec(
    image="backend",
    command=("python", "-m", "mbhealth", "serve"),
    port=8000,
    liveness_path="/api/v1/health/live",
    readiness_path="/api/v1/health/ready",
    drain_seconds=20,
)

WORKER = ProcessSpec(
    image="backend",
    command=("python", "-m", "mbhealth", "worker"),
    # `celery inspect ping` against the worker's own node name (celery@<hostname>).
    readiness_exec=("python", "-m", "mbhealth", "probe", "worker-ready"),
    # Reads only a heartbeat file under /tmp, which the worker rewrites when its own ping
    # comes back through the broker into its event loop (mbhealth/heartbeat.py): progress.
    liveness_exec=("python", "-m", "mbhealth", "probe", "worker-alive"),
    # Celery's warm shutdown lets a running task finish; the worker's soft
    # shutdown timeout is this many seconds.
    drain_seconds=60,
)

MIGRATE = ProcessSpec(
    image="backend",
    command=("python", "-m", "mbhealth", "migrate"),
    drain_seconds=0,
)

# Post-deploy smoke test (a Job): API ready, frontend up, one task round-trip via /api.
SMOKE = ProcessSpec(
    image="backend",
    command=("python", "-m", "mbhealth", "smoke"),
    drain_seconds=0,
)

FRONTEND_WEB = ProcessSpec(
    image="frontend",
    # The image's own entrypoint renders the nginx template into /tmp and execs
    # nginx; Kubernetes leaves it alone (no command override).
    command=(),
    port=8080,
    # Readiness asks nginx for /health; liveness only needs the socket to accept,
    # so a slow upstream or a config reload never restarts the pod.
    liveness_tcp=True,
    readiness_path="/health",
    drain_seconds=10,
)
