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

The pieces: scripts/mock_engine.py (the mock engine and its stand-ins), scripts/rebuild_digest.py and
scripts/build_context.py (the stand-in image digests), scripts/synth_result.py (what a run registered),
scripts/secret_markers.py (secret values and redaction), scripts/manifest_files.py (the output directory).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import re
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import pulumi  # noqa: E402
from pulumi.runtime import settings  # noqa: E402
from pulumi.runtime.stack import run_pulumi_func  # noqa: E402
from pulumi.runtime.sync_await import _sync_await  # noqa: E402

from components import external_data  # noqa: E402
from components.config import PROJECT, deep_merge  # noqa: E402
from components.stack_file import StackFile, StackFileError, engine_string, engine_strings, load_stack_file  # noqa: E402
from scripts.manifest_files import remove_output, write_manifests  # noqa: E402
from scripts.mock_engine import ENGINE_LOG, STAND_IN_CLUSTER_APIS, STAND_IN_KUBERNETES, RecordingMonitor, SynthMocks  # noqa: E402
from scripts.secret_markers import SECRET_SIG, SECRET_SIG_KEY  # noqa: E402
from scripts.synth_result import SynthResult  # noqa: E402

MANIFEST_DIR = REPO_ROOT / "build" / "manifests"
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
    pulumi.runtime.set_mocks(mocks, project=PROJECT, stack=stack, preview=preview, monitor=monitor, logger=ENGINE_LOG)
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
