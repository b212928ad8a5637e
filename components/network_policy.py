"""NetworkPolicies: deny everything in the namespace, then allow exactly the application's flows.

    ingress controller -> frontend:8080, backend:8000 (/api)
    frontend -> backend:8000
    backend, worker, migrate -> PostgreSQL;  backend, worker -> Redis
        in-cluster: their pods on 5432 / 6379;
        managed (prod): the networks and port the stack names for each (dataServices.postgres/redis)
    every pod -> cluster DNS:53 (cluster.dnsNamespace, pods cluster.dnsSelector; and the networks
        cluster.dnsCidrs names, for DNS answered off any pod, e.g. a node-local cache)
The ingress controller is allowed by its namespace (ingress.controllerNamespace), or, when it
runs on the host network, by the nodes' networks (ingress.nodeCidrs).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.build_specs import BACKEND_API, FRONTEND_WEB
from components.config import ClusterConfig
from components.data_services import DataEndpoints
from components.labels import selector_labels

DNS_PORT = 53
# cert-manager's ACME HTTP-01 solver pods (ingress.clusterIssuer): the controller forwards the challenge to them.
ACME_SOLVER_LABELS = {"acme.cert-manager.io/http01-solver": "true"}
ACME_SOLVER_PORT = 8089


@dataclass(frozen=True)
class Flow:
    """Pods named `source` may open TCP connections to pods named `target` on `port`.

    A data service (`postgres`, `redis`) has no port here: its endpoint says where it listens.
    """

    source: str
    target: str
    port: Optional[int] = None


def _pods(name: str) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    return k8s.networking.v1.NetworkPolicyPeerArgs(pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector_labels(name)))


def _namespace(name: str) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    return k8s.networking.v1.NetworkPolicyPeerArgs(
        namespace_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"kubernetes.io/metadata.name": name})
    )


def _tcp(port: int) -> list[k8s.networking.v1.NetworkPolicyPortArgs]:
    return [k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=port)]


class NetworkPolicies(pulumi.ComponentResource):
    def __init__(
        self,
        namespace: pulumi.Input[str],
        labels: dict[str, str],
        ingress_namespace: str,
        public_ports: dict[str, int],
        flows: Sequence[Flow],
        data: DataEndpoints,
        acme_http01: bool = False,
        cluster: ClusterConfig = ClusterConfig(),
        ingress_node_cidrs: Sequence[str] = (),
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("mbhealth:app:NetworkPolicies", "network", None, opts)
        child = pulumi.ResourceOptions(parent=self)

        def policy(name: str, spec: k8s.networking.v1.NetworkPolicySpecArgs) -> None:
            k8s.networking.v1.NetworkPolicy(
                name,
                metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=labels),
                spec=spec,
                opts=child,
            )

        everything = k8s.meta.v1.LabelSelectorArgs()
        policy("default-deny", k8s.networking.v1.NetworkPolicySpecArgs(pod_selector=everything, policy_types=["Ingress", "Egress"]))
        policy(
            "allow-dns",
            k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=everything,
                policy_types=["Egress"],
                egress=[
                    k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                        to=[
                            k8s.networking.v1.NetworkPolicyPeerArgs(
                                namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                                    match_labels={"kubernetes.io/metadata.name": cluster.dns_namespace}),
                                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(cluster.dns_selector)),
                            ),
                            *(k8s.networking.v1.NetworkPolicyPeerArgs(ip_block=k8s.networking.v1.IPBlockArgs(cidr=cidr))
                              for cidr in cluster.dns_cidrs),
                        ],
                        ports=[
                            k8s.networking.v1.NetworkPolicyPortArgs(protocol="UDP", port=DNS_PORT),
                            k8s.networking.v1.NetworkPolicyPortArgs(protocol="TCP", port=DNS_PORT),
                        ],
                    )
                ],
            ),
        )

        # The ingress controller: its pods' namespace, or the nodes' networks (host network).
        controller = ([k8s.networking.v1.NetworkPolicyPeerArgs(ip_block=k8s.networking.v1.IPBlockArgs(cidr=cidr))
                       for cidr in ingress_node_cidrs] or [_namespace(ingress_namespace)])

        # Ingress rules per target pod, egress rules per source pod.
        ingress: dict[str, list[k8s.networking.v1.NetworkPolicyIngressRuleArgs]] = {}
        egress: dict[str, list[k8s.networking.v1.NetworkPolicyEgressRuleArgs]] = {}
        for target, port in public_ports.items():
            ingress.setdefault(target, []).append(
                k8s.networking.v1.NetworkPolicyIngressRuleArgs(from_=controller, ports=_tcp(port))
            )
        endpoints = {"postgres": data.postgres, "redis": data.redis}
        for flow in flows:
            endpoint = endpoints.get(flow.target)
            port = endpoint.port if endpoint else flow.port
            assert port is not None, flow
            if endpoint is not None and endpoint.selector is None:
                # A managed server outside the cluster: its port, to the networks the stack names for it.
                peers = [k8s.networking.v1.NetworkPolicyPeerArgs(ip_block=k8s.networking.v1.IPBlockArgs(cidr=cidr))
                         for cidr in endpoint.cidrs]
                egress.setdefault(flow.source, []).append(k8s.networking.v1.NetworkPolicyEgressRuleArgs(to=peers, ports=_tcp(port)))
                continue
            egress.setdefault(flow.source, []).append(
                k8s.networking.v1.NetworkPolicyEgressRuleArgs(to=[_pods(flow.target)], ports=_tcp(port))
            )
            ingress.setdefault(flow.target, []).append(
                k8s.networking.v1.NetworkPolicyIngressRuleArgs(from_=[_pods(flow.source)], ports=_tcp(port))
            )

        if acme_http01:
            # cert-manager answers HTTP-01 challenges from solver pods it starts in this namespace.
            policy("allow-acme-http01-solver", k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=ACME_SOLVER_LABELS),
                policy_types=["Ingress"],
                ingress=[k8s.networking.v1.NetworkPolicyIngressRuleArgs(from_=controller, ports=_tcp(ACME_SOLVER_PORT))],
            ))

        for name in sorted(set(ingress) | set(egress)):
            types = [kind for kind, rules in (("Ingress", ingress), ("Egress", egress)) if name in rules]
            policy(
                f"allow-{name}",
                k8s.networking.v1.NetworkPolicySpecArgs(
                    pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector_labels(name)),
                    policy_types=types,
                    ingress=ingress.get(name),
                    egress=egress.get(name),
                ),
            )
        self.register_outputs({})


def application_flows() -> list[Flow]:
    """Who talks to whom (the system diagram's arrows)."""
    return [
        Flow("frontend", "backend", BACKEND_API.port),
        Flow("backend", "postgres"),
        Flow("backend", "redis"),
        Flow("worker", "postgres"),
        Flow("worker", "redis"),
        Flow("migrate", "postgres"),
        Flow("smoke", "backend", BACKEND_API.port),
        Flow("smoke", "frontend", FRONTEND_WEB.port),
    ]
