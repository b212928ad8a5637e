"""Stack configuration: read `pulumi.Config` once, validate everything, return frozen values.

Components never read config themselves; they take the typed values built here.
Every problem is reported at once, before any resource registers, as
`mbhealth:<key>: <what is wrong>; expected <accepted form>`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Callable, Mapping, Optional

import pulumi

from components.build_specs import BACKEND_VARIANTS, IMAGE_BUILDS
from components.quantity import QUANTITY_FORM, parse_quantity

PROJECT = "mbhealth"
SERVICES = ("backend", "worker", "frontend")
ENVIRONMENTS = ("development", "staging", "production")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DATA_SERVICE_MODES = ("in-cluster", "external")
RESOURCE_NAMES = ("cpu", "memory", "ephemeral-storage")

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_NAME = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_REGISTRY = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[a-z0-9._/-]+)?$")
_PLATFORM = re.compile(r"^linux/(amd64|arm64|arm/v7)$")
PINNED_RE = re.compile(r"^[a-z0-9][a-z0-9._:/-]*@sha256:[0-9a-f]{64}$")
_STACK_NAME = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+){0,2}$")
IMAGE_SOURCES = ("build", "digests", "stack")
_IMAGE_REPO = re.compile(r"^[a-z0-9][a-z0-9._-]*(?::[0-9]{1,5})?(/[a-z0-9][a-z0-9._-]*)*$")


def versioned_image(ref: Any) -> bool:
    """A third-party image named with a version: repo:tag and/or repo@sha256:..., never latest."""
    if not isinstance(ref, str):
        return False
    name, _, digest = ref.partition("@")
    if digest and not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
        return False
    last = name.rsplit("/", 1)[-1]
    repo, tag = (name.rsplit(":", 1) if ":" in last else (name, ""))
    if tag and (tag == "latest" or not _TAG.match(tag)):
        return False
    return bool(_IMAGE_REPO.match(repo)) and bool(tag or digest)
PINNED_FORM = "an image pinned by digest: <registry>/<repository>@sha256:<64 hex digits>"

# Sizing every stack starts from; a stack overrides any field in `mbhealth:services`.
SERVICE_DEFAULTS: Mapping[str, Mapping[str, Any]] = {
    "backend": {
        "replicas": 1,
        "requests": {"cpu": "100m", "memory": "192Mi", "ephemeral-storage": "64Mi"},
        "limits": {"cpu": "1", "memory": "384Mi", "ephemeral-storage": "256Mi"},
        "tmpSize": "128Mi",
    },
    "worker": {
        "replicas": 1,
        "requests": {"cpu": "100m", "memory": "256Mi", "ephemeral-storage": "64Mi"},
        "limits": {"cpu": "1", "memory": "512Mi", "ephemeral-storage": "256Mi"},
        "tmpSize": "128Mi",
    },
    "frontend": {
        "replicas": 1,
        "requests": {"cpu": "25m", "memory": "32Mi", "ephemeral-storage": "32Mi"},
        "limits": {"cpu": "250m", "memory": "64Mi", "ephemeral-storage": "128Mi"},
        "tmpSize": "64Mi",
    },
}


class ConfigError(ValueError):
    """One or more stack config values are invalid; the message lists each key."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid stack configuration:\n  - " + "\n  - ".join(problems))


@dataclass(frozen=True)
class Resources:
    """Requests and limits as Kubernetes quantity strings (already validated)."""

    requests: Mapping[str, str]
    limits: Mapping[str, str]


@dataclass(frozen=True)
class Autoscaling:
    min_replicas: int
    max_replicas: int
    cpu_utilization: int


@dataclass(frozen=True)
class ServiceConfig:
    name: str
    replicas: int
    resources: Resources
    tmp_size: str
    autoscaling: Optional[Autoscaling] = None
    min_available: Optional[int] = None  # a PodDisruptionBudget when set


@dataclass(frozen=True)
class RegistryConfig:
    server: str
    username: Optional[str] = None
    password: Optional[pulumi.Output[str]] = field(default=None, repr=False)

    def repository(self, image: str) -> str:
        return f"{self.server}/{PROJECT}/{image}"


@dataclass(frozen=True)
class IngressConfig:
    host: str
    class_name: str = "nginx"
    tls_secret_name: Optional[str] = None
    controller_namespace: str = "ingress-nginx"

    @property
    def url(self) -> str:
        return f"{'https' if self.tls_secret_name else 'http'}://{self.host}"


@dataclass(frozen=True)
class InClusterDataConfig:
    """PostgreSQL and Redis run in the namespace (dev)."""

    postgres_image: str
    redis_image: str
    postgres_storage: str


@dataclass(frozen=True)
class ExternalDataConfig:
    """PostgreSQL and Redis are managed elsewhere (prod); URLs are Pulumi secrets."""

    database_url: pulumi.Output[str] = field(repr=False)
    redis_url: pulumi.Output[str] = field(repr=False)
    egress_cidr: str = "0.0.0.0/0"


@dataclass(frozen=True)
class ImageSource:
    """Where the release's images come from.

    build:   build and push them now (dev, and prod without promotion);
    digests: deploy these exact digests, building nothing (promotion, rollback);
    stack:   deploy the digests another stack exported as `images` (a StackReference).
    """

    mode: str = "build"
    digests: Mapping[str, str] = field(default_factory=dict)
    stack: Optional[str] = None


@dataclass(frozen=True)
class StackConfig:
    stack: str
    environment: str
    namespace: str
    registry: RegistryConfig
    image_tag: str
    platform: str
    log_level: str
    ingress: IngressConfig
    data: InClusterDataConfig | ExternalDataConfig
    services: Mapping[str, ServiceConfig]
    images: ImageSource = field(default_factory=ImageSource)
    backend_variant: str = "slim"  # key of build_specs.BACKEND_VARIANTS
    secret_key: Optional[pulumi.Output[str]] = field(default=None, repr=False)

    @property
    def is_production(self) -> bool:
        return self.environment == "production"


class _Reader:
    """Collects problems instead of stopping at the first one."""

    def __init__(self, raw: Callable[[str], Any], secret: Callable[[str], Optional[pulumi.Output[str]]]):
        self._raw = raw
        self._secret = secret
        self.problems: list[str] = []

    def fail(self, key: str, problem: str, expected: str) -> None:
        self.problems.append(f"{PROJECT}:{key}: {problem}; expected {expected}")

    def get(self, key: str, default: Any = None) -> Any:
        value = self._raw(key)
        return default if value is None else value

    def secret(self, key: str) -> Optional[pulumi.Output[str]]:
        return self._secret(key)

    def string(self, key: str, pattern: re.Pattern[str], expected: str, default: Optional[str] = None) -> str:
        value = self.get(key, default)
        if not isinstance(value, str) or not pattern.match(value):
            self.fail(key, f"got {value!r}", expected)
            return default or ""
        return value

    def choice(self, key: str, choices: tuple[str, ...], default: Optional[str] = None) -> str:
        value = self.get(key, default)
        if value not in choices:
            self.fail(key, f"got {value!r}", "one of " + ", ".join(choices))
            return default or choices[0]
        return value


def _integer(value: Any) -> Optional[int]:
    """Config numbers may arrive as floats (Pulumi mocks) or strings; accept whole numbers only."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
        return int(value)
    return None


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_resources(r: _Reader, key: str, raw: Mapping[str, Any]) -> Resources:
    parsed: dict[str, dict[str, Decimal]] = {}
    texts: dict[str, dict[str, str]] = {}
    for kind in ("requests", "limits"):
        block = raw.get(kind)
        if not isinstance(block, Mapping):
            r.fail(f"{key}.{kind}", f"got {block!r}", "a map of " + ", ".join(RESOURCE_NAMES) + " to quantities")
            block = {}
        parsed[kind], texts[kind] = {}, {}
        for name, value in block.items():
            if name not in RESOURCE_NAMES:
                r.fail(f"{key}.{kind}.{name}", "unknown resource", "one of " + ", ".join(RESOURCE_NAMES))
                continue
            try:
                amount = parse_quantity(str(value) if isinstance(value, (int, float)) else value)
            except ValueError:
                r.fail(f"{key}.{kind}.{name}", f"got {value!r}", QUANTITY_FORM)
                continue
            if amount <= 0:
                r.fail(f"{key}.{kind}.{name}", f"got {value!r}", "a quantity above zero")
                continue
            parsed[kind][name], texts[kind][name] = amount, str(value)
        for name in RESOURCE_NAMES:
            if block and name not in block:
                r.fail(f"{key}.{kind}.{name}", "missing", QUANTITY_FORM)
    for name, limit in parsed["limits"].items():
        request = parsed["requests"].get(name)
        if request is not None and limit < request:
            r.fail(
                f"{key}.limits.{name}",
                f"limit {texts['limits'][name]!r} is below its request {texts['requests'][name]!r}",
                "a limit at or above the request",
            )
    return Resources(requests=texts["requests"], limits=texts["limits"])


def _read_autoscaling(r: _Reader, key: str, raw: Any) -> Optional[Autoscaling]:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        r.fail(key, f"got {raw!r}", "a map with minReplicas, maxReplicas and cpuUtilization")
        return None
    values = {}
    for name, default in (("minReplicas", None), ("maxReplicas", None), ("cpuUtilization", 70)):
        number = _integer(raw.get(name, default))
        if number is None or number < 1 or (name == "cpuUtilization" and number > 100):
            accepted = "a whole number from 1 to 100" if name == "cpuUtilization" else "a whole number of at least 1"
            r.fail(f"{key}.{name}", f"got {raw.get(name)!r}", accepted)
            return None
        values[name] = number
    if values["minReplicas"] > values["maxReplicas"]:
        r.fail(
            f"{key}.minReplicas",
            f"minReplicas {values['minReplicas']} is above maxReplicas {values['maxReplicas']}",
            "minReplicas at or below maxReplicas",
        )
        return None
    return Autoscaling(values["minReplicas"], values["maxReplicas"], values["cpuUtilization"])


def _read_services(r: _Reader) -> dict[str, ServiceConfig]:
    overrides = r.get("services", {})
    if not isinstance(overrides, Mapping):
        r.fail("services", f"got {overrides!r}", "a map from service name (" + ", ".join(SERVICES) + ") to settings")
        overrides = {}
    for unknown in sorted(set(overrides) - set(SERVICES)):
        r.fail(f"services.{unknown}", "unknown service", "one of " + ", ".join(SERVICES))
    services = {}
    for name in SERVICES:
        key = f"services.{name}"
        raw = deep_merge(SERVICE_DEFAULTS[name], overrides.get(name) or {})
        replicas = _integer(raw.get("replicas"))
        if replicas is None or replicas < 1:
            r.fail(f"{key}.replicas", f"got {raw.get('replicas')!r}", "a whole number of at least 1")
            replicas = 1
        resources = _read_resources(r, key, raw)
        tmp_size = raw.get("tmpSize")
        try:
            tmp_bytes = parse_quantity(tmp_size)
            limit = resources.limits.get("ephemeral-storage")
            if limit is not None and tmp_bytes > parse_quantity(limit):
                r.fail(f"{key}.tmpSize", f"{tmp_size!r} exceeds the ephemeral-storage limit {limit!r}",
                       "a size at or below limits.ephemeral-storage")
        except ValueError:
            r.fail(f"{key}.tmpSize", f"got {tmp_size!r}", QUANTITY_FORM)
        autoscaling = _read_autoscaling(r, f"{key}.autoscaling", raw.get("autoscaling"))
        min_available = raw.get("minAvailable")
        if min_available is not None:
            min_available = _integer(min_available)
            floor = autoscaling.min_replicas if autoscaling else replicas
            if min_available is None or min_available < 1 or min_available >= floor:
                r.fail(f"{key}.minAvailable", f"got {raw.get('minAvailable')!r}",
                       f"a whole number from 1 to {floor - 1} (below the replica count {floor})")
                min_available = None
        services[name] = ServiceConfig(name, replicas, resources, str(tmp_size), autoscaling, min_available)
    return services


def _read_registry(r: _Reader) -> RegistryConfig:
    raw = r.get("registry")
    if not isinstance(raw, Mapping):
        r.fail("registry", f"got {raw!r}", "a map with server (host[:port][/path]) and optional username")
        return RegistryConfig(server="")
    server = raw.get("server")
    if not isinstance(server, str) or not _REGISTRY.match(server):
        r.fail("registry.server", f"got {server!r}", "a registry host with optional port and path, like localhost:5000 or ghcr.io/acme")
        server = ""
    username = raw.get("username")
    password = r.secret("registryPassword")
    if username and password is None:
        r.fail("registryPassword", "missing while registry.username is set",
               "a secret: pulumi config set --secret registryPassword <token>")
    if password is not None and not username:
        r.fail("registry.username", "missing while registryPassword is set", "the registry user name")
    return RegistryConfig(server=server, username=username or None, password=password)


def _read_data(r: _Reader) -> InClusterDataConfig | ExternalDataConfig:
    raw = r.get("dataServices", {"mode": "in-cluster"})
    if not isinstance(raw, Mapping):
        r.fail("dataServices", f"got {raw!r}", "a map with mode (in-cluster or external)")
        raw = {"mode": "in-cluster"}
    mode = raw.get("mode")
    if mode not in DATA_SERVICE_MODES:
        r.fail("dataServices.mode", f"got {mode!r}", "one of " + ", ".join(DATA_SERVICE_MODES))
        mode = "in-cluster"
    if mode == "in-cluster":
        storage = raw.get("postgresStorage", "1Gi")
        try:
            parse_quantity(storage)
        except ValueError:
            r.fail("dataServices.postgresStorage", f"got {storage!r}", QUANTITY_FORM)
        images = {}
        for key, default in (("postgresImage", "postgres:15.10-alpine"), ("redisImage", "redis:7.4.1-alpine")):
            ref = raw.get(key, default)
            if not versioned_image(ref):
                r.fail(f"dataServices.{key}", f"got {ref!r}",
                       "an image with a specific version tag or digest, like postgres:15.10-alpine (never latest)")
            images[key] = ref
        return InClusterDataConfig(
            postgres_image=images["postgresImage"],
            redis_image=images["redisImage"],
            postgres_storage=storage,
        )
    urls = {}
    for key, scheme in (("databaseUrl", "postgresql://..."), ("redisUrl", "redis://... or rediss://...")):
        urls[key] = r.secret(key)
        if urls[key] is None:
            r.fail(key, "missing while dataServices.mode is external",
                   f"a secret URL ({scheme}): pulumi config set --secret {key} <url>")
    return ExternalDataConfig(
        database_url=urls["databaseUrl"], redis_url=urls["redisUrl"],
        egress_cidr=raw.get("egressCidr", "0.0.0.0/0"),
    )


def _read_image_source(r: _Reader, registry: RegistryConfig) -> ImageSource:
    raw = r.get("images", {"source": "build"})
    if not isinstance(raw, Mapping):
        r.fail("images", f"got {raw!r}", "a map with source (" + ", ".join(IMAGE_SOURCES) + ")")
        return ImageSource()
    mode = raw.get("source", "build")
    if mode not in IMAGE_SOURCES:
        r.fail("images.source", f"got {mode!r}", "one of " + ", ".join(IMAGE_SOURCES))
        return ImageSource()
    if mode == "digests":
        digests = raw.get("digests")
        if not isinstance(digests, Mapping):
            r.fail("images.digests", f"got {digests!r}", "a map from " + ", ".join(IMAGE_BUILDS) + " to " + PINNED_FORM)
            return ImageSource()
        for name in sorted(set(digests) - set(IMAGE_BUILDS)):
            r.fail(f"images.digests.{name}", "unknown image", "one of " + ", ".join(IMAGE_BUILDS))
        for name in IMAGE_BUILDS:
            ref = digests.get(name)
            if not isinstance(ref, str) or not PINNED_RE.match(ref):
                r.fail(f"images.digests.{name}", f"got {ref!r}", PINNED_FORM)
            elif registry.server and ref.split("@")[0] != registry.repository(name):
                # The cluster pulls from this stack's registry: copy the image there first
                # (`skopeo copy --preserve-digests` / `crane copy`), keeping its digest.
                r.fail(f"images.digests.{name}", f"{ref.split('@')[0]!r} is not this stack's repository",
                       f"{registry.repository(name)}@sha256:<digest> (copy the image into the stack's registry first)")
        return ImageSource(mode=mode, digests=dict(digests))
    if mode == "stack":
        stack = raw.get("stack")
        if not isinstance(stack, str) or not _STACK_NAME.match(stack):
            r.fail("images.stack", f"got {stack!r}", "a stack name like <org>/mbhealth/dev (whose `images` output is promoted)")
            return ImageSource()
        return ImageSource(mode=mode, stack=stack)
    return ImageSource()


def read_stack_config(
    stack: str,
    raw: Callable[[str], Any],
    secret: Callable[[str], Optional[pulumi.Output[str]]],
) -> StackConfig:
    """Build the typed config from accessor functions; raise ConfigError listing every problem."""
    r = _Reader(raw, secret)
    environment = r.choice("environment", ENVIRONMENTS)
    tag = r.get("imageTag")
    if not isinstance(tag, str) or not tag or not _TAG.match(tag):
        r.fail("imageTag", f"got {tag!r}", "a Docker tag: 1-128 of letters, digits, '_', '.', '-', e.g. 1.4.2 or a git SHA")
        tag = ""
    elif tag == "latest":
        r.fail("imageTag", "'latest' is not allowed (deploys must name a release)", "a specific tag, e.g. 1.4.2 or a git SHA")
    ingress_raw = r.get("ingress", {})
    if not isinstance(ingress_raw, Mapping):
        r.fail("ingress", f"got {ingress_raw!r}", "a map with host and optional className, tlsSecretName")
        ingress_raw = {}
    host = ingress_raw.get("host")
    if not isinstance(host, str) or not _DNS_NAME.match(host):
        r.fail("ingress.host", f"got {host!r}", "a lower-case DNS name like app.example.com")
    ingress = IngressConfig(
        host=host or "",
        class_name=ingress_raw.get("className", "nginx"),
        tls_secret_name=ingress_raw.get("tlsSecretName"),
        controller_namespace=ingress_raw.get("controllerNamespace", "ingress-nginx"),
    )
    secret_key = r.secret("secretKey")
    if secret_key is None and environment == "production":
        r.fail("secretKey", "missing in a production stack",
               "a secret of at least 32 random characters: pulumi config set --secret secretKey <value>")
    registry = _read_registry(r)
    config = StackConfig(
        stack=stack,
        environment=environment,
        namespace=r.string("namespace", _DNS_LABEL, "a DNS label: lower-case letters, digits and '-', at most 63"),
        registry=registry,
        image_tag=tag,
        platform=r.string("platform", _PLATFORM, "linux/amd64, linux/arm64 or linux/arm/v7", default="linux/amd64"),
        log_level=r.choice("logLevel", LOG_LEVELS, default="INFO"),
        ingress=ingress,
        data=_read_data(r),
        services=_read_services(r),
        images=_read_image_source(r, registry),
        backend_variant=r.choice("backendVariant", tuple(BACKEND_VARIANTS), default="slim"),
        secret_key=secret_key,
    )
    if r.problems:
        raise ConfigError(r.problems)
    return config


def load_stack_config(config: Optional[pulumi.Config] = None) -> StackConfig:
    """Read this stack's `mbhealth:*` config (the program's one config read)."""
    config = config or pulumi.Config(PROJECT)

    def raw(key: str) -> Any:
        text = config.get(key)
        if text is not None and text.lstrip()[:1] in ("{", "["):
            try:
                return json.loads(text)
            except ValueError:
                return text  # reported by the reader as a value of the wrong form
        return text

    return read_stack_config(pulumi.get_stack(), raw, config.get_secret)
