"""The cluster the program deploys to: what it must offer, checked before anything is deployed.

What the API server's discovery can show is checked here; the rest the stack states in
`mbhealth:cluster` (components/config/cluster.py): the CNI enforces NetworkPolicies, where the cluster
DNS runs. Checked: the Kubernetes version; the resource metrics API (metrics.k8s.io, e.g.
metrics-server) when a service autoscales (an HPA without it never scales); cert-manager's API
when the ingress takes its certificate from a ClusterIssuer (else the controller serves its
fake certificate).

Kubernetes 1.30 or later: every long-running container pauses in a preStop `sleep` action
(no shell needed, distroless included), which the API server accepts from 1.30 (the
PodLifecycleSleepAction feature: alpha in 1.29, beta and on by default in 1.30). On an older
server the Deployments would be refused only after the migrate Job had run.

The version is read through pulumi-kubernetes itself, so it is the cluster of the provider
the program deploys with (kubeconfig, context, stack config): its `kubernetes:helm:template`
invoke renders `charts/cluster-version` (never applied) with `.Capabilities` from the API
server's discovery. The invoke is synchronous: it runs before the first resource registers.
When the provider cannot reach the cluster, Helm falls back to its offline defaults, which the
chart tells apart: a preview (a pull request's, with no cluster) warns and goes on; an update
stops there with one line, before any resource is sent to a cluster that cannot take it.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Sequence

import pulumi

MIN_KUBERNETES = (1, 30)
MINIMUM = f"{MIN_KUBERNETES[0]}.{MIN_KUBERNETES[1]}"
WHY = "the preStop sleep action every long-running container pauses in"
VERSION_CHART = Path(__file__).resolve().parent.parent / "charts" / "cluster-version"
HELM_TEMPLATE = "kubernetes:helm:template"


UNREACHABLE = ("cluster: the API server does not answer (the cluster of the kubernetes provider's kubeconfig and "
               "context); nothing was deployed; expected a reachable cluster: check KUBE_CONTEXT or the kubeconfig, "
               "and that the cluster is up (make cluster-local, make cluster)")


class ClusterError(pulumi.RunError):
    """The cluster cannot run this program; the message says why and what it needs (no traceback)."""


@dataclass(frozen=True)
class ServerVersion:
    git_version: str  # as the API server reports it: v1.31.2, v1.30.4-eks-a737599, v1.29.8-gke.1211000
    discovered: bool  # False: the provider could not reach the cluster (Helm's offline defaults)
    metrics_api: bool = False  # metrics.k8s.io/v1beta1 is served (metrics-server)
    cert_manager: bool = False  # cert-manager.io/v1 ClusterIssuer is served


def _kubernetes_sdk_version() -> Optional[str]:
    try:
        from pulumi_kubernetes import _utilities

        return _utilities.get_version()
    except Exception:  # noqa: BLE001 - the engine picks the plugin then
        return None


def helm_template_opts() -> dict[str, Any]:
    return {"chart": VERSION_CHART.name, "path": str(VERSION_CHART.parent), "release_name": "cluster-version",
            "namespace": "default"}


def read_server_version() -> Optional[ServerVersion]:
    """The API server's version as the provider sees it, or None when the invoke says nothing."""
    result = pulumi.runtime.invoke(HELM_TEMPLATE, {"jsonOpts": json.dumps(helm_template_opts())},
                                   pulumi.InvokeOptions(version=_kubernetes_sdk_version()))
    for obj in (result.value or {}).get("result") or []:
        if obj.get("kind") == "ConfigMap" and obj.get("metadata", {}).get("name") == "cluster-version":
            data = obj.get("data") or {}
            return ServerVersion(git_version=str(data.get("gitVersion", "")),
                                 discovered=str(data.get("discovered")) == "true",
                                 metrics_api=str(data.get("metricsApi")) == "true",
                                 cert_manager=str(data.get("certManager")) == "true")
    return None


def version_problem(version: ServerVersion) -> Optional[str]:
    """Why this cluster cannot run the program, one line, or None."""
    match = re.match(r"^v?(\d+)\.(\d+)", version.git_version)
    if not match:
        return (f"cluster: the API server reports version {version.git_version!r}; expected Kubernetes {MINIMUM} "
                f"or later ({WHY})")
    found = (int(match[1]), int(match[2]))
    if found < MIN_KUBERNETES:
        return (f"cluster: the API server runs Kubernetes {version.git_version}, older than {MINIMUM}; expected "
                f"Kubernetes {MINIMUM} or later ({WHY}): upgrade the cluster or deploy to another one")
    return None


def addon_problems(version: ServerVersion, autoscaled: Sequence[str], cluster_issuer: Optional[str]) -> list[str]:
    """The add-ons this stack relies on that the cluster does not serve."""
    problems = []
    if autoscaled and not version.metrics_api:
        services = ", ".join(f"services.{name}" for name in autoscaled)
        problems.append(
            f"cluster: the resource metrics API (metrics.k8s.io) is not served, so the HorizontalPodAutoscalers of "
            f"{services} would never scale; expected metrics-server (or another metrics.k8s.io provider) installed, "
            "or cluster.metricsApi: false and replicas instead of autoscaling")
    if cluster_issuer and not version.cert_manager:
        problems.append(
            f"cluster: cert-manager's API (cert-manager.io/v1) is not served, so nothing would issue the certificate "
            f"of ingress.clusterIssuer {cluster_issuer!r} and the ingress controller would serve its fake certificate; "
            "expected cert-manager 1.10 or later with that ClusterIssuer, or another source of the certificate "
            "(README: TLS for the ingress)")
    return problems


def require_supported_cluster(autoscaled: Sequence[str] = (), cluster_issuer: Optional[str] = None
                              ) -> Optional[ServerVersion]:
    """Fail before anything is deployed when the cluster is too old or lacks an add-on the stack uses,
    or, in an update, cannot be reached; a preview without a cluster only warns."""
    version = read_server_version()
    if version is None or not version.discovered:
        if not pulumi.runtime.is_dry_run():
            raise ClusterError(UNREACHABLE)
        pulumi.log.warn(f"cluster: could not read the Kubernetes version (is the cluster reachable?); this program "
                        f"needs Kubernetes {MINIMUM} or later ({WHY})")
        return None
    problems = [p for p in (version_problem(version),) if p] + addon_problems(version, autoscaled, cluster_issuer)
    if problems:
        raise ClusterError("\n".join(problems))
    return version
