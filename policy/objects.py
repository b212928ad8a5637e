"""Reading Kubernetes objects as the rules get them (wire shape, any Mapping/Sequence): kinds, names,
pod specs, containers, and the values a preview does not know yet."""

from __future__ import annotations

import re
from typing import Any, Iterator, Mapping, Optional, Sequence

# Workloads that run pods; where each keeps its pod spec.
POD_SPEC_PATHS: Mapping[str, tuple[str, ...]] = {
    "Pod": ("spec",),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
POD_TEMPLATE_LABEL_PATHS: Mapping[str, tuple[str, ...]] = {
    kind: path[:-1] + ("metadata", "labels") for kind, path in POD_SPEC_PATHS.items() if kind != "Pod"
}
# Long-running workloads need liveness and readiness probes; run-to-completion ones (Job, CronJob) do not.
LONG_RUNNING = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet")


class Unknown:
    """A value not known yet (a preview of something not built or created): rules skip it."""

    _instance: Optional["Unknown"] = None

    def __new__(cls) -> "Unknown":
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unknown during preview>"


UNKNOWN = Unknown()


def get_path(obj: Any, *path: Any, default: Any = None) -> Any:
    for key in path:
        if isinstance(obj, Mapping) and key in obj:
            obj = obj[key]
        else:
            return default
    return obj


def is_map(value: Any) -> bool:
    return isinstance(value, Mapping)


def is_list(value: Any) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, (str, bytes))


# Pulumi resource types under kubernetes:* that are not Kubernetes API objects.
NOT_API_OBJECTS = re.compile(r"^kubernetes:(helm\.sh|yaml|kustomize)[/:]")


def kind_of(obj: Mapping[str, Any], resource_type: Optional[str] = None) -> str:
    """The object's kind; "" for anything that is not a Kubernetes API object."""
    if resource_type and NOT_API_OBJECTS.match(resource_type):
        return ""
    kind = obj.get("kind") if is_map(obj) else None
    if isinstance(kind, str) and kind:
        return kind
    if resource_type and resource_type.startswith("kubernetes:"):
        return resource_type.rsplit(":", 1)[-1]
    return ""


def describe(obj: Mapping[str, Any], kind: str, fallback_name: Optional[str] = None) -> str:
    """`Kind/namespace/name` (cluster-scoped: `Kind/name`)."""
    name = get_path(obj, "metadata", "name")
    if not isinstance(name, str) or not name:
        name = f"{fallback_name} (auto-named)" if fallback_name else "<unnamed>"
    namespace = get_path(obj, "metadata", "namespace")
    if isinstance(namespace, Unknown):
        namespace = "<namespace unknown during preview>"
    return f"{kind}/{namespace}/{name}" if namespace else f"{kind}/{name}"


def pod_spec(obj: Mapping[str, Any], kind: str) -> Optional[Mapping[str, Any]]:
    path = POD_SPEC_PATHS.get(kind)
    spec = get_path(obj, *path) if path else None
    return spec if is_map(spec) else None


def containers(spec: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """(field, container) for init, regular and ephemeral containers."""
    for field in ("initContainers", "containers", "ephemeralContainers"):
        items = spec.get(field)
        if is_list(items):
            for container in items:
                if is_map(container):
                    yield field, container


def container_name(container: Mapping[str, Any]) -> str:
    name = container.get("name")
    return name if isinstance(name, str) else "<unnamed>"
