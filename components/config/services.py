"""`mbhealth:services`: each service's sizing, its defaults, and the rules between its fields."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Iterable, Mapping, Optional

from pydantic import AfterValidator, Field, PlainSerializer, model_validator

from components.config.forms import Empty, Percent, PositiveInt, Quantity
from components.config.model import Model, rules
from components.quantity import parse_quantity

SERVICES = ("backend", "worker", "frontend")
RESOURCE_NAMES = ("cpu", "memory", "ephemeral-storage")


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """`override` over `base`, maps merged key by key (hand-written: pydantic merges no inputs)."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


class ResourceList(Model):
    unknown: ClassVar[str] = "unknown resource"
    cpu: Optional[Quantity] = None
    memory: Optional[Quantity] = None
    ephemeral_storage: Optional[Quantity] = Field(None, alias="ephemeral-storage")


def _quantities(resources: ResourceList) -> Mapping[str, str]:
    return resources.model_dump(by_alias=True, exclude_none=True)


# Requests or limits: checked as a ResourceList, held as {resource name: quantity}.
Quantities = Annotated[ResourceList, AfterValidator(_quantities), PlainSerializer(dict)]


class Resources(Model):
    """Requests and limits as Kubernetes quantity strings (already validated)."""

    requests: Quantities
    limits: Quantities


class Autoscaling(Model):
    min_replicas: PositiveInt = Field(alias="minReplicas")
    max_replicas: PositiveInt = Field(alias="maxReplicas")
    cpu_utilization: Percent = Field(70, alias="cpuUtilization")


class ServiceConfig(Model):
    """A service's sizing: what the stack writes over the service's DEFAULTS (map by map)."""

    DEFAULTS: ClassVar[Mapping[str, Any]] = {}
    replicas: PositiveInt
    requests: Quantities
    limits: Quantities
    tmp_size: Quantity = Field(alias="tmpSize")
    autoscaling: Optional[Autoscaling] = None
    min_available: Optional[PositiveInt] = Field(None, alias="minAvailable")  # a PodDisruptionBudget when set
    # Or a budget that follows the replica count: at most this many pods down at once (an HPA's scale-up
    # keeps it one eviction at a time, where minAvailable would let all but that many go).
    max_unavailable: Optional[PositiveInt] = Field(None, alias="maxUnavailable")

    @property
    def resources(self) -> Resources:
        return Resources.model_construct(requests=self.requests, limits=self.limits)

    @model_validator(mode="before")
    @classmethod
    def _over_defaults(cls, data: Any) -> Any:
        return deep_merge(cls.DEFAULTS, data) if isinstance(data, dict) else data

    @rules
    def _sizing(self, data: dict, stack: str, valid: Mapping[str, Any]) -> Iterable[tuple[str, str, str]]:
        """`data` as the stack wrote it (before the defaults)."""
        for resource, limit in self.limits.items():
            request = self.requests.get(resource)
            if request is not None and parse_quantity(limit) < parse_quantity(request):
                yield (f"limits.{resource}", f"limit {limit!r} is below its request {request!r}",
                       "a limit at or above the request")
        storage = self.limits["ephemeral-storage"]
        if parse_quantity(self.tmp_size) > parse_quantity(storage):
            yield ("tmpSize", f"{self.tmp_size!r} exceeds the ephemeral-storage limit {storage!r}",
                   "a size at or below limits.ephemeral-storage")
        scaling = self.autoscaling
        if scaling is not None:
            if scaling.min_replicas > scaling.max_replicas:
                yield ("autoscaling.minReplicas",
                       f"minReplicas {scaling.min_replicas} is above maxReplicas {scaling.max_replicas}",
                       "minReplicas at or below maxReplicas")
            if "replicas" in data:
                yield ("replicas", "has no effect beside autoscaling (the HPA owns the replica count)",
                       "either replicas or autoscaling.minReplicas/maxReplicas, not both: remove replicas")
        floor = scaling.min_replicas if scaling else self.replicas
        if self.min_available is not None and self.max_unavailable is not None:
            yield ("maxUnavailable", "a second budget beside minAvailable (a PodDisruptionBudget takes one)",
                   "one of minAvailable and maxUnavailable: remove one")
        elif self.max_unavailable is not None and self.max_unavailable >= floor:
            yield ("maxUnavailable", f"got {self.max_unavailable!r}",
                   f"a whole number from 1 to {floor - 1} (below the replica count {floor})" if floor > 1
                   else f"no maxUnavailable while the replica count is {floor} (the budget would let every pod go)")
        if self.min_available is not None:
            if self.min_available >= floor:
                yield ("minAvailable", f"got {self.min_available!r}",
                       f"a whole number from 1 to {floor - 1} (below the replica count {floor})" if floor > 1
                       else f"no minAvailable while the replica count is {floor} (a PodDisruptionBudget would block "
                       "every eviction)")


def _sizing(requests: tuple[str, str, str], limits: tuple[str, str, str], tmp_size: str) -> Mapping[str, Any]:
    """One replica, requests and limits of (cpu, memory, ephemeral-storage), the /tmp volume's size."""
    return {"replicas": 1, "requests": dict(zip(RESOURCE_NAMES, requests)), "limits": dict(zip(RESOURCE_NAMES, limits)),
            "tmpSize": tmp_size}


# Sizing every stack starts from; a stack overrides any field in `mbhealth:services`.
SERVICE_DEFAULTS: Mapping[str, Mapping[str, Any]] = {
    "backend": _sizing(requests=("100m", "192Mi", "64Mi"), limits=("1", "384Mi", "256Mi"), tmp_size="128Mi"),
    "worker": _sizing(requests=("100m", "256Mi", "64Mi"), limits=("1", "512Mi", "256Mi"), tmp_size="128Mi"),
    "frontend": _sizing(requests=("25m", "32Mi", "32Mi"), limits=("250m", "64Mi", "128Mi"), tmp_size="64Mi"),
}


class BackendService(ServiceConfig):
    DEFAULTS: ClassVar[Mapping[str, Any]] = SERVICE_DEFAULTS["backend"]


class WorkerService(ServiceConfig):
    DEFAULTS: ClassVar[Mapping[str, Any]] = SERVICE_DEFAULTS["worker"]


class FrontendService(ServiceConfig):
    DEFAULTS: ClassVar[Mapping[str, Any]] = SERVICE_DEFAULTS["frontend"]


_SERVICE_FORM = Empty("{form} (or leave the service out)")


class Services(Model):
    unknown: ClassVar[str] = "unknown service"
    backend: Annotated[BackendService, _SERVICE_FORM] = Field(default_factory=lambda: BackendService.model_validate({}))
    worker: Annotated[WorkerService, _SERVICE_FORM] = Field(default_factory=lambda: WorkerService.model_validate({}))
    frontend: Annotated[FrontendService, _SERVICE_FORM] = Field(
        default_factory=lambda: FrontendService.model_validate({}))


def _by_name(services: Services) -> Mapping[str, ServiceConfig]:
    return {name: getattr(services, name) for name in SERVICES}


# `mbhealth:services`, checked as Services, held as {service name: ServiceConfig}.
ServiceMap = Annotated[Services, AfterValidator(_by_name),
                       PlainSerializer(lambda services: {name: s.model_dump(by_alias=True) for name, s in services.items()})]
