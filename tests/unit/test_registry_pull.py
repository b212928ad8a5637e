"""Image pull credentials, and one credential per use (issue 20, item 12).

The pull credential (`registry.pullUsername` + the secret `registryPullPassword`, a read token)
becomes a kubernetes.io/dockerconfigjson Secret (a Pulumi secret end to end) that every pod of
ours names; or `registry.pullSecretName` names one that exists. The push credential
(`registry.username` + `registryPassword`) reaches only the docker provider's registry login,
never the cluster; a stack that deploys promoted images pushes nothing and refuses it.
"""

from __future__ import annotations

import base64
import json

import pytest

from components.config import ConfigError
from scripts.secret_markers import is_secret, reveal
from scripts.synth import SYNTH_SECRETS, synthesize

OUR_PODS = (("Deployment", "backend"), ("Deployment", "worker"), ("Deployment", "frontend"), ("Job", "migrate"),
            ("Job", "smoke"))
DIGESTS = {"source": "digests", "digests": {
    "backend": "ghcr.io/mbhealth/mbhealth/backend@sha256:" + "a" * 64,
    "frontend": "ghcr.io/mbhealth/mbhealth/frontend@sha256:" + "b" * 64}}
PULL_TOKEN = "canary-pull-token-83c1"
PUSH_TOKEN = "canary-push-token-5d0e"
PUSHES = {"registry": {"username": "mbhealth-ci-push"}}  # prod as it would build, with a push login


def pull_secrets_of(result, kind, name):
    return result.get(kind, name).manifest["spec"]["template"]["spec"].get("imagePullSecrets")


def secrets_without(*keys):
    return {k: v for k, v in SYNTH_SECRETS["prod"].items() if k not in keys}


def only_problem(**kwargs) -> str:
    with pytest.raises(ConfigError) as caught:
        synthesize("prod", **kwargs)
    assert caught.value.registered_before_failure == []  # nothing was created
    (line,) = caught.value.problems
    return line


def test_the_pull_credential_becomes_a_pull_secret_every_pod_of_ours_names_and_holds_nothing_else():
    result = synthesize("prod", overrides=PUSHES,
                        secrets={**SYNTH_SECRETS["prod"], "registryPullPassword": PULL_TOKEN, "registryPassword": PUSH_TOKEN})
    (secret,) = [s for s in result.of_kind("Secret") if s.name == "registry-pull"]
    assert secret.manifest["type"] == "kubernetes.io/dockerconfigjson"
    string_data = secret.inputs["stringData"]
    # A Pulumi secret end to end: state, previews and synth output redact it.
    assert is_secret(string_data) or is_secret(string_data[".dockerconfigjson"])
    auth = base64.b64encode(f"mbhealth-ci:{PULL_TOKEN}".encode()).decode()
    assert json.loads(reveal(string_data)[".dockerconfigjson"]) == {
        "auths": {"ghcr.io": {"username": "mbhealth-ci", "password": PULL_TOKEN, "auth": auth}}}
    for kind, name in OUR_PODS:
        assert pull_secrets_of(result, kind, name) == [{"name": secret.object_name}], (kind, name)
    # The push credential logs the docker provider in, and is in no Kubernetes object at all.
    for image in (r for r in result.resources if r.type == "docker:index/image:Image"):
        assert is_secret(image.inputs["registry"])
        assert reveal(image.inputs["registry"]) == {"server": "ghcr.io", "username": "mbhealth-ci-push",
                                                    "password": PUSH_TOKEN}
    for resource in result.kubernetes():
        text = json.dumps(reveal(resource.inputs)) + json.dumps(reveal(resource.outputs))
        assert PUSH_TOKEN not in text and "mbhealth-ci-push" not in text, (resource.kind, resource.object_name)


def test_prod_as_committed_needs_only_the_pull_credential_and_promotes_with_it():
    assert "registryPassword" not in SYNTH_SECRETS["prod"]
    result = synthesize("prod", overrides={"images": DIGESTS})
    assert [r for r in result.resources if r.type == "docker:index/image:Image"] == []
    assert not [n for n in result.notes if n.startswith("warning: ") and "registry" in n]
    assert [s.name for s in result.of_kind("Secret") if s.name == "registry-pull"] == ["registry-pull"]


@pytest.mark.parametrize("images", [DIGESTS, {"source": "stack", "stack": "organization/mbhealth/dev"}],
                         ids=["digests", "stack"])
def test_a_stack_that_deploys_promoted_images_refuses_a_push_credential(images):
    line = only_problem(overrides={"images": images}, secrets={**SYNTH_SECRETS["prod"], "registryPassword": PUSH_TOKEN})
    assert line.startswith(f"mbhealth:registryPassword: a push credential, and nothing is pushed with images.source "
                           f"{images['source']}; expected no push token")
    assert "pulumi config rm --stack prod registryPassword" in line
    assert "pulumi config set --secret --stack prod registryPullPassword <read token>" in line
    assert PUSH_TOKEN not in line


def test_a_push_username_with_promoted_images_is_a_loud_warning():
    result = synthesize("prod", overrides={**PUSHES, "images": DIGESTS})
    assert any(note.startswith("warning: mbhealth:registry.username: has no effect with images.source digests")
               for note in result.notes)


def test_the_push_credential_is_required_to_push_with_a_username():
    line = only_problem(overrides=PUSHES)
    assert line.startswith("mbhealth:registryPassword: missing while registry.username is set and images are pushed "
                           "(images.source build); expected a secret, a token that can push: "
                           "pulumi config set --secret --stack prod registryPassword <push token>")


def test_the_pull_credential_is_required_with_a_pull_username():
    line = only_problem(secrets=secrets_without("registryPullPassword"))
    assert line.startswith("mbhealth:registryPullPassword: missing while registry.pullUsername is set")
    assert "pulumi config set --secret --stack prod registryPullPassword <read token>" in line


def test_each_password_needs_its_user_name():
    line = only_problem(overrides={"registry": {"pullUsername": None}})
    assert line.startswith("mbhealth:registry.pullUsername: missing while registryPullPassword is set")
    line = only_problem(secrets={**SYNTH_SECRETS["prod"], "registryPassword": PUSH_TOKEN})
    assert line.startswith("mbhealth:registry.username: missing while registryPassword is set")


def test_one_token_for_both_is_refused_without_showing_it():
    line = only_problem(overrides=PUSHES, secrets={**SYNTH_SECRETS["prod"], "registryPassword": PULL_TOKEN,
                                                   "registryPullPassword": PULL_TOKEN})
    assert line.startswith("mbhealth:registryPullPassword: the same token as registryPassword (value hidden)")
    assert PULL_TOKEN not in line


def test_no_credentials_no_pull_secret(dev):
    assert "registry-pull" not in [s.name for s in dev.of_kind("Secret")]
    for kind, name in OUR_PODS:
        assert pull_secrets_of(dev, kind, name) is None
    for name in ("postgres", "redis"):  # upstream images (dev only), not ours
        kind = "StatefulSet" if name == "postgres" else "Deployment"
        assert pull_secrets_of(dev, kind, name) is None


def test_a_push_credential_alone_never_makes_a_pull_secret_and_says_the_pods_pull_anonymously():
    result = synthesize("prod", overrides={"registry": {"username": "mbhealth-ci-push", "pullUsername": None}},
                        secrets={**secrets_without("registryPullPassword"), "registryPassword": PUSH_TOKEN})
    assert "registry-pull" not in [s.name for s in result.of_kind("Secret")]
    for kind, name in OUR_PODS:
        assert pull_secrets_of(result, kind, name) is None
    assert any(note.startswith("warning: mbhealth:registry: the cluster pulls our images anonymously")
               for note in result.notes)


def test_an_existing_pull_secret_is_named_instead_and_needs_no_password():
    result = synthesize("prod", overrides={"registry": {"pullSecretName": "ghcr-pull", "pullUsername": None},
                                           "images": DIGESTS},
                        secrets=secrets_without("registryPullPassword"))
    assert "registry-pull" not in [s.name for s in result.of_kind("Secret")]
    for kind, name in OUR_PODS:
        assert pull_secrets_of(result, kind, name) == [{"name": "ghcr-pull"}]


def test_a_pull_secret_name_beside_a_pull_credential_is_refused():
    line = only_problem(overrides={"registry": {"pullSecretName": "ghcr-pull"}})
    assert line.startswith("mbhealth:registry.pullUsername: a second source of the pull credential beside "
                           "registry.pullSecretName")


def test_a_pull_secret_name_is_validated():
    with pytest.raises(ConfigError) as caught:
        synthesize("prod", overrides={"registry": {"pullSecretName": "GHCR pull", "pullUsername": None}},
                   secrets=secrets_without("registryPullPassword"))
    (line,) = caught.value.problems
    assert line.startswith("mbhealth:registry.pullSecretName: got 'GHCR pull'; expected a Kubernetes Secret name")
