"""Offline synth: run the Pulumi program in-process under Pulumi's mocks, no CLI, cluster or Docker.

Library (used by the unit tests, the image suite and `make diff`) and CLI:

    python scripts/synth.py --stack dev            # writes build/manifests/dev/*.yaml

The mocks stand in only for the Pulumi engine: they record every resource the
program registers, with its inputs, parent and dependencies, and answer with
deterministic outputs. Secret values are redacted in everything written to disk.

What synth cannot know, it stands in for, and says so:
- image digests are STAND-INS: sha256 of exactly what pulumi-docker compares to decide a
  rebuild (every docker.Image input but the registry credentials, and its context digest),
  so they change whenever `pulumi up` would rebuild, but they are not registry digests;
- operator secrets (prod's URLs, keys, tokens) are obviously fake values, redacted;
- with `images.source: stack`, the other stack's `images` output (no state backend
  offline) is a stand-in unless given (`stack_outputs=`).

The config reaches the program as the Pulumi CLI passes it: every value a string, built
from the stack file by `components.stack_file` the way the CLI's Go YAML decoder does.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import importlib.util
import json
import logging
import os
import re
import shutil
import stat
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import pulumi  # noqa: E402
import yaml  # noqa: E402
from pulumi.runtime import mocks as pulumi_mocks  # noqa: E402
from pulumi.runtime import rpc, settings  # noqa: E402
from pulumi.runtime.stack import run_pulumi_func  # noqa: E402
from pulumi.runtime.sync_await import _sync_await  # noqa: E402

from components import external_data  # noqa: E402
from components.config import PROJECT, deep_merge  # noqa: E402
from components.stack_file import StackFile, StackFileError, engine_string, engine_strings, load_stack_file  # noqa: E402

SECRET_SIG_KEY = rpc._special_sig_key  # "4dabf18193072939515e22adb298388d"
SECRET_SIG = rpc._special_secret_sig
REDACTED = "<redacted: pulumi secret>"
STAND_IN_REGISTRY = "synth-stand-in.invalid"
# The cluster synth answers for (components/cluster.py asks the provider): its version and add-ons.
STAND_IN_KUBERNETES = "v1.31.0"
STAND_IN_CLUSTER_APIS = ("metricsApi", "certManager")
DIGEST_NOTE = ("image digests are stand-ins: sha256 of every input pulumi-docker compares (image name, build "
               "settings, registry server) and of its context digest (Dockerfile, context after .dockerignore: path, "
               "mode as checked out, content); they change whenever `pulumi up` would rebuild, "
               "but they are not registry digests")
MANIFEST_DIR = REPO_ROOT / "build" / "manifests"
# Apply order (as Helm's): what others need comes first.
KIND_ORDER = (
    "Namespace", "NetworkPolicy", "Secret", "ConfigMap", "PersistentVolumeClaim", "Service",
    "StatefulSet", "Job", "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Ingress",
)

# Secrets a stack needs that only operators hold. `make synth` stands in for them
# with obviously fake values so prod renders without credentials; they are
# redacted in the output like any other secret.
SYNTH_SECRETS: Mapping[str, Mapping[str, str]] = {
    "dev": {},
    "prod": {
        "secretKey": "synth-only-secret-key-0123456789abcdef0123456789abcdef",
        "databaseUrl": "postgresql://mbhealth:synth-only-db-password@db.internal:5432/mbhealth",
        "redisUrl": "rediss://:synth-only-redis-password@cache.internal:6380/0",
        # The pull credential only: prod deploys promoted images and holds no push token.
        "registryPullPassword": "synth-only-registry-read-token",
    },
}


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and value.get(SECRET_SIG_KEY) == SECRET_SIG


def reveal(value: Any) -> Any:
    """Unwrap secret markers, keeping values (for assertions in tests only)."""
    if is_secret(value):
        return reveal(value["value"])
    if isinstance(value, dict):
        return {k: reveal(v) for k, v in value.items()}
    if isinstance(value, list):
        return [reveal(v) for v in value]
    return value


def redact(value: Any) -> Any:
    """Replace every secret (however deep) with a marker: what may be written or shown.

    A secret map keeps its keys (reviewers see which values a Secret holds).
    """
    if is_secret(value):
        inner = reveal(value)
        return {key: REDACTED for key in inner} if isinstance(inner, dict) else REDACTED
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def _whole_numbers(value: Any) -> Any:
    """The mock engine hands numbers back as floats; Kubernetes integers are ints."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(v) for v in value]
    return value


def _digest(value: Any, length: int = 64) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()[:length]


@dataclass
class Registered:
    """One resource the program registered."""

    type: str
    name: str
    urn: str
    custom: bool
    parent: str
    dependencies: list[str]
    inputs: dict[str, Any]  # wire (camelCase) names, secrets still wrapped
    outputs: dict[str, Any] = field(default_factory=dict)

    @property
    def manifest(self) -> dict[str, Any]:
        """The Kubernetes object as applied (secrets still wrapped)."""
        return _whole_numbers(self.outputs)

    @property
    def kind(self) -> str:
        return self.outputs.get("kind", "")

    @property
    def object_name(self) -> str:
        return self.outputs.get("metadata", {}).get("name", "")


# What the program logs to the engine (pulumi.log): synth reports the config warnings itself.
_ENGINE_LOG = logging.getLogger("mbhealth.synth.engine")
_ENGINE_LOG.addHandler(logging.NullHandler())
_ENGINE_LOG.propagate = False


def stand_in_stack_outputs(stack: str) -> dict[str, Any]:
    """What synth answers for another stack's outputs: each image by a fake (but well-formed) digest."""
    from components.build_specs import IMAGE_BUILDS

    return {"images": {name: f"{STAND_IN_REGISTRY}/{PROJECT}/{name}@sha256:{_digest(['stand-in', stack, name])}"
                       for name in IMAGE_BUILDS}}


class SynthMocks(pulumi.runtime.Mocks):
    def __init__(self, stack_outputs: Optional[Mapping[str, Mapping[str, Any]]] = None,
                 kubernetes_version: Optional[str] = STAND_IN_KUBERNETES,
                 cluster_apis: Iterable[str] = STAND_IN_CLUSTER_APIS):
        # Outputs of other stacks, by stack name, for StackReferences (promotion).
        self.stack_outputs = dict(stack_outputs or {})
        # The cluster's version (None: the cluster cannot be reached) and the add-on APIs it serves.
        self.kubernetes_version = kubernetes_version
        self.cluster_apis = frozenset(cluster_apis)
        self.notes: list[str] = []  # what this synth stood in for

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        state = dict(args.inputs)
        if args.typ == "pulumi:pulumi:StackReference":
            name = args.inputs["name"]
            if name in self.stack_outputs:
                outputs = dict(self.stack_outputs[name])
            else:
                # No state backend offline: stand in for the other stack's `images`, and say so.
                outputs = stand_in_stack_outputs(name)
                self.note(f"images.source is stack: stack {name!r} cannot be read offline; its `images` output is a "
                          f"STAND-IN (fake digests, {STAND_IN_REGISTRY}), re-homed to this stack's registry")
            state.update(outputs=outputs, secretOutputNames=[])
        elif args.typ == "docker:index/image:Image":
            repository = str(reveal(args.inputs["imageName"])).rsplit(":", 1)[0]
            inputs = reveal(args.inputs)
            state["repoDigest"] = f"{repository}@sha256:{rebuild_digest(inputs)}"
            state["baseImageName"] = reveal(args.inputs["imageName"])
            self.note(DIGEST_NOTE)
            drift = mode_drift(inputs.get("build") or {})
            if drift:
                self.note(f"image {args.name}: {len(drift)} build context file(s) have a mode a checkout under umask 022 "
                          f"does not give ({', '.join(drift[:3])}{', ...' if len(drift) > 3 else ''}): pulumi-docker "
                          "hashes each file's full mode, so `pulumi up` from this tree rebuilds it where the stand-in "
                          "digest shows no change (`chmod go-w` them, or check out under umask 022)")
        elif args.typ.startswith("random:"):
            state["result"] = "synth" + _digest([args.typ, args.name], 27)
        elif args.typ.startswith("kubernetes:"):
            metadata = dict(state.get("metadata") or {})
            if not metadata.get("name"):
                # Auto-naming: a suffix from the content, so a data change is a new name
                # (as a replacement is in a real deploy) and an unchanged one is stable.
                # Secrets too: pulumi-kubernetes 4.25 replaces a Secret whose data changes
                # (no enableSecretMutable), so a new value means a new name. Synth only ever
                # holds stand-in secrets; the suffix is 8 hex digits of a sha256.
                content = {k: v for k, v in reveal(state).items() if k != "metadata"}
                metadata["name"] = f"{args.name}-{_digest(content, 8)}"
            state["metadata"] = metadata
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs):
        if args.token == "kubernetes:helm:template":
            opts = json.loads(args.args["jsonOpts"])
            if opts.get("chart") == "cluster-version":
                # No cluster offline: Helm's offline defaults when "unreachable", else the stand-in version.
                reachable = self.kubernetes_version is not None
                if reachable and self.kubernetes_version == STAND_IN_KUBERNETES:
                    self.note(f"the cluster is a stand-in (Kubernetes {STAND_IN_KUBERNETES}, metrics API and "
                              "cert-manager served); pulumi up reads the real one and refuses a cluster older than 1.30 "
                              "or without an add-on the stack uses")
                data = {"gitVersion": self.kubernetes_version or "v1.20.0", "discovered": str(reachable).lower(),
                        **{api: str(reachable and api in self.cluster_apis).lower() for api in STAND_IN_CLUSTER_APIS}}
                return {"result": [{"apiVersion": "v1", "kind": "ConfigMap",
                                    "metadata": {"name": "cluster-version"}, "data": data}]}
        return {}


def _dockerignore_regex(pattern: str) -> re.Pattern[str]:
    """One .dockerignore pattern as moby's patternmatcher reads it (Go filepath.Match plus `**`)."""
    pattern = os.path.normpath(pattern.strip()).lstrip("/")
    out, i = "", 0
    while i < len(pattern):
        c = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                i += 1
                out += "(?:.*/)?"
            else:
                out += ".*"
            continue
        if c == "*":
            out += "[^/]*"
        elif c == "?":
            out += "[^/]"
        elif c == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out += re.escape(c)
            else:
                body = pattern[i + 1:end]
                out += "[" + ("^" + body[1:] if body.startswith("^") else body) + "]"
                i = end
        elif c == "\\" and i + 1 < len(pattern):
            i += 1
            out += re.escape(pattern[i])
        else:
            out += re.escape(c)
        i += 1
    return re.compile(f"^{out}$")


class DockerIgnore:
    """`.dockerignore` semantics: last matching pattern wins; a pattern matching a parent directory matches."""

    def __init__(self, text: str):
        self.rules: list[tuple[bool, re.Pattern[str], str]] = []
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            negate = line.startswith("!")
            body = line[1:].strip() if negate else line
            if body:
                self.rules.append((negate, _dockerignore_regex(body), body))

    def excluded(self, relative: str) -> bool:
        parts = relative.split("/")
        candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        verdict = False
        for negate, regex, _ in self.rules:
            if any(regex.match(c) for c in candidates):
                verdict = not negate
        return verdict

    def may_include_below(self, directory: str) -> bool:
        """Could an exclusion (`!pattern`) re-include something under an excluded directory?"""
        for negate, _, body in self.rules:
            if not negate:
                continue
            literal = re.split(r"[*?\[\\]", body.lstrip("/"), maxsplit=1)[0].rstrip("/")
            if not literal or literal.startswith(directory + "/") or directory.startswith(literal):
                return True
        return False


def context_files(context: Path, ignore_file: Optional[Path] = None) -> list[str]:
    """The build context's files (relative, sorted) after .dockerignore, as `docker build` sends them.

    A symbolic link is one entry (to a directory too): neither docker nor pulumi-docker follows it.
    `ignore_file`: the ignore file that applies (default: the context's `.dockerignore`)."""
    ignore_file = ignore_file or context / ".dockerignore"
    ignore = DockerIgnore(ignore_file.read_text() if ignore_file.exists() else "")
    files = []
    for directory, subdirs, names in os.walk(context):
        base = Path(directory).relative_to(context).as_posix()

        def join(name: str, base: str = base) -> str:
            return name if base == "." else f"{base}/{name}"

        links = [d for d in subdirs if os.path.islink(os.path.join(directory, d))]
        # Never descend into an excluded directory nothing inside can come back from (node_modules & co).
        subdirs[:] = sorted(d for d in subdirs if d not in links
                            and not (ignore.excluded(join(d)) and not ignore.may_include_below(join(d))))
        files.extend(join(name) for name in [*names, *links] if not ignore.excluded(join(name)))
    return sorted(files)


def ignore_file_for(context: Path, dockerfile: Path) -> Path:
    """The ignore file pulumi-docker (and BuildKit) applies: `<Dockerfile>.dockerignore` when there is
    one, else the context's `.dockerignore`."""
    specific = dockerfile.with_name(dockerfile.name + ".dockerignore")
    return specific if specific.is_file() else context / ".dockerignore"


# pulumi-docker 5.x docker.Image (provider/provider.go, read from its source): Check adds
# `build.contextDigest` (hashContext: the Dockerfile under the name "Dockerfile" with mode 0, then every
# context file after the ignore file: its path, its full Go file mode string and the sha256 of its
# content, or of a symbolic link's resolved path), and Diff compares every input with the last
# deploy's, except registry.username and registry.password. Any difference is an Update: a build and
# a push.
_CREDENTIALS = ("username", "password")


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
    return _digest(rebuild_inputs(inputs, root))


class RecordingMonitor(pulumi_mocks.MockMonitor):
    """The mock engine, also keeping each registration's parent and dependencies."""

    def __init__(self, mocks: SynthMocks):
        super().__init__(mocks)
        self.registered: list[Registered] = []

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type != "pulumi:pulumi:Stack":
            self.registered.append(
                Registered(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    custom=bool(request.custom),
                    parent=request.parent,
                    dependencies=list(request.dependencies),
                    inputs=rpc.deserialize_properties(request.object),
                    outputs=self.resources[response.urn].state,
                )
            )
        return response

    def ReadResource(self, request):
        """Reads of existing resources (StackReferences) are recorded too."""
        response = super().ReadResource(request)
        self.registered.append(
            Registered(
                type=request.type, name=request.name, urn=response.urn, custom=True, parent=request.parent,
                dependencies=list(request.dependencies), inputs=rpc.deserialize_properties(request.properties),
                outputs=self.resources[response.urn].state,
            )
        )
        return response


@dataclass
class SynthResult:
    stack: str
    resources: list[Registered]
    exports: dict[str, Any]
    notes: list[str] = field(default_factory=list)  # what synth stood in for (stand-in digests, stack outputs)

    def kubernetes(self) -> list[Registered]:
        """Kubernetes objects in a stable order (kind, then name): registration order is async."""
        objects = [r for r in self.resources if r.custom and r.type.startswith("kubernetes:")]
        return sorted(objects, key=lambda r: (KIND_ORDER.index(r.kind) if r.kind in KIND_ORDER else len(KIND_ORDER), r.kind, r.object_name))

    def of_kind(self, kind: str) -> list[Registered]:
        return [r for r in self.kubernetes() if r.kind == kind]

    def get(self, kind: str, name: str) -> Registered:
        matches = [r for r in self.of_kind(kind) if r.name == name or r.object_name == name]
        if len(matches) != 1:
            raise LookupError(f"{self.stack}: expected one {kind} named {name!r}, found {len(matches)}")
        return matches[0]

    def by_urn(self, urn: str) -> Registered:
        return next(r for r in self.resources if r.urn == urn)

    def depends_on(self, resource: Registered, other: Registered) -> bool:
        """Does `resource` (directly or through a component) wait for `other`?"""
        seen, todo = set(), list(resource.dependencies)
        while todo:
            urn = todo.pop()
            if urn == other.urn:
                return True
            if urn in seen:
                continue
            seen.add(urn)
            dependency = next((r for r in self.resources if r.urn == urn), None)
            if dependency is not None:
                todo.extend(dependency.dependencies)
                todo.extend(r.urn for r in self.resources if r.parent == urn)
        return False

    def manifests(self, redacted: bool = True) -> list[dict[str, Any]]:
        """The Kubernetes objects, in apply order."""
        convert = redact if redacted else reveal
        return [convert(r.manifest) for r in self.kubernetes()]


def stack_file_path(stack: str) -> Path:
    return REPO_ROOT / f"Pulumi.{stack}.yaml"


def read_stack_file(stack: str, path: Optional[Path] = None) -> StackFile:
    """The stack file; StackFileError (one line: file:line:column: problem) when it is not valid YAML."""
    return load_stack_file(path or stack_file_path(stack))


def stack_config(stack: str, path: Optional[Path] = None) -> dict[str, str]:
    """The stack file's `config:` as the Pulumi CLI passes it to a program (every value a string).

    Secure values (ciphertext only the CLI can decrypt) are left out; synth stands in for them.
    """
    return engine_strings(read_stack_file(stack, path))


def load_program():
    """Import __main__.py as a module (without running its `if __name__ == "__main__"` block)."""
    spec = importlib.util.spec_from_file_location("mbhealth_program", REPO_ROOT / "__main__.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


def synthesize(
    stack: str,
    overrides: Optional[Mapping[str, Any]] = None,
    secrets: Optional[Mapping[str, str]] = None,
    remove: Iterable[str] = (),
    stack_outputs: Optional[Mapping[str, Mapping[str, Any]]] = None,
    stack_file: Optional[Path] = None,
    kubernetes_version: Optional[str] = STAND_IN_KUBERNETES,
    cluster_apis: Iterable[str] = STAND_IN_CLUSTER_APIS,
    preview: bool = False,
) -> SynthResult:
    """Run the program for `stack` under mocks and return what it registered.

    overrides: config keys (without the `mbhealth:` prefix) as the CLI would pass them
        (`pulumi config set`); dicts merge into the stack file's objects.
    secrets: secret config values (default: SYNTH_SECRETS[stack] for every one the stack file does not
        hold in plain text, which the program then refuses).
    remove: config keys to drop from the stack file.
    stack_outputs: other stacks' outputs, for `images.source: stack` (default: a labelled stand-in).
    stack_file: read this file instead of Pulumi.<stack>.yaml (what a user wrote, for tests).
    kubernetes_version: the API server version the cluster reports (None: it cannot be reached).
    cluster_apis: the add-on APIs the cluster serves (metricsApi, certManager).
    preview: run as `pulumi preview` does (pulumi.runtime.is_dry_run()), not as `pulumi up`.
    """
    path = stack_file or stack_file_path(stack)
    parsed = read_stack_file(stack, path)
    config = engine_strings(parsed)
    for key in remove:
        config.pop(f"{PROJECT}:{key}", None)
    for key, value in (overrides or {}).items():
        current = config.get(f"{PROJECT}:{key}")
        if isinstance(value, dict) and current and current.startswith("{"):
            value = deep_merge(json.loads(current), value)
        config[f"{PROJECT}:{key}"] = engine_string(value)
    if secrets is None:
        # Stand in for what only operators hold, but never for a value written in plain text.
        secret_values = {key: _stand_in_on_configured_port(key, value, config)
                         for key, value in SYNTH_SECRETS.get(stack, {}).items() if f"{PROJECT}:{key}" not in config}
    else:
        secret_values = dict(secrets)
    for key, value in secret_values.items():
        config[f"{PROJECT}:{key}"] = value

    # The SDK runs the mocks' calls in the event loop's default executor: a loop of this run's own,
    # whose executor threads end with it (none is left running beside the caller's later work).
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    mocks = SynthMocks(stack_outputs, kubernetes_version, cluster_apis)
    monitor = RecordingMonitor(mocks)
    # Offline: a managed data service's host name is never resolved (pulumi up checks it).
    external_data.resolver = offline_resolver
    settings.set_root_resource(None)  # a fresh root stack for every run
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=preview, monitor=monitor, logger=_ENGINE_LOG)
    pulumi.runtime.set_all_config(config, secret_keys=[f"{PROJECT}:{key}" for key in secret_values])
    program = load_program()

    from components.config import load_stack_config

    settings.SETTINGS.rpc_manager.clear()
    settings.SETTINGS.outputs.clear()
    loaded = []

    def run() -> None:
        loaded.append(load_stack_config(stack_file=path))
        program.deploy(loaded[0])

    try:
        try:
            _sync_await(run_pulumi_func(run))
        except Exception as error:
            # Lets callers check that a failure happened before anything was created.
            error.registered_before_failure = list(monitor.registered)  # type: ignore[attr-defined]
            raise
        root = settings.get_root_resource()
        exports = {name: _resolve(value) for name, value in (root.outputs if root else {}).items()}
    finally:
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()
        asyncio.set_event_loop(asyncio.new_event_loop())  # for the caller's own Outputs (no thread until used)
    notes = [f"warning: {w}" for w in loaded[0].warnings] + list(mocks.notes)
    return SynthResult(stack=stack, resources=monitor.registered, exports=exports, notes=notes)


def offline_resolver(host: str) -> None:
    """Synth resolves no host name: the URL's port and any address literal are still checked."""
    return None


_URL_SECRETS = {"databaseUrl": "postgres", "redisUrl": "redis"}


def _stand_in_on_configured_port(key: str, value: str, config: Mapping[str, str]) -> str:
    """A stand-in data service URL on the port the stack configures for that service (a real one must be)."""
    service = _URL_SECRETS.get(key)
    try:
        port = json.loads(config.get(f"{PROJECT}:dataServices", "{}")).get(service or "", {}).get("port")
    except (ValueError, AttributeError):
        port = None
    if service is None or not isinstance(port, int):
        return value
    return re.sub(r":\d+/", f":{port}/", value, count=1)


def _resolve(value: Any) -> Any:
    """The value of an Output, failing loudly if anything is still unknown."""
    output = pulumi.Output.from_input(value)
    known = _sync_await(output._is_known)
    if not known:
        raise AssertionError("an output is unknown after a non-preview run")
    resolved = _sync_await(output.future(with_unknowns=True))
    if _sync_await(output._is_secret):
        return {SECRET_SIG_KEY: SECRET_SIG, "value": resolved}
    return resolved


def manifest_filename(index: int, manifest: Mapping[str, Any]) -> str:
    metadata = manifest.get("metadata", {})
    namespace = metadata.get("namespace") or "cluster"
    return f"{index:02d}-{namespace}-{manifest.get('kind', 'Object').lower()}-{metadata.get('name', 'unnamed')}.yaml"


def write_manifests(result: SynthResult, out_dir: Path) -> list[Path]:
    """One YAML file per object, secrets redacted, plus outputs.json and objects.json (each object's
    logical identity, for `make diff`). Written aside and swapped in whole: the directory holds
    exactly this synth's files, never a mix with an earlier one."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.new-", dir=out_dir.parent))
    try:
        names = []
        index = []
        by_urn = {r.urn: r for r in result.resources}
        for number, (registered, manifest) in enumerate(zip(result.kubernetes(), result.manifests(redacted=True))):
            name = manifest_filename(number, manifest)
            (staging / name).write_text(yaml.safe_dump(manifest, sort_keys=True))
            names.append(name)
            index.append({"file": name, "kind": manifest.get("kind"), "name": manifest.get("metadata", {}).get("name"),
                          "namespace": manifest.get("metadata", {}).get("namespace"),
                          "logical": logical_identity(registered, by_urn)})
        (staging / "outputs.json").write_text(json.dumps(redact(result.exports), indent=2, sort_keys=True) + "\n")
        (staging / "objects.json").write_text(json.dumps(index, indent=2) + "\n")
        (staging / "NOTES.txt").write_text("".join(f"synth {result.stack}: {note}\n" for note in result.notes))
        os.chmod(staging, 0o755)
        swap_in(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [out_dir / name for name in names]


def swap_in(new: Path, target: Path) -> None:
    """Replace directory `target` with `new` (a rename each; the old one is removed after)."""
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.rmdir(old)
        os.rename(target, old)
    os.rename(new, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def remove_output(out_dir: Path) -> bool:
    """A failed synth leaves no manifests behind: they would no longer match the stack."""
    if Path(out_dir).is_dir():
        shutil.rmtree(out_dir)
        return True
    return False


def logical_identity(registered: Registered, by_urn: Mapping[str, Registered]) -> str:
    """The object's identity across synths: its kind, namespace and Pulumi logical name with its
    component parents (`Job/mbhealth/MigrationJob:migrate/migrate`), not its per-release name."""
    chain = [registered.name]
    parent = by_urn.get(registered.parent)
    while parent is not None:
        chain.append(f"{parent.type.rsplit(':', 1)[-1]}:{parent.name}")
        parent = by_urn.get(parent.parent)
    namespace = registered.manifest.get("metadata", {}).get("namespace") or "cluster"
    return f"{registered.kind}/{namespace}/" + "/".join(reversed(chain))


def _relative(path: Path) -> str:
    return str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True, choices=sorted(p.name.split(".")[1] for p in REPO_ROOT.glob("Pulumi.*.yaml")))
    parser.add_argument("--out", type=Path, help="output directory (default build/manifests/<stack>)")
    parser.add_argument("--stack-file", type=Path, help="read this file instead of Pulumi.<stack>.yaml")
    args = parser.parse_args(argv)
    from components.cluster import ClusterError
    from components.config import ConfigError, SecretConfigError

    out_dir = (args.out or MANIFEST_DIR / args.stack).absolute()
    started = time.perf_counter()
    try:
        result = synthesize(args.stack, stack_file=args.stack_file)
    except (ConfigError, SecretConfigError, ClusterError, StackFileError) as error:
        print(f"synth {args.stack}: {error}", file=sys.stderr)
        if remove_output(out_dir):
            print(f"synth {args.stack}: removed {_relative(out_dir)} (it no longer matches the stack)", file=sys.stderr)
        return 2
    except BaseException:
        remove_output(out_dir)
        raise
    paths = write_manifests(result, out_dir)
    elapsed = time.perf_counter() - started
    for note in result.notes:
        print(f"synth {args.stack}: {note if note.startswith('warning: ') else 'note: ' + note}")
    print(f"synth {args.stack}: {len(paths)} Kubernetes objects -> {_relative(out_dir)} ({elapsed:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
