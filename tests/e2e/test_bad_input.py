"""Bad input through the real CLI: each mistake fails fast, with one line that names the cause,
and leaves the stack's state usable (the next `make preview` sees no change).

Most run against the session's deployed dev stack (conftest `deployed`); the ones that must
start from nothing use a copy and a state backend of their own.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from pathlib import Path

import yaml

from tests.e2e import engine
from tests.e2e.apiproxy import VersionProxy
from tests.e2e.engine import Deployed, make
from tests.support.services import free_port

# A mistake must stop the run long before any deploy timeout (the Jobs' 10 minutes): a bound
# that catches "waits for a timeout", not a performance figure (bench/e2e.md has those).
FAST = 180


def _failed(result, seconds: float, *, traceback_free: bool = True) -> str:
    text = result.stdout + result.stderr
    assert result.returncode != 0, text[-3000:]
    assert seconds < FAST, f"took {seconds:.0f}s to fail:\n{text[-3000:]}"
    if traceback_free:
        assert "Traceback (most recent call last)" not in text, text[-5000:]
    return text


def _timed_make(target: str, project: Path, env: dict[str, str], *args: str):
    started = time.monotonic()
    result = make(target, project, env, *args, check=False)
    return result, time.monotonic() - started


def _still_usable(deployed: Deployed) -> None:
    make("preview", deployed.project, deployed.env, "PULUMI_ARGS=--expect-no-changes")


def _base_images(env: dict[str, str], project: Path) -> str:
    """The stand-in bases scripts/stack.sh builds on with the local control plane (it skips them
    when KUBE_CONTEXT names a cluster, which these tests do)."""
    out = engine.run([str(project / ".venv" / "bin" / "python"), "tools/standins/forge_bases.py", "--json"], env=env,
                     cwd=project)
    return out.stdout.strip()


def _kubeconfig_to(path: Path, server: str, context: str) -> None:
    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": context,
        "clusters": [{"name": context, "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
        "users": [{"name": context, "user": {"token": "unused"}}],
        "contexts": [{"name": context, "context": {"cluster": context, "user": context}}],
    }))


def test_a_wrong_passphrase_fails_with_that_cause(deployed: Deployed) -> None:
    env = dict(deployed.env, PULUMI_CONFIG_PASSPHRASE="not-the-dev-passphrase")
    result, seconds = _timed_make("up", deployed.project, env)
    text = _failed(result, seconds)
    assert "incorrect passphrase" in text, text[-2000:]
    _still_usable(deployed)


def test_an_unreachable_api_server_fails_before_anything_is_sent(deployed: Deployed, tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    _kubeconfig_to(kubeconfig, f"https://127.0.0.1:{free_port()}", "gone")
    env = dict(deployed.env, KUBECONFIG=str(kubeconfig), KUBE_CONTEXT="gone",
               MBH_BASE_IMAGES=_base_images(deployed.env, deployed.project))
    result, seconds = _timed_make("up", deployed.project, env)
    text = _failed(result, seconds)
    lines = [line for line in text.splitlines() if "cluster: the API server does not answer" in line]
    assert lines, text[-3000:]
    _still_usable(deployed)


def test_a_stopped_registry_fails_at_the_push_naming_the_registry(deployed: Deployed) -> None:
    stack_file = deployed.project / "Pulumi.dev.yaml"
    committed = stack_file.read_text()
    closed = f"127.0.0.1:{free_port()}"
    engine.set_stack_value(deployed.project, "dev", "registry.server", closed)
    try:
        result, seconds = _timed_make("up", deployed.project, deployed.env)
    finally:
        stack_file.write_text(committed)
    _failed(result, seconds)
    said = [line for line in result.stderr.splitlines() if line.startswith("prebuilt-images: ")]
    assert re.match(rf"prebuilt-images: \w+: the push to registry {re.escape(closed)} failed: ", said[-1]), said
    _still_usable(deployed)


def test_a_missing_prod_secret_is_one_line_and_nothing_is_created(cluster: engine.LocalCluster,
                                                                   tmp_path: Path) -> None:
    project = engine.copy_checkout(tmp_path / "project")
    passphrase = "e2e-" + secrets.token_hex(8)
    env = dict(cluster.make_env(tmp_path / "state", stack="prod"), PULUMI_CONFIG_PASSPHRASE=passphrase)
    stack = engine.Stack(project, "prod", dict(env), passphrase=passphrase)
    stack.init()
    # Prod as deploy.yml runs it: the release's digests promoted; every secret set but one.
    digests = {name: f"ghcr.io/mbhealth/mbhealth/{name}@sha256:" + secrets.token_hex(32)
               for name in ("backend", "frontend")}
    engine.set_stack_value(project, "prod", "images", {"source": "digests", "digests": digests})
    for key, value in {"databaseUrl": "postgresql://mbhealth:pw@10.0.1.5:5432/mbhealth",
                       "redisUrl": "rediss://:pw@10.0.2.5:6380/0",
                       "registryPullPassword": "token-" + secrets.token_hex(8)}.items():
        stack.config_set(f"mbhealth:{key}", value, secret=True)

    result, seconds = _timed_make("up", project, env)
    text = _failed(result, seconds)
    wanted = "mbhealth:secretKey: missing in a production stack; expected a secret"
    lines = [line for line in text.splitlines() if wanted in line]
    assert lines, text[-3000:]
    assert "pulumi config set --secret --stack prod secretKey" in lines[0]
    # Nothing reached the cluster, and the stack's state holds no resource.
    assert cluster.kubectl("get", "namespace", "mbhealth", "--ignore-not-found", "-o", "name").stdout.strip() == ""
    assert [r["type"] for r in stack.resources() if r["type"] != "pulumi:pulumi:Stack"] == []


def test_an_api_server_older_than_1_30_is_refused_before_anything_is_sent(cluster: engine.LocalCluster,
                                                                          tmp_path: Path) -> None:
    """Issue 12 item 10 under the engine: the provider's own discovery of the real API server,
    with only its version rewritten to 1.29."""
    project = engine.copy_checkout(tmp_path / "project")
    env = cluster.make_env(tmp_path / "state")
    with VersionProxy(cluster.kubeconfig, "v1.29.8", tmp_path) as proxy:
        answered = json.loads(engine.run(["kubectl", "--kubeconfig", str(proxy.kubeconfig()), "version", "-o", "json"],
                                         env=env).stdout)
        assert answered["serverVersion"]["gitVersion"] == "v1.29.8"
        env.update(KUBECONFIG=str(proxy.kubeconfig()), KUBE_CONTEXT="old-cluster",
                   MBH_BASE_IMAGES=_base_images(env, project))
        result, seconds = _timed_make("up", project, env)
        text = _failed(result, seconds)
        assert ("cluster: the API server runs Kubernetes v1.29.8, older than 1.30; expected Kubernetes 1.30 or later"
                in text), text[-3000:]
        assert proxy.writes == [], f"requests that change the cluster reached it: {proxy.writes}"
    stack = engine.Stack(project, "dev", dict(env), passphrase="mbhealth-dev-local")
    assert [r["type"] for r in stack.resources() if r["type"] != "pulumi:pulumi:Stack"] == []


def test_a_missing_provider_plugin_is_an_error_never_a_download(deployed: Deployed, tmp_path: Path) -> None:
    """Issue 10: PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION (tools/engine/env.sh): with a Pulumi
    home that lacks the providers, the engine names the missing plugin and downloads nothing."""
    env = engine.stack_env(deployed.env, deployed.project)
    assert env["PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION"] == "true"
    env["PULUMI_HOME"] = str(tmp_path / "empty-pulumi-home")
    generated = deployed.project / ".pulumi-state" / "config" / "Pulumi.dev.yaml"
    started = time.monotonic()
    result = engine.run(["pulumi", "preview", "--stack", "dev", "--config-file", str(generated), "--non-interactive"],
                        env=env, cwd=deployed.project, check=False, timeout=600)
    # (When the engine stops the program mid-registration, the Python SDK may print an asyncio
    # "Leaving task" traceback of its own after the engine's error: not ours to silence.)
    text = _failed(result, time.monotonic() - started, traceback_free=False)
    assert re.search(r"no resource plugin 'pulumi-resource-(kubernetes|random)' found", text), text[-3000:]
    assert "downloading" not in text.lower() and "get.pulumi.com" not in text, text[-3000:]
    assert not list((tmp_path / "empty-pulumi-home").glob("plugins/resource-*")), "a plugin was acquired"
    _still_usable(deployed)
