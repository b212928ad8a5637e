"""The service-exposure rule: no Service of type LoadBalancer or NodePort but the ingress controller's."""

from __future__ import annotations

from typing import Any, Mapping, Optional

from policy.objects import describe, get_path
from policy.stack_context import StackContext
from policy.violation import Violation


SERVICE_FIX = (
    "use type ClusterIP and expose the app through the Ingress (components/ingress.py); only the ingress "
    "controller's own Service may be a LoadBalancer or NodePort"
)


def check_service_exposure(obj: Mapping[str, Any], kind: str, ctx: StackContext, name: Optional[str] = None) -> list[Violation]:
    """No Service of type LoadBalancer or NodePort, except the ingress controller's."""
    if kind != "Service":
        return []
    service_type = get_path(obj, "spec", "type")
    if service_type not in ("LoadBalancer", "NodePort"):
        return []
    namespace = get_path(obj, "metadata", "namespace")
    component = get_path(obj, "metadata", "labels", "app.kubernetes.io/component")
    if namespace == ctx.ingress_controller_namespace and component == "controller":
        return []  # the ingress controller's Service (this program creates none)
    return [Violation("service-exposure", describe(obj, kind, name), f"Service type is {service_type}", SERVICE_FIX)]
