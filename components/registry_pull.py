"""Image pull credentials: how every pod that runs our images authenticates to the stack's registry.

With `registry.pullUsername` and the secret `registryPullPassword` (a token that can only read)
the program creates a `kubernetes.io/dockerconfigjson` Secret from them, a Pulumi secret end to
end, and every pod that pulls our images (the Deployments, the migrate and smoke Jobs) names it
in `imagePullSecrets`. `registry.pullSecretName` names one that already exists in the namespace
instead (made by the platform team, an operator, or a cloud's credential helper): nothing is
created and no password is needed to pull. Without either, pods pull anonymously (a public
registry, or nodes that hold the credentials). The push credential (`registry.username`,
`registryPassword`) is never read here: it reaches only the docker provider's registry login.
"""

from __future__ import annotations

import base64
import json
from typing import Mapping, Optional

import pulumi
import pulumi_kubernetes as k8s

from components.config import RegistryConfig

PULL_SECRET_TYPE = "kubernetes.io/dockerconfigjson"


def docker_config_json(server: str, username: str, password: str) -> str:
    """The `.dockerconfigjson` of one registry host (what `kubectl create secret docker-registry` writes)."""
    auth = base64.b64encode(f"{username}:{password}".encode()).decode()
    return json.dumps({"auths": {server: {"username": username, "password": password, "auth": auth}}}, sort_keys=True)


def image_pull_secrets(
    registry: RegistryConfig,
    namespace: pulumi.Input[str],
    labels: Mapping[str, str],
    opts: Optional[pulumi.ResourceOptions] = None,
) -> list[pulumi.Input[str]]:
    """The Secret names pods pull our images with: created from the pull credential, or configured."""
    if registry.pull_secret_name:
        return [registry.pull_secret_name]
    if not registry.pull_username:
        return []
    assert registry.pull_password is not None  # RegistryConfig requires it with registry.pullUsername
    content = pulumi.Output.secret(registry.pull_password).apply(
        lambda password: docker_config_json(registry.host, registry.pull_username or "", password))
    secret = k8s.core.v1.Secret(
        "registry-pull",
        metadata=k8s.meta.v1.ObjectMetaArgs(namespace=namespace, labels=dict(labels)),
        type=PULL_SECRET_TYPE,
        string_data={".dockerconfigjson": pulumi.Output.secret(content)},
        opts=opts,
    )
    return [secret.metadata.name]
