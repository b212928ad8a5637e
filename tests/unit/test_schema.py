"""Every synthesized object validates strictly (unknown fields rejected) against Kubernetes 1.31."""

from __future__ import annotations

import kubernetes_validate

KUBERNETES_VERSION = "1.31"


def test_every_object_validates_strictly(stack):
    manifests = stack.manifests(redacted=True)
    assert len(manifests) > 15
    for manifest in manifests:
        kubernetes_validate.validate(manifest, KUBERNETES_VERSION, strict=True)


def test_strict_validation_rejects_unknown_fields(dev):
    import pytest

    manifest = dev.get("Deployment", "backend").manifest
    broken = {**manifest, "spec": {**manifest["spec"], "replicaCount": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)
