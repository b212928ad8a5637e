"""What one synth registered: each resource (`Registered`) and the run's result (`SynthResult`), which the
tests, the policy suite and the manifest files read (Kubernetes objects in apply order, lookups, dependencies)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from scripts.secret_markers import redact, reveal

# Apply order (as Helm's): what others need comes first.
KIND_ORDER = (
    "Namespace", "NetworkPolicy", "Secret", "ConfigMap", "PersistentVolumeClaim", "Service",
    "StatefulSet", "Job", "Deployment", "HorizontalPodAutoscaler", "PodDisruptionBudget", "Ingress",
)



def _whole_numbers(value: Any) -> Any:
    """The mock engine hands numbers back as floats; Kubernetes integers are ints."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(v) for v in value]
    return value



@dataclass
class Registered:
    """One resource the program registered."""

    type: str
    name: str
    urn: str
    custom: bool
    parent: str
    dependencies: list[str]
    inputs: dict[str, Any]  # wire (camelCase) names, secrets still wrapped
    outputs: dict[str, Any] = field(default_factory=dict)

    @property
    def manifest(self) -> dict[str, Any]:
        """The Kubernetes object as applied (secrets still wrapped)."""
        return _whole_numbers(self.outputs)

    @property
    def kind(self) -> str:
        return self.outputs.get("kind", "")

    @property
    def object_name(self) -> str:
        return self.outputs.get("metadata", {}).get("name", "")



@dataclass
class SynthResult:
    stack: str
    resources: list[Registered]
    exports: dict[str, Any]
    notes: list[str] = field(default_factory=list)  # what synth stood in for (stand-in digests, stack outputs)

    def kubernetes(self) -> list[Registered]:
        """Kubernetes objects in a stable order (kind, then name): registration order is async."""
        objects = [r for r in self.resources if r.custom and r.type.startswith("kubernetes:")]
        return sorted(objects, key=lambda r: (KIND_ORDER.index(r.kind) if r.kind in KIND_ORDER else len(KIND_ORDER), r.kind, r.object_name))

    def of_kind(self, kind: str) -> list[Registered]:
        return [r for r in self.kubernetes() if r.kind == kind]

    def get(self, kind: str, name: str) -> Registered:
        matches = [r for r in self.of_kind(kind) if r.name == name or r.object_name == name]
        if len(matches) != 1:
            raise LookupError(f"{self.stack}: expected one {kind} named {name!r}, found {len(matches)}")
        return matches[0]

    def by_urn(self, urn: str) -> Registered:
        return next(r for r in self.resources if r.urn == urn)

    def depends_on(self, resource: Registered, other: Registered) -> bool:
        """Does `resource` (directly or through a component) wait for `other`?"""
        seen, todo = set(), list(resource.dependencies)
        while todo:
            urn = todo.pop()
            if urn == other.urn:
                return True
            if urn in seen:
                continue
            seen.add(urn)
            dependency = next((r for r in self.resources if r.urn == urn), None)
            if dependency is not None:
                todo.extend(dependency.dependencies)
                todo.extend(r.urn for r in self.resources if r.parent == urn)
        return False

    def manifests(self, redacted: bool = True) -> list[dict[str, Any]]:
        """The Kubernetes objects, in apply order."""
        convert = redact if redacted else reveal
        return [convert(r.manifest) for r in self.kubernetes()]

