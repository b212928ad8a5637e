"""A service's 12-factor environment: plain values in a ConfigMap, secrets in a Secret.

Pulumi secrets only ever reach the Secret's `stringData`; containers read both
through `envFrom`, so no secret is an env literal.

Both are auto-named, and pulumi-kubernetes 4.25 replaces both on a data change: the
ConfigMap because it is immutable, the Secret because the provider replaces a Secret whose
`data`/`stringData`/`type` changes unless the provider sets `enableSecretMutable` (its
diff's forceNew rule; this program does not set it). An auto-named replacement is created
under a new name before the old one is deleted, so every pod template that reads it changes.
A checksum over both data sets also goes into each such pod template (the Deployments' and
the migrate Job's): the roll and the re-run of the migrations follow the values themselves,
and would survive a provider that updates Secrets in place.
"""

from __future__ import annotations

import hashlib
import json
from typing import Mapping, Optional

import pulumi
import pulumi_kubernetes as k8s

from components.workload import EnvSources


def checksum(plain: Mapping[str, str], secret: Mapping[str, str]) -> str:
    """sha256 over both data sets. It changes whenever any value changes.

    The secret values always include the application's SECRET_KEY (32+ random
    characters), so the digest cannot be brute-forced back to a low-entropy value.
    """
    payload = json.dumps({"config": dict(plain), "secret": dict(secret)}, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


class AppEnvironment(pulumi.ComponentResource):
    """ConfigMap + optional Secret for one service's environment variables."""

    sources: EnvSources

    def __init__(
        self,
        name: str,
        namespace: pulumi.Input[str],
        labels: Mapping[str, str],
        plain: Mapping[str, pulumi.Input[str]],
        secret: Optional[Mapping[str, pulumi.Input[str]]] = None,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("mbhealth:app:AppEnvironment", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        overlap = set(plain) & set(secret or {})
        if overlap:
            raise ValueError(f"{name}: {sorted(overlap)} set both as plain config and as secret")
        config_map = k8s.core.v1.ConfigMap(
            name,
            metadata=k8s.meta.v1.ObjectMetaArgs(namespace=namespace, labels=dict(labels)),
            immutable=True,
            data=dict(plain),
            opts=child,
        )
        secret_resource = None
        secret_values: pulumi.Output[Mapping[str, str]] = pulumi.Output.from_input({})
        if secret:
            secret_values = pulumi.Output.secret(pulumi.Output.all(**secret))
            secret_resource = k8s.core.v1.Secret(
                name,
                metadata=k8s.meta.v1.ObjectMetaArgs(namespace=namespace, labels=dict(labels)),
                type="Opaque",
                string_data=secret_values,
                opts=child,
            )
        digest = pulumi.Output.all(pulumi.Output.all(**plain), secret_values).apply(lambda both: checksum(both[0], both[1]))
        self.sources = EnvSources(
            config_map_name=config_map.metadata.name,
            secret_name=secret_resource.metadata.name if secret_resource else None,
            # A digest reveals nothing usable; unsecret it so Deployment diffs stay readable.
            checksum=pulumi.Output.unsecret(digest),
        )
        self.register_outputs({"configMap": config_map.metadata.name})
