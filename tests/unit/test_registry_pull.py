"""Image pull credentials (issue 12, item 2) and when registryPassword is needed (item 4).

With registry credentials the program makes a kubernetes.io/dockerconfigjson Secret from them
(a Pulumi secret end to end) and every pod that pulls our images names it; or it takes the
name of a pull Secret that already exists. The password is required only when something is
pushed or when the program must make the pull Secret.
"""

from __future__ import annotations

import base64
import json

import pytest

from components.config import ConfigError
from scripts.synth import SYNTH_SECRETS, is_secret, reveal, synthesize

OUR_PODS = (("Deployment", "backend"), ("Deployment", "worker"), ("Deployment", "frontend"), ("Job", "migrate"),
            ("Job", "smoke"))
DIGESTS = {"source": "digests", "digests": {
    "backend": "ghcr.io/mbhealth/mbhealth/backend@sha256:" + "a" * 64,
    "frontend": "ghcr.io/mbhealth/mbhealth/frontend@sha256:" + "b" * 64}}
TOKEN = "canary-pull-token-83c1"


def pull_secrets_of(result, kind, name):
    return result.get(kind, name).manifest["spec"]["template"]["spec"].get("imagePullSecrets")


def secrets_without(*keys):
    return {k: v for k, v in SYNTH_SECRETS["prod"].items() if k not in keys}


def test_registry_credentials_become_a_pull_secret_every_pod_of_ours_names():
    result = synthesize("prod", secrets={**SYNTH_SECRETS["prod"], "registryPassword": TOKEN})
    (secret,) = [s for s in result.of_kind("Secret") if s.name == "registry-pull"]
    assert secret.manifest["type"] == "kubernetes.io/dockerconfigjson"
    string_data = secret.inputs["stringData"]
    # A Pulumi secret end to end: state, previews and synth output redact it.
    assert is_secret(string_data) or is_secret(string_data[".dockerconfigjson"])
    auth = base64.b64encode(f"mbhealth-ci:{TOKEN}".encode()).decode()
    assert json.loads(reveal(string_data)[".dockerconfigjson"]) == {"auths": {"ghcr.io": {"username": "mbhealth-ci", "password": TOKEN,
                                                                 "auth": auth}}}
    for kind, name in OUR_PODS:
        assert pull_secrets_of(result, kind, name) == [{"name": secret.object_name}], (kind, name)


def test_no_credentials_no_pull_secret(dev):
    assert "registry-pull" not in [s.name for s in dev.of_kind("Secret")]
    for kind, name in OUR_PODS:
        assert pull_secrets_of(dev, kind, name) is None
    for name in ("postgres", "redis"):  # upstream images (dev only), not ours
        kind = "StatefulSet" if name == "postgres" else "Deployment"
        assert pull_secrets_of(dev, kind, name) is None


def test_an_existing_pull_secret_is_named_instead_and_needs_no_password():
    result = synthesize("prod", overrides={"registry": {"pullSecretName": "ghcr-pull"}, "images": DIGESTS},
                        secrets=secrets_without("registryPassword"))
    assert "registry-pull" not in [s.name for s in result.of_kind("Secret")]
    for kind, name in OUR_PODS:
        assert pull_secrets_of(result, kind, name) == [{"name": "ghcr-pull"}]


def test_a_pull_secret_name_is_validated():
    with pytest.raises(ConfigError) as caught:
        synthesize("prod", overrides={"registry": {"pullSecretName": "GHCR pull"}})
    (line,) = caught.value.problems
    assert line.startswith("mbhealth:registry.pullSecretName: got 'GHCR pull'; expected a Kubernetes Secret name")


@pytest.mark.parametrize(
    "overrides, why",
    [
        ({}, "images are pushed (images.source build)"),
        ({"images": DIGESTS}, "the cluster pulls with it (no registry.pullSecretName)"),
        ({"registry": {"pullSecretName": "ghcr-pull"}}, "images are pushed (images.source build)"),
    ],
)
def test_registry_password_is_required_only_to_push_or_to_make_the_pull_secret(overrides, why):
    with pytest.raises(ConfigError) as caught:
        synthesize("prod", overrides=overrides, secrets=secrets_without("registryPassword"))
    (line,) = caught.value.problems
    assert line.startswith(f"mbhealth:registryPassword: missing while registry.username is set and {why}")
    assert "pulumi config set --secret --stack prod registryPassword <token>" in line


def test_an_unused_registry_password_is_a_loud_warning():
    result = synthesize("prod", overrides={"registry": {"pullSecretName": "ghcr-pull"}, "images": DIGESTS})
    assert any(note.startswith("warning: mbhealth:registryPassword: has no effect with images.source digests")
               for note in result.notes)
