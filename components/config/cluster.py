"""`mbhealth:cluster`: what the program assumes of the cluster (README "What a cluster must have")."""

from __future__ import annotations

from pydantic import Field

from components.config.forms import DnsCidrList, DnsLabel, Flag, PodLabels
from components.config.model import Model, null_is_unset


class ClusterConfig(Model):
    dns_namespace: DnsLabel = Field("kube-system", alias="dnsNamespace")  # where the cluster DNS runs (allow-dns)
    dns_selector: PodLabels = Field(default_factory=lambda: {"k8s-app": "kube-dns"}, alias="dnsSelector")  # its pods
    # Networks that answer DNS outside any pod the selector can match (a node-local cache on the host
    # network, e.g. GKE NodeLocal DNSCache at 169.254.20.10/32): allowed on port 53 as well.
    dns_cidrs: DnsCidrList = Field((), alias="dnsCidrs")
    metrics_api: Flag = Field(True, alias="metricsApi")  # metrics.k8s.io is served (metrics-server): HPAs can scale
    # The CNI enforces NetworkPolicies (Calico, Cilium, …).
    enforces_network_policy: Flag = Field(True, alias="enforcesNetworkPolicy")
    _nulls = null_is_unset("dnsCidrs")
