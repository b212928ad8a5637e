"""Secrets stay secret: only a Kubernetes Secret ever holds them, and synth output redacts them."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from scripts.manifest_files import write_manifests
from scripts.secret_markers import REDACTED, is_secret, reveal
from scripts.synth import REPO_ROOT, synthesize

CANARIES = {
    "secretKey": "canary-secret-key-7d1e0c9a4b6f48e2a1c3d5f7b9e0a2c4",
    "databaseUrl": "postgresql://app:canary-db-password-51f3@db.internal:5432/mbhealth",
    "redisUrl": "rediss://:canary-redis-password-9e2b@cache.internal:6380/0",
    "registryPassword": "canary-registry-push-token-c4d8",  # with registry.username: pushes
    "registryPullPassword": "canary-registry-pull-token-e71a",  # with registry.pullUsername: the pull Secret
}
NEEDLES = ("canary-secret-key", "canary-db-password", "canary-redis-password", "canary-registry-push-token",
           "canary-registry-pull-token")


@pytest.fixture(scope="module")
def canary_prod():
    """prod as it would build: both credentials, the push one beside the pull one prod always has."""
    return synthesize("prod", overrides={"registry": {"username": "mbhealth-ci-push"}}, secrets=CANARIES)


def plaintext(value) -> str:
    """Everything of a value that is *not* wrapped as a Pulumi secret."""
    if is_secret(value):
        return ""
    if isinstance(value, dict):
        return " ".join(f"{k} {plaintext(v)}" for k, v in value.items())
    if isinstance(value, list):
        return " ".join(plaintext(v) for v in value)
    return str(value)


def test_secrets_reach_only_kubernetes_secrets_and_registry_login(canary_prod):
    for resource in canary_prod.resources:
        text = plaintext(resource.inputs) + plaintext(resource.outputs)
        for needle in NEEDLES:
            assert needle not in text, f"{needle} in plaintext of {resource.type} {resource.name}"
    holders = {
        (r.type, r.name)
        for r in canary_prod.resources
        if any(n in json.dumps(reveal(r.inputs)) for n in NEEDLES)
    }
    assert holders == {("kubernetes:core/v1:Secret", "backend-env"), ("kubernetes:core/v1:Secret", "registry-pull"),
                       ("docker:index/image:Image", "backend"), ("docker:index/image:Image", "frontend")}


def test_the_push_credential_reaches_only_the_docker_login_and_the_pull_credential_only_the_pull_secret(canary_prod):
    def holders(needle):
        return {(r.type, r.name) for r in canary_prod.resources if needle in json.dumps(reveal(r.inputs))}

    assert holders("canary-registry-push-token") == {("docker:index/image:Image", "backend"),
                                                     ("docker:index/image:Image", "frontend")}
    for image in (r for r in canary_prod.resources if r.type == "docker:index/image:Image"):
        assert "canary-registry-push-token" in json.dumps(reveal(image.inputs["registry"]))
        assert "canary-registry-pull-token" not in json.dumps(reveal(image.inputs))
    assert holders("canary-registry-pull-token") == {("kubernetes:core/v1:Secret", "registry-pull")}
    for resource in canary_prod.kubernetes():  # no Kubernetes object holds the push token, however deep
        assert "canary-registry-push-token" not in json.dumps(reveal(resource.inputs) | reveal(resource.outputs))


def test_no_secret_in_configmaps_env_literals_or_build_args(canary_prod):
    for cm in canary_prod.of_kind("ConfigMap"):
        assert not any(n in json.dumps(reveal(cm.manifest)) for n in NEEDLES)
    for manifest in canary_prod.manifests(redacted=False):
        spec = manifest.get("spec", {}).get("template", {}).get("spec", {})
        for c in spec.get("containers", []):
            literals = json.dumps([e.get("value") for e in c.get("env", [])])
            assert not any(n in literals for n in NEEDLES)
    for image in (r for r in canary_prod.resources if r.type == "docker:index/image:Image"):
        args = json.dumps(reveal(image.inputs["build"]).get("args", {}))
        assert not any(n in args for n in NEEDLES)


def test_generated_dev_secrets_are_secret_too():
    dev = synthesize("dev")
    generated = [r.outputs["result"] for r in dev.resources if r.type == "random:index/randomPassword:RandomPassword"]
    assert len(generated) == 3  # SECRET_KEY, PostgreSQL and Redis passwords
    values = [reveal(v) for v in generated]
    for resource in dev.kubernetes():
        text = plaintext(resource.manifest)
        assert not any(v in text for v in values), (resource.kind, resource.object_name)


def test_synth_output_redacts_every_secret(canary_prod, tmp_path):
    paths = write_manifests(canary_prod, tmp_path)
    everything = "".join(p.read_text() for p in tmp_path.iterdir())
    assert paths and not any(n in everything for n in NEEDLES)
    secret = next(yaml.safe_load(p.read_text()) for p in paths if "-secret-backend-env" in p.name)
    assert secret["stringData"] == {k: REDACTED for k in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY")}
    outputs = json.loads((tmp_path / "outputs.json").read_text())
    assert set(outputs) == {"images", "namespace", "services", "url"}


def test_synth_never_prints_secrets(tmp_path):
    """The CLI's own output (what CI logs) carries no stand-in secret either."""
    run = subprocess.run([sys.executable, "scripts/synth.py", "--stack", "prod", "--out", str(tmp_path)],
                         cwd=REPO_ROOT, capture_output=True, text=True, timeout=120, check=True)
    assert "synth-only" not in run.stdout + run.stderr
