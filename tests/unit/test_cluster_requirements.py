"""What the stack relies on in the cluster (issue 12, item 12), each a setting with today's value
as its default, checked where the API server can show it: cluster DNS (where and which pods), the
CNI enforcing NetworkPolicies, the resource metrics API for the HPAs, the ingress controller's
pods (in a namespace, or on the nodes' network), cert-manager for ingress.clusterIssuer."""

from __future__ import annotations

from pathlib import Path

import pytest

from components.cluster import ClusterError
from components.config import ConfigError
from scripts.synth import REPO_ROOT, synthesize


def stack_file(tmp_path: Path, stack: str, append: str, *edits: tuple[str, str]) -> Path:
    text = (REPO_ROOT / f"Pulumi.{stack}.yaml").read_text()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / f"Pulumi.{stack}.yaml"
    path.write_text(text + append)
    return path


def problems(stack: str, path: Path) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        synthesize(stack, stack_file=path)
    assert caught.value.registered_before_failure == []
    return caught.value.problems


def dns_peer(result) -> dict:
    (rule,) = result.get("NetworkPolicy", "allow-dns").manifest["spec"]["egress"]
    (peer,) = rule["to"]
    return peer


def controller_peers(result, name="frontend") -> list[dict]:
    rules = result.get("NetworkPolicy", f"allow-{name}").manifest["spec"]["ingress"]
    return [peer for rule in rules for peer in rule["from"] if "podSelector" not in peer]


def test_the_defaults_are_todays_assumptions(stack):
    assert dns_peer(stack) == {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
                               "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}
    assert controller_peers(stack) == [{"namespaceSelector": {"matchLabels": {
        "kubernetes.io/metadata.name": "ingress-nginx"}}}]


def test_cluster_dns_is_where_the_stack_says(tmp_path):
    path = stack_file(tmp_path, "dev", "  mbhealth:cluster:\n    dnsNamespace: dns-system\n"
                                       "    dnsSelector: {app.kubernetes.io/name: coredns}\n")
    assert dns_peer(synthesize("dev", stack_file=path)) == {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "dns-system"}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "coredns"}}}


def test_a_host_network_ingress_controller_is_allowed_by_the_nodes_networks(tmp_path):
    path = stack_file(tmp_path, "prod", "", ("    className: nginx\n", "    className: nginx\n"
                                             "    controllerHostNetwork: true\n    nodeCidrs: [10.10.0.0/16]\n"))
    result = synthesize("prod", stack_file=path)
    for name in ("frontend", "backend", "acme-http01-solver"):
        assert controller_peers(result, name) == [{"ipBlock": {"cidr": "10.10.0.0/16"}}], name


@pytest.mark.parametrize(
    "edit, key, fragment",
    [
        ("    controllerHostNetwork: true\n", "ingress.nodeCidrs", "missing while ingress.controllerHostNetwork is true"),
        ("    nodeCidrs: [10.10.0.0/16]\n", "ingress.nodeCidrs", "has no effect unless ingress.controllerHostNetwork"),
        ("    controllerHostNetwork: yes\n", "ingress.controllerHostNetwork", "true or false"),
    ],
)
def test_ingress_controller_settings_are_checked(tmp_path, edit, key, fragment):
    path = stack_file(tmp_path, "prod", "", ("    className: nginx\n", "    className: nginx\n" + edit))
    (line,) = [p for p in problems("prod", path) if p.startswith(f"mbhealth:{key}: ")]
    assert fragment in line


def test_without_the_metrics_api_autoscaling_is_a_config_error(tmp_path):
    path = stack_file(tmp_path, "prod", "  mbhealth:cluster:\n    metricsApi: false\n")
    keys = sorted(p.split(": ", 1)[0] for p in problems("prod", path))
    assert keys == [f"mbhealth:services.{name}.autoscaling" for name in ("backend", "frontend", "worker")]
    assert "HorizontalPodAutoscaler would never scale" in problems("prod", path)[0]


def test_a_cni_that_ignores_network_policies_is_refused_in_production_and_a_warning_in_dev(tmp_path):
    append = "  mbhealth:cluster:\n    enforcesNetworkPolicy: false\n"
    (line,) = problems("prod", stack_file(tmp_path, "prod", append))
    assert line.startswith("mbhealth:cluster.enforcesNetworkPolicy: false in a production stack")
    dev = synthesize("dev", stack_file=stack_file(tmp_path, "dev", append))
    assert any("cluster.enforcesNetworkPolicy: false" in note for note in dev.notes)


@pytest.mark.parametrize(
    "append, key, fragment",
    [
        ("  mbhealth:cluster:\n    dnsSelectr: {k8s-app: kube-dns}\n", "cluster.dnsSelectr", "did you mean `dnsSelector`"),
        ("  mbhealth:cluster:\n    dnsSelector: {}\n", "cluster.dnsSelector", "pod labels as a map"),
        ("  mbhealth:cluster:\n    dnsSelector: {k8s-app: kube dns}\n", "cluster.dnsSelector.k8s-app", "a label value"),
        ("  mbhealth:cluster:\n    dnsNamespace: Kube_System\n", "cluster.dnsNamespace", "DNS label"),
    ],
)
def test_cluster_settings_are_validated(tmp_path, append, key, fragment):
    (line,) = [p for p in problems("dev", stack_file(tmp_path, "dev", append)) if p.startswith(f"mbhealth:{key}: ")]
    assert fragment in line


def test_add_ons_the_stack_uses_must_be_served_by_the_cluster():
    with pytest.raises(ClusterError) as caught:
        synthesize("prod", cluster_apis=())
    assert caught.value.registered_before_failure == []
    metrics, cert_manager = str(caught.value).splitlines()
    assert metrics.startswith("cluster: the resource metrics API (metrics.k8s.io) is not served, so the "
                              "HorizontalPodAutoscalers of services.backend, services.frontend, services.worker")
    assert cert_manager.startswith("cluster: cert-manager's API (cert-manager.io/v1) is not served, so nothing would "
                                   "issue the certificate of ingress.clusterIssuer 'letsencrypt-prod'")


def test_a_stack_that_uses_no_add_on_needs_none():
    assert synthesize("dev", cluster_apis=()).get("Namespace", "mbhealth-dev")
