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


# --- DNS answered off any pod: a node-local cache on the host network (issue 20, item 18) -------

DNS_PODS = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}}}
DNS_PORTS = [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]


def dns_rules(result) -> dict[str, list[dict]]:
    """Every NetworkPolicy's egress rules that open port 53, by policy name."""
    found = {}
    for policy in result.of_kind("NetworkPolicy"):
        rules = [rule for rule in policy.manifest["spec"].get("egress", [])
                 if any(port.get("port") == 53 for port in rule.get("ports", []))]
        if rules:
            found[policy.object_name] = rules
    return found


def test_unset_the_dns_rule_is_todays_exactly(stack):
    assert dns_rules(stack) == {"allow-dns": [{"to": [DNS_PODS], "ports": DNS_PORTS}]}
    assert stack.get("NetworkPolicy", "allow-dns").manifest["spec"] == {
        "podSelector": {}, "policyTypes": ["Egress"], "egress": [{"to": [DNS_PODS], "ports": DNS_PORTS}]}


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_dns_cidrs_are_allowed_on_port_53_beside_the_dns_pods(tmp_path, name):
    """GKE's NodeLocal DNSCache answers at 169.254.20.10 on the host network: no pod selector matches it."""
    path = stack_file(tmp_path, name, "  mbhealth:cluster:\n    dnsCidrs: [169.254.20.10/32, fd00:20::a/128]\n")
    result = synthesize(name, stack_file=path)
    assert dns_rules(result) == {"allow-dns": [{
        "to": [DNS_PODS, {"ipBlock": {"cidr": "169.254.20.10/32"}}, {"ipBlock": {"cidr": "fd00:20::a/128"}}],
        "ports": DNS_PORTS}]}
    # Nothing else opens to those networks: every other policy is as without the setting.
    others = {p.object_name: p.manifest for p in result.of_kind("NetworkPolicy") if p.object_name != "allow-dns"}
    plain = synthesize(name)
    assert others == {p.object_name: p.manifest for p in plain.of_kind("NetworkPolicy") if p.object_name != "allow-dns"}


CIDR = "an IPv4 or IPv6 network in CIDR notation, like 10.0.0.0/8"
DNS_CIDRS = ("a list of networks in CIDR notation that answer DNS on port 53, like [169.254.20.10/32] "
             "(a node-local DNS cache)")


@pytest.mark.parametrize(
    "value, line",
    [
        ("[169.254.20.10]", "cluster.dnsCidrs.0: got '169.254.20.10' (no prefix length); expected " + CIDR),
        ("[169.254.20.10/24]", "cluster.dnsCidrs.0: '169.254.20.10/24' has host bits set (the network is "
                               "169.254.20.0/24); expected " + CIDR),
        ("[dns.local/32]", "cluster.dnsCidrs.0: got 'dns.local/32'; expected " + CIDR),
        ("169.254.20.10/32", "cluster.dnsCidrs: got '169.254.20.10/32', not a list; expected " + DNS_CIDRS),
        ("[]", "cluster.dnsCidrs: got a list; expected " + DNS_CIDRS),
    ],
)
def test_dns_cidrs_are_validated(tmp_path, value, line):
    path = stack_file(tmp_path, "prod", f"  mbhealth:cluster:\n    dnsCidrs: {value}\n")
    assert problems("prod", path) == [f"mbhealth:{line}"]


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
