"""Standard Kubernetes labels (app.kubernetes.io/*): one definition for every object."""

from __future__ import annotations

from components.config import PROJECT

MANAGED_BY = "pulumi"


def selector_labels(name: str) -> dict[str, str]:
    """The immutable subset used in selectors (Deployment, Service, PDB, NetworkPolicy)."""
    return {"app.kubernetes.io/name": name, "app.kubernetes.io/part-of": PROJECT}


def standard_labels(name: str, component: str, version: str, stack: str) -> dict[str, str]:
    """Labels every object of a workload carries."""
    return {
        **selector_labels(name),
        "app.kubernetes.io/instance": f"{PROJECT}-{stack}",
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/version": version,
        "app.kubernetes.io/managed-by": MANAGED_BY,
    }


REQUIRED_LABELS = tuple(standard_labels("x", "x", "x", "x"))
