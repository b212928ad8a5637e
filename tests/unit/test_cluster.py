"""The cluster must run Kubernetes >= 1.30 (issue 12, item 10): read from the provider's cluster
through pulumi-kubernetes' helm template invoke, before any resource, with a clear message."""

from __future__ import annotations

import logging

import pytest
import yaml

from components.cluster import (
    HELM_TEMPLATE,
    VERSION_CHART,
    ClusterError,
    ServerVersion,
    helm_template_opts,
    version_problem,
)
from scripts.synth import synthesize


@pytest.mark.parametrize("stack", ["dev", "prod"])
@pytest.mark.parametrize("old", ["v1.29.8-gke.1211000", "v1.28.3", "v1.29.0-eks-a737599"])
def test_an_older_cluster_fails_before_anything_is_deployed(stack, old):
    with pytest.raises(ClusterError) as caught:
        synthesize(stack, kubernetes_version=old)
    assert str(caught.value) == (
        f"cluster: the API server runs Kubernetes {old}, older than 1.30; expected Kubernetes 1.30 or later "
        "(the preStop sleep action every long-running container pauses in): upgrade the cluster or deploy to "
        "another one")
    assert caught.value.registered_before_failure == []  # not even the Namespace


@pytest.mark.parametrize("new", ["v1.30.0", "v1.30.4-eks-a737599", "v1.31.2", "v1.34.1+k3s1", "v2.0.0"])
def test_a_cluster_of_1_30_or_later_is_accepted(new):
    assert version_problem(ServerVersion(new, discovered=True)) is None
    assert synthesize("dev", kubernetes_version=new).get("Namespace", "mbhealth-dev")


def test_a_version_that_is_not_one_is_refused():
    assert "reports version 'unknown'; expected Kubernetes 1.30 or later" in version_problem(ServerVersion("unknown", True))


def test_an_unreachable_cluster_is_a_warning_in_a_preview():
    """A preview with no cluster (Helm's offline defaults: v1.20.0, undiscovered) still previews."""
    records: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record.getMessage())

    engine_log = logging.getLogger("mbhealth.synth.engine")
    handler = Keep()
    engine_log.addHandler(handler)
    try:
        result = synthesize("dev", kubernetes_version=None, preview=True)
    finally:
        engine_log.removeHandler(handler)
    assert result.get("Namespace", "mbhealth-dev")
    assert any(r.startswith("cluster: could not read the Kubernetes version") and "1.30 or later" in r for r in records)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_an_unreachable_cluster_stops_an_update_before_anything_is_sent(stack):
    with pytest.raises(ClusterError) as caught:
        synthesize(stack, kubernetes_version=None)
    assert str(caught.value).startswith("cluster: the API server does not answer")
    assert "\n" not in str(caught.value) and "KUBE_CONTEXT" in str(caught.value)
    assert caught.value.registered_before_failure == []


def test_the_version_chart_reads_the_servers_capabilities():
    """The chart the invoke renders: a local path, a ConfigMap with the version and whether it was discovered."""
    opts = helm_template_opts()
    assert (VERSION_CHART.parent / opts["chart"] / "Chart.yaml").is_file()
    chart = yaml.safe_load((VERSION_CHART / "Chart.yaml").read_text())
    assert chart["name"] == opts["chart"] and "kubeVersion" not in chart  # our message, not Helm's
    template = (VERSION_CHART / "templates" / "version.yaml").read_text()
    rendered = yaml.safe_load(template)  # valid YAML as written (make lint)
    assert rendered["kind"] == "ConfigMap" and rendered["metadata"]["name"] == "cluster-version"
    assert rendered["data"]["gitVersion"] == "{{ .Capabilities.KubeVersion.Version }}"
    # apiregistration.k8s.io/v1 is served by every API server but not in Helm's offline default set.
    assert rendered["data"]["discovered"] == '{{ .Capabilities.APIVersions.Has "apiregistration.k8s.io/v1" }}'
    assert HELM_TEMPLATE == "kubernetes:helm:template"

