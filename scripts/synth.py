"""Offline synth: run the Pulumi program in-process under Pulumi's mocks, no CLI, cluster or Docker.

Library (used by the unit tests, the image suite and `make diff`) and CLI:

    python scripts/synth.py --stack dev            # writes build/manifests/dev/*.yaml

The mocks stand in only for the Pulumi engine: they record every resource the
program registers, with its inputs, parent and dependencies, and answer with
deterministic outputs (an image's repoDigest is a hash of its build inputs, an
auto-named object gets a suffix hashed from its content). Secret values are
redacted in everything written to disk.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import importlib.util
import json
import os
import sys
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

from components.config import PROJECT, deep_merge  # noqa: E402

SECRET_SIG_KEY = rpc._special_sig_key  # "4dabf18193072939515e22adb298388d"
SECRET_SIG = rpc._special_secret_sig
REDACTED = "<redacted: pulumi secret>"
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
        "registryPassword": "synth-only-registry-token",
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


class SynthMocks(pulumi.runtime.Mocks):
    def __init__(self, stack_outputs: Optional[Mapping[str, Mapping[str, Any]]] = None):
        # Outputs of other stacks, by stack name, for StackReferences (promotion).
        self.stack_outputs = dict(stack_outputs or {})

    def new_resource(self, args: pulumi.runtime.MockResourceArgs):
        state = dict(args.inputs)
        if args.typ == "pulumi:pulumi:StackReference":
            name = args.inputs["name"]
            if name not in self.stack_outputs:
                raise LookupError(f"synth: no outputs given for stack reference {name!r} (pass stack_outputs=)")
            state.update(outputs=dict(self.stack_outputs[name]), secretOutputNames=[])
        elif args.typ == "docker:index/image:Image":
            repository = str(reveal(args.inputs["imageName"])).rsplit(":", 1)[0]
            build = reveal(args.inputs.get("build", {}))
            state["repoDigest"] = f"{repository}@sha256:{_digest({'build': build, 'tree': _context_tree(build)})}"
            state["baseImageName"] = reveal(args.inputs["imageName"])
        elif args.typ.startswith("random:"):
            state["result"] = "synth" + _digest([args.typ, args.name], 27)
        elif args.typ.startswith("kubernetes:"):
            metadata = dict(state.get("metadata") or {})
            if not metadata.get("name"):
                # Auto-naming: a suffix from the content, so a data change is a new name
                # (as a replacement is in a real deploy) and an unchanged one is stable.
                # Secrets are hashed redacted: a Secret keeps its name when a value
                # changes (it is updated in place, as in a real deploy).
                content = {k: v for k, v in redact(state).items() if k != "metadata"}
                metadata["name"] = f"{args.name}-{_digest(content, 8)}"
            state["metadata"] = metadata
        return f"{args.name}-id", state

    def call(self, args: pulumi.runtime.MockCallArgs):
        return {}


def _context_tree(build: Mapping[str, Any]) -> str:
    """Digest of the build context's files, honouring .dockerignore, as docker.Image does to decide on a rebuild."""
    context = REPO_ROOT / str(build.get("context", "."))
    if not context.is_dir():
        return "missing"
    ignore_file = context / ".dockerignore"
    patterns = [
        line.strip() for line in (ignore_file.read_text().splitlines() if ignore_file.exists() else [])
        if line.strip() and not line.lstrip().startswith("#")
    ]

    def ignored(relative: str) -> bool:
        verdict = False
        for pattern in patterns:
            negate = pattern.startswith("!")
            pattern = pattern.lstrip("!").strip("/").removeprefix("**/")
            parts = relative.split("/")
            prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
            if any(fnmatch.fnmatch(p, pattern) for p in prefixes) or fnmatch.fnmatch(parts[-1], pattern):
                verdict = not negate
        return verdict

    files = []
    for directory, subdirs, names in os.walk(context):
        base = Path(directory).relative_to(context).as_posix()

        def join(name: str, base: str = base) -> str:
            return name if base == "." else f"{base}/{name}"

        subdirs[:] = [d for d in subdirs if not ignored(join(d))]  # never descend into node_modules & co
        files.extend(join(name) for name in names if not ignored(join(name)))
    hasher = hashlib.sha256()
    for relative in sorted(files):
        hasher.update(relative.encode() + b"\0" + (context / relative).read_bytes() + b"\0")
    return hasher.hexdigest()


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


def stack_config(stack: str, path: Optional[Path] = None) -> dict[str, str]:
    """The stack file's `config:` as Pulumi passes it to a program (objects JSON-encoded)."""
    path = path or REPO_ROOT / f"Pulumi.{stack}.yaml"
    document = yaml.safe_load(path.read_text()) or {}
    config = {}
    for key, value in (document.get("config") or {}).items():
        if isinstance(value, dict) and "secure" in value:
            continue  # ciphertext only the CLI can decrypt
        config[key] = value if isinstance(value, str) else json.dumps(value)
    return config


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
) -> SynthResult:
    """Run the program for `stack` under mocks and return what it registered.

    overrides: config keys (without the `mbhealth:` prefix); dicts merge into the stack file's objects.
    secrets: secret config values (default: SYNTH_SECRETS[stack]).
    remove: config keys to drop from the stack file.
    stack_outputs: other stacks' outputs, for `images.source: stack` (StackReference).
    """
    config = stack_config(stack)
    for key in remove:
        config.pop(f"{PROJECT}:{key}", None)
    for key, value in (overrides or {}).items():
        current = config.get(f"{PROJECT}:{key}")
        if isinstance(value, dict) and current and current.startswith("{"):
            value = deep_merge(json.loads(current), value)
        config[f"{PROJECT}:{key}"] = value if isinstance(value, str) else json.dumps(value)
    secret_values = dict(SYNTH_SECRETS.get(stack, {}) if secrets is None else secrets)
    for key, value in secret_values.items():
        config[f"{PROJECT}:{key}"] = value

    mocks = SynthMocks(stack_outputs)
    monitor = RecordingMonitor(mocks)
    settings.set_root_resource(None)  # a fresh root stack for every run
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=False, monitor=monitor)
    pulumi.runtime.set_all_config(config, secret_keys=[f"{PROJECT}:{key}" for key in secret_values])
    program = load_program()

    from components.config import load_stack_config

    settings.SETTINGS.rpc_manager.clear()
    settings.SETTINGS.outputs.clear()
    try:
        _sync_await(run_pulumi_func(lambda: program.deploy(load_stack_config())))
    except Exception as error:
        # Lets callers check that a failure happened before anything was created.
        error.registered_before_failure = list(monitor.registered)  # type: ignore[attr-defined]
        raise
    root = settings.get_root_resource()
    exports = {name: _resolve(value) for name, value in (root.outputs if root else {}).items()}
    return SynthResult(stack=stack, resources=monitor.registered, exports=exports)


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
    """One YAML file per object, secrets redacted; the directory holds nothing else."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.yaml"):
        old.unlink()
    paths = []
    for index, manifest in enumerate(result.manifests(redacted=True)):
        path = out_dir / manifest_filename(index, manifest)
        path.write_text(yaml.safe_dump(manifest, sort_keys=True))
        paths.append(path)
    (out_dir / "outputs.json").write_text(json.dumps(redact(result.exports), indent=2, sort_keys=True) + "\n")
    return paths


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True, choices=sorted(p.name.split(".")[1] for p in REPO_ROOT.glob("Pulumi.*.yaml")))
    parser.add_argument("--out", type=Path, help="output directory (default build/manifests/<stack>)")
    args = parser.parse_args(argv)
    from components.config import ConfigError

    started = time.perf_counter()
    try:
        result = synthesize(args.stack)
    except ConfigError as error:
        print(f"synth {args.stack}: {error}", file=sys.stderr)
        return 2
    out_dir = args.out or MANIFEST_DIR / args.stack
    paths = write_manifests(result, out_dir)
    elapsed = time.perf_counter() - started
    print(f"synth {args.stack}: {len(paths)} Kubernetes objects -> {out_dir.relative_to(REPO_ROOT) if out_dir.is_relative_to(REPO_ROOT) else out_dir} ({elapsed:.1f}s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
