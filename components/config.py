"""Stack configuration: read the stack's config once, validate everything, return frozen values.

Components never read config themselves; they take the typed values built here.

The schema is a set of pydantic models (strict types, unknown keys forbidden); their
results become the frozen dataclasses the components take. Every problem is reported
at once, before any resource registers, one line each:
`mbhealth:<key>: <what is wrong>; expected <accepted form>`.

Nothing a user writes is silently ignored or changed:
- an unknown key, at any level, is an error naming the closest valid one;
- a setting that is text (a tag, a name, a host) written as a YAML number, boolean or
  empty value is refused with a "write it in quotes" hint, because YAML would have
  changed it (`1.10` -> 1.1, `0123456` -> 42798, empty -> null);
- a value with no effect (`replicas` beside `autoscaling`, `dataServices.redis` with in-cluster
  data services) is an error;
- a secret committed in plain text is refused with the `pulumi config set --secret` to run.
`ConfigError` is a `pulumi.RunError`: under `pulumi up` it prints as those lines, no traceback.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import platform as host
import re
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Callable, ClassVar, Literal, Mapping, Optional, Union, get_args, get_origin
from urllib.parse import urlsplit

import pulumi
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, Strict, TypeAdapter, ValidationError
from pydantic.networks import IPvAnyNetwork

from components.build_specs import BACKEND_VARIANTS, IMAGE_BUILDS
from components.quantity import QUANTITY_FORM, parse_quantity
from components.stack_file import (
    StackFile,
    StackFileError,
    Written,
    describe_written,
    engine_string,
    load_stack_file,
    resolve_plain,
    same_value,
)

PROJECT = "mbhealth"
PROJECT_DIR = Path(__file__).resolve().parent.parent
SERVICES = ("backend", "worker", "frontend")
# The environments this project ships a stack for (Pulumi.dev.yaml, Pulumi.prod.yaml).
ENVIRONMENTS = ("development", "production")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
DATA_SERVICE_MODES = ("in-cluster", "external")
RESOURCE_NAMES = ("cpu", "memory", "ephemeral-storage")
PLATFORMS = ("linux/amd64", "linux/arm64", "linux/arm/v7")
IMAGE_SOURCES = ("build", "digests", "stack")
# Keys that hold credentials: only ever Pulumi secrets (`pulumi config set --secret`).
SECRET_KEYS = ("secretKey", "databaseUrl", "redisUrl", "registryPassword", "registryPullPassword", "tlsCertificate",
               "tlsKey")
SECRET_KEY_MIN_LENGTH = 32
POSTGRES_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")  # what the backend accepts
REDIS_SCHEMES = ("redis", "rediss")
# Managed data services: each URL's secret key, and the port a URL without one connects to.
EXTERNAL_SERVICES = {"postgres": "databaseUrl", "redis": "redisUrl"}
DEFAULT_PORTS = {"postgres": 5432, "redis": 6379}

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS_NAME = re.compile(r"^(?=.{1,253}$)[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*$")
# A DNS-1123 subdomain as the API server checks an object name (a StorageClass): at most 253.
_DNS_SUBDOMAIN = re.compile(r"^(?=.{1,253}\Z)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\Z")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
# imageTag is the images' Docker tag and the app.kubernetes.io/version label value (at most 63,
# (([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?): exactly what is both.
LABEL_VALUE_MAX = 63
_RELEASE_TAG = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_.-]{0,61}[A-Za-z0-9])?$")
_REPO_PATH = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$")
_USERNAME = re.compile(r"^[^\s:/@]{1,255}$")
PINNED_RE = re.compile(r"^[a-z0-9][a-z0-9._:/-]*@sha256:[0-9a-f]{64}$")
_STACK_NAME = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+){0,2}$")
_IMAGE_REPO = re.compile(r"^[a-z0-9][a-z0-9._-]*(?::[0-9]{1,5})?(/[a-z0-9][a-z0-9._-]*)*$")
_URL_WITH_PASSWORD = re.compile(r"[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*:[^/\s@]+@")
_HOST_ARCH = {"x86_64": "linux/amd64", "amd64": "linux/amd64", "aarch64": "linux/arm64", "arm64": "linux/arm64",
              "armv7l": "linux/arm/v7", "armv7": "linux/arm/v7"}

PINNED_FORM = "an image pinned by digest: <registry>/<repository>@sha256:<64 hex digits>"


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


def host_platform(machine: Optional[str] = None) -> Optional[str]:
    """The image platform of this machine (an arm64 laptop builds linux/arm64), or None."""
    return _HOST_ARCH.get((machine or host.machine()).lower())


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


class ConfigError(pulumi.RunError, ValueError):
    """One or more stack config values are invalid; the message lists each key.

    A `pulumi.RunError`: the Python language host prints its message alone (no stack
    trace), the way `make synth` prints it.
    """

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid stack configuration:\n  - " + "\n  - ".join(problems))


class SecretConfigError(pulumi.RunError):
    """Config that only a secret's value shows to be wrong, found inside the secret's `apply`
    (e.g. a data service URL outside the egress the stack allows): the same lines as ConfigError.

    Not a ValueError: the SDK would wrap that in the resource's context (and print the chain);
    a RunError passes through unchanged and prints as its message alone.
    """

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid stack configuration:\n  - " + "\n  - ".join(problems))


# ---------------------------------------------------------------------------------------
# The typed values the components take.


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
    # The push credential (registry.username, registryPassword): the docker provider's registry login
    # only, when images are built; it never reaches the cluster.
    username: Optional[str] = None
    password: Optional[pulumi.Output[str]] = field(default=None, repr=False)
    # The pull credential (registry.pullUsername, registryPullPassword, a read token): the image pull
    # Secret the program makes, and nothing else.
    pull_username: Optional[str] = None
    pull_password: Optional[pulumi.Output[str]] = field(default=None, repr=False)
    # An image pull Secret that already exists in the namespace (instead of the pull credential).
    pull_secret_name: Optional[str] = None

    def repository(self, image: str) -> str:
        return f"{self.server}/{PROJECT}/{image}"

    @property
    def host(self) -> str:
        """The registry host[:port] that logins and `.dockerconfigjson` name."""
        return self.server.split("/")[0]


@dataclass(frozen=True)
class IngressConfig:
    """The public entry point. TLS comes from exactly one of: the certificate as stack secrets
    (`tls_certificate`/`tls_key`: the program makes the Secret), cert-manager (`cluster_issuer`
    writes `tls_secret_name`), or a Secret already in a namespace the stack does not create."""

    host: str
    class_name: str = "nginx"
    tls_secret_name: Optional[str] = None
    controller_namespace: str = "ingress-nginx"
    # The controller runs on the nodes' network (hostNetwork): its traffic comes from the nodes'
    # addresses, not from a pod of controller_namespace; the policies allow these networks instead.
    node_cidrs: tuple[str, ...] = ()
    cluster_issuer: Optional[str] = None  # cert-manager ClusterIssuer (annotation cert-manager.io/cluster-issuer)
    # The controller writes its address into the Ingress' status, and `pulumi up` waits for it;
    # False on a cluster with no such controller (the local control plane): no wait.
    publishes_address: bool = True
    # Where the controller serves HTTP and HTTPS when not on 80/443 (a local cluster): into `url`.
    http_port: Optional[int] = None
    https_port: Optional[int] = None
    tls_certificate: Optional[pulumi.Output[str]] = field(default=None, repr=False)  # PEM chain
    tls_key: Optional[pulumi.Output[str]] = field(default=None, repr=False)  # PEM private key

    @property
    def tls(self) -> bool:
        return bool(self.tls_secret_name or self.tls_certificate is not None)

    @property
    def url(self) -> str:
        scheme, port, default = ("https", self.https_port, 443) if self.tls else ("http", self.http_port, 80)
        return f"{scheme}://{self.host}{'' if port in (None, default) else f':{port}'}"


@dataclass(frozen=True)
class ClusterConfig:
    """What the program assumes of the cluster (README "What a cluster must have"); each a setting."""

    dns_namespace: str = "kube-system"  # where the cluster DNS runs (the allow-dns NetworkPolicy)
    dns_selector: Mapping[str, str] = field(default_factory=lambda: {"k8s-app": "kube-dns"})  # its pods' labels
    # Networks that answer DNS outside any pod the selector can match (a node-local cache on the host
    # network, e.g. GKE NodeLocal DNSCache at 169.254.20.10/32): allowed on port 53 as well.
    dns_cidrs: tuple[str, ...] = ()
    metrics_api: bool = True  # metrics.k8s.io is served (metrics-server): HPAs can scale
    enforces_network_policy: bool = True  # the CNI enforces NetworkPolicies (Calico, Cilium, …)


@dataclass(frozen=True)
class InClusterDataConfig:
    """PostgreSQL and Redis run in the namespace (dev)."""

    postgres_image: str
    redis_image: str
    postgres_storage: str
    # The PVC's StorageClass (volumeClaimTemplates' storageClassName); None: the cluster's default class.
    postgres_storage_class: Optional[str] = None


@dataclass(frozen=True)
class ExternalEndpoint:
    """Where a managed data service listens: the networks and the TCP port the NetworkPolicy allows."""

    cidrs: tuple[str, ...]
    port: int


@dataclass(frozen=True)
class ExternalDataConfig:
    """PostgreSQL and Redis are managed elsewhere (prod); URLs are Pulumi secrets.

    `postgres`/`redis` are plain config (never parsed out of the URLs): the egress the
    NetworkPolicies allow. The program checks each URL against them before deploying.
    """

    database_url: pulumi.Output[str] = field(repr=False)
    redis_url: pulumi.Output[str] = field(repr=False)
    postgres: ExternalEndpoint = ExternalEndpoint(cidrs=(), port=5432)
    redis: ExternalEndpoint = ExternalEndpoint(cidrs=(), port=6379)


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
    create_namespace: bool = True  # False: deploy into an existing namespace the stack never owns
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    # Settings that are valid but do nothing in this stack: logged loudly, not fatal.
    warnings: tuple[str, ...] = ()

    @property
    def is_production(self) -> bool:
        return self.environment == "production"


# ---------------------------------------------------------------------------------------
# The schema: pydantic models, strict, unknown keys forbidden. Each leaf carries its
# accepted form (`Form`), which every message about it quotes.


class Form:
    """The accepted form of a setting, as messages say it ("expected <text>")."""

    def __init__(self, text: str):
        self.text = text


def _text(form: str, *checks: Callable[[str], Optional[str]]) -> Any:
    """A setting that is text as written (never a YAML number), checked by `checks`."""

    def validate(value: str) -> str:
        for check in checks:
            problem = check(value)
            if problem:
                raise ValueError(problem)
        return value

    return Annotated[str, Strict(), AfterValidator(validate), Form(form)]


def _matches(pattern: re.Pattern[str]) -> Callable[[str], Optional[str]]:
    return lambda value: None if pattern.match(value) else f"got {_shown(value)}"


def _tag_problem(value: str) -> Optional[str]:
    """The release tag: a Docker tag that the API server also takes as a label value."""
    if value == "latest":
        return "'latest' is not allowed (deploys must name a release)"
    if _RELEASE_TAG.fullmatch(value):
        return None
    if not value or not re.fullmatch(r"[A-Za-z0-9_.-]+", value):
        return f"got {_shown(value)}"
    if len(value) > LABEL_VALUE_MAX:
        return (f"got {_shown(value)}, {len(value)} characters: the app.kubernetes.io/version label holds at most "
                f"{LABEL_VALUE_MAX}")
    end, char = ("starts", value[0]) if value[0] in "_.-" else ("ends", value[-1])
    return f"got {_shown(value)}, which {end} with {char!r}: a label value {end} with a letter or digit"


def _registry_problem(value: str) -> Optional[str]:
    """host[:port][/path]: a DNS name, localhost or an IP address; a port 1-65535; a lower-case path."""
    address, _, path = value.partition("/")
    hostname, _, port = address.rpartition(":") if ":" in address else (address, "", "")
    if port and (not port.isdigit() or not 1 <= int(port) <= 65535):
        return f"port {port!r} of {value!r} is not a number from 1 to 65535"
    try:
        ipaddress.ip_address(hostname)
    except ValueError:
        if not _DNS_NAME.match(hostname.lower()):
            return f"got {_shown(value)}"
    if path and not _REPO_PATH.match(path):
        return f"path {path!r} of {value!r} is not a lower-case repository path"
    return None


_NETWORK = TypeAdapter(IPvAnyNetwork)


def _cidr_problem(value: str) -> Optional[str]:
    if "/" not in value:
        return f"got {_shown(value)} (no prefix length)"
    try:
        _NETWORK.validate_python(value)
    except ValidationError:
        try:
            network = ipaddress.ip_network(value, strict=False)
        except ValueError:
            return f"got {_shown(value)}"
        return f"{value!r} has host bits set (the network is {network})"
    return None


def _versioned_problem(value: str) -> Optional[str]:
    return None if versioned_image(value) else f"got {_shown(value)}"


def _quantity(value: Any) -> Any:
    """A Kubernetes quantity above zero; a plain YAML number (cpu: 1) is taken as its text."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ValueError(f"got {_shown(value)}")
    text = value if isinstance(value, str) else engine_string(value)
    try:
        amount = parse_quantity(text)
    except ValueError:
        raise ValueError(f"got {_shown(value)}") from None
    if amount <= 0:
        raise ValueError(f"got {_shown(value)}, not above zero")
    return text


DnsLabel = _text("a DNS label: lower-case letters, digits and '-', at most 63", _matches(_DNS_LABEL))
DnsName = _text("a lower-case DNS name like app.example.com", _matches(_DNS_NAME))
SecretName = _text("a Kubernetes Secret name: a lower-case DNS name like mbhealth-tls", _matches(_DNS_NAME))
StorageClassName = _text("a StorageClass name: a DNS-1123 subdomain (lower-case letters, digits, '-', '.', at most "
                         "253) like standard or gp3-encrypted", _matches(_DNS_SUBDOMAIN))
IngressClass = _text("an IngressClass name: a lower-case DNS name like nginx", _matches(_DNS_NAME))
ImageTag = _text("a Docker tag that is also a label value (app.kubernetes.io/version): 1-63 of letters, digits, "
                 "'_', '.', '-', starting and ending with a letter or digit, e.g. 1.4.2 or a git SHA (never latest)",
                 _tag_problem)
RegistryServer = _text("a registry host with optional port (1-65535) and path, like localhost:5000 or ghcr.io/acme",
                       _registry_problem)
RegistryUser = _text("the registry user name (no spaces, ':', '/' or '@')", _matches(_USERNAME))
Cidr = _text("an IPv4 or IPv6 network in CIDR notation, like 10.0.0.0/8", _cidr_problem)
VersionedImage = _text("an image with a specific version tag or digest, like postgres:15.10-alpine (never latest)",
                       _versioned_problem)
PinnedImage = _text(PINNED_FORM, _matches(PINNED_RE))
LabelKey = _text("a label key like k8s-app or app.kubernetes.io/name", _matches(re.compile(
    r"^(?:[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(?:\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*/)?"
    r"[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$")))
LabelValue = _text("a label value: at most 63 of letters, digits, '-', '_', '.'", _matches(re.compile(
    r"^(?:[A-Za-z0-9](?:[-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")))
PodLabels = Annotated[dict[LabelKey, LabelValue], Strict(), Field(min_length=1),
                      Form("pod labels as a map, like {k8s-app: kube-dns}")]
Flag = Annotated[bool, Strict(), Form("true or false")]
IssuerName = _text("a cert-manager ClusterIssuer name: a lower-case DNS name like letsencrypt-prod", _matches(_DNS_NAME))
StackName = _text("a stack name like <org>/mbhealth/dev (whose `images` output is promoted)", _matches(_STACK_NAME))
Quantity = Annotated[str, BeforeValidator(_quantity), Form(QUANTITY_FORM)]
PositiveInt = Annotated[int, Strict(), Field(ge=1), Form("a whole number of at least 1")]
Port = Annotated[int, Strict(), Field(ge=1, le=65535), Form("a TCP port: a whole number from 1 to 65535")]
CidrList = Annotated[list[Cidr], Strict(), Field(min_length=1),
                     Form("a list of networks in CIDR notation, like [10.0.1.0/24]")]
DnsCidrList = Annotated[list[Cidr], Strict(), Field(min_length=1),
                        Form("a list of networks in CIDR notation that answer DNS on port 53, like [169.254.20.10/32] "
                             "(a node-local DNS cache)")]
Percent = Annotated[int, Strict(), Field(ge=1, le=100), Form("a whole number from 1 to 100")]


def _one_of(choices: tuple[str, ...]) -> Any:
    return Annotated[Literal[choices], Form("one of " + ", ".join(choices))]  # type: ignore[valid-type]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=False)
    # How messages call a key this model does not know.
    unknown: ClassVar[str] = "unknown key"


class RegistrySettings(_Model):
    server: RegistryServer
    username: Optional[RegistryUser] = None  # pushes, with registryPassword
    pull_username: Optional[RegistryUser] = Field(None, alias="pullUsername")  # pulls, with registryPullPassword
    pull_secret_name: Optional[SecretName] = Field(None, alias="pullSecretName")


class IngressSettings(_Model):
    host: DnsName
    class_name: IngressClass = Field("nginx", alias="className")
    tls_secret_name: Optional[SecretName] = Field(None, alias="tlsSecretName")
    controller_namespace: DnsLabel = Field("ingress-nginx", alias="controllerNamespace")
    cluster_issuer: Optional[IssuerName] = Field(None, alias="clusterIssuer")
    controller_host_network: Flag = Field(False, alias="controllerHostNetwork")
    node_cidrs: Optional[CidrList] = Field(None, alias="nodeCidrs")
    publishes_address: Flag = Field(True, alias="publishesAddress")
    http_port: Optional[Port] = Field(None, alias="httpPort")
    https_port: Optional[Port] = Field(None, alias="httpsPort")


class ClusterSettings(_Model):
    dns_namespace: DnsLabel = Field("kube-system", alias="dnsNamespace")
    dns_selector: PodLabels = Field(default_factory=lambda: {"k8s-app": "kube-dns"}, alias="dnsSelector")
    dns_cidrs: Optional[DnsCidrList] = Field(None, alias="dnsCidrs")
    metrics_api: Flag = Field(True, alias="metricsApi")
    enforces_network_policy: Flag = Field(True, alias="enforcesNetworkPolicy")


class DataServicesSettings(_Model):
    mode: _one_of(DATA_SERVICE_MODES)  # type: ignore[valid-type]
    # in-cluster
    postgres_storage: Optional[Quantity] = Field(None, alias="postgresStorage")
    postgres_storage_class: Optional[StorageClassName] = Field(None, alias="postgresStorageClass")
    postgres_image: Optional[VersionedImage] = Field(None, alias="postgresImage")
    redis_image: Optional[VersionedImage] = Field(None, alias="redisImage")
    # external: where each managed service listens (the NetworkPolicies' egress)
    postgres: Optional["ExternalServiceSettings"] = None
    redis: Optional["ExternalServiceSettings"] = None
    # replaced by postgres/redis (one CIDR for both services, ports fixed at 5432/6379)
    egress_cidr: Optional[Any] = Field(None, alias="egressCidr")


class ExternalServiceSettings(_Model):
    cidrs: CidrList
    port: Optional[Port] = None


DataServicesSettings.model_rebuild()


class ResourceSettings(_Model):
    unknown: ClassVar[str] = "unknown resource"
    cpu: Optional[Quantity] = None
    memory: Optional[Quantity] = None
    ephemeral_storage: Optional[Quantity] = Field(None, alias="ephemeral-storage")


class AutoscalingSettings(_Model):
    min_replicas: PositiveInt = Field(alias="minReplicas")
    max_replicas: PositiveInt = Field(alias="maxReplicas")
    cpu_utilization: Percent = Field(70, alias="cpuUtilization")


class ServiceSettings(_Model):
    replicas: Optional[PositiveInt] = None
    requests: Optional[ResourceSettings] = None
    limits: Optional[ResourceSettings] = None
    tmp_size: Optional[Quantity] = Field(None, alias="tmpSize")
    autoscaling: Optional[AutoscalingSettings] = None
    min_available: Optional[PositiveInt] = Field(None, alias="minAvailable")


class ServicesSettings(_Model):
    unknown: ClassVar[str] = "unknown service"
    backend: Optional[ServiceSettings] = None
    worker: Optional[ServiceSettings] = None
    frontend: Optional[ServiceSettings] = None


class DigestsSettings(_Model):
    unknown: ClassVar[str] = "unknown image"
    backend: Optional[PinnedImage] = None
    frontend: Optional[PinnedImage] = None


class ImagesSettings(_Model):
    source: _one_of(IMAGE_SOURCES) = "build"  # type: ignore[valid-type]
    digests: Optional[DigestsSettings] = None
    stack: Optional[StackName] = None


class StackSettings(_Model):
    """`mbhealth:<key>` of a stack file (the secrets are separate: SECRET_KEYS)."""

    environment: _one_of(ENVIRONMENTS)  # type: ignore[valid-type]
    namespace: DnsLabel
    create_namespace: Annotated[bool, Strict(), Form("true (the stack creates and owns the namespace) or false "
                                                     "(it exists already, made and owned by someone else)")] = Field(
        True, alias="createNamespace")
    image_tag: ImageTag = Field(alias="imageTag")
    registry: RegistrySettings
    platform: Optional[_one_of(PLATFORMS)] = None  # type: ignore[valid-type]
    log_level: _one_of(LOG_LEVELS) = Field("INFO", alias="logLevel")  # type: ignore[valid-type]
    ingress: IngressSettings
    data_services: DataServicesSettings = Field(
        default_factory=lambda: DataServicesSettings(mode="in-cluster"), alias="dataServices")
    services: ServicesSettings = Field(default_factory=ServicesSettings)
    images: ImagesSettings = Field(default_factory=ImagesSettings)
    backend_variant: _one_of(tuple(BACKEND_VARIANTS)) = Field("slim", alias="backendVariant")  # type: ignore[valid-type]
    cluster: ClusterSettings = Field(default_factory=ClusterSettings)


# ---------------------------------------------------------------------------------------
# Messages.


def _shown(value: Any) -> str:
    """A value for a message: repr, with any URL password masked."""
    text = repr(value)
    return re.sub(r"(://[^/\s:@]*:)[^/\s@]+@", r"\1***@", text)


def _unwrap(tp: Any) -> tuple[Any, list[Any]]:
    """Strip Optional and Annotated; return the bare type and the Annotated metadata."""
    metadata: list[Any] = []
    while True:
        origin = get_origin(tp)
        if origin is Annotated:
            args = get_args(tp)
            metadata.extend(args[1:])
            tp = args[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(tp) if a is not type(None)]
            if len(args) != 1:
                return tp, metadata
            tp = args[0]
        else:
            return tp, metadata


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _field(model: type[BaseModel], key: str) -> Any:
    for name, info in model.model_fields.items():
        if (info.alias or name) == key:
            return Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
    return None


def keys_of(model: type[BaseModel]) -> list[str]:
    return [info.alias or name for name, info in model.model_fields.items()]


def _at(tp: Any, path: tuple[Any, ...]) -> tuple[Any, list[Any]]:
    """The type (and its metadata) at `path` below `tp`; (None, []) past a leaf or an unknown key."""
    for part in path:
        bare, _ = _unwrap(tp)
        if get_origin(bare) is list and str(part).isdigit():
            tp = get_args(bare)[0]
            continue
        if get_origin(bare) is dict:
            tp = get_args(bare)[1]
            continue
        if not _is_model(bare):
            return None, []
        tp = _field(bare, str(part))
        if tp is None:
            return None, []
    return _unwrap(tp)


def _form(tp: Any, path: tuple[Any, ...]) -> str:
    bare, metadata = _at(tp, path)
    forms = [m.text for m in metadata if isinstance(m, Form)]
    if forms:
        return forms[-1]
    if _is_model(bare):
        return "a map with " + ", ".join(keys_of(bare))
    return "a valid value"


def _expects_text(tp: Any, path: tuple[Any, ...]) -> bool:
    bare, _ = _at(tp, path)
    return bare is str or get_origin(bare) is Literal


def did_you_mean(key: str, known: list[str]) -> Optional[str]:
    lowered = {k.lower(): k for k in known}
    close = difflib.get_close_matches(key.lower(), list(lowered), n=1, cutoff=0.6)
    return lowered[close[0]] if close else None


def _key(path: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in path)


class _Problems:
    """Collects one line per problem, at most one per key (the first found)."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.keys: set[str] = set()

    def add(self, key: str, problem: str, expected: str) -> None:
        if key in self.keys:
            return
        self.keys.add(key)
        self.lines.append(f"{PROJECT}:{key}: {problem}; expected {expected}")

    def has(self, key: str) -> bool:
        return key in self.keys or any(k.startswith(key + ".") for k in self.keys)


def _report(problems: _Problems, top: str, tp: Any, error: ValidationError,
            written: Mapping[tuple[str, ...], Written]) -> None:
    for item in error.errors():
        loc = tuple(str(part) for part in item["loc"])
        path = (top, *loc)
        key = _key(path)
        kind, value = item["type"], item.get("input")
        if kind == "extra_forbidden":
            parent, _ = _at(tp, loc[:-1])
            known = keys_of(parent) if _is_model(parent) else []
            what = getattr(parent, "unknown", "unknown key")
            guess = did_you_mean(loc[-1], known)
            hint = f" (did you mean `{guess}`?)" if guess else ""
            problems.add(key, f"{what}{hint}", "one of " + ", ".join(known))
            continue
        form = _form(tp, loc)
        if kind == "missing":
            problems.add(key, "missing", form)
            continue
        scalar = written.get(path)
        if _expects_text(tp, loc) and not isinstance(value, str) and not isinstance(value, (dict, list)):
            got = describe_written(scalar) if scalar and not scalar.is_text else (
                "nothing (an empty value)" if value is None else f"{_shown(value)} (a {type(value).__name__})")
            example = scalar.text if scalar and scalar.text else "..."
            problems.add(key, f"got {got}", f'{form}, as text in quotes: {loc[-1] if loc else top}: "{example}"')
            continue
        if value is None and kind != "literal_error":
            problems.add(key, "got nothing (an empty value)", form)
        elif kind == "literal_error":
            problems.add(key, f"got {_shown(value)}", form)
        elif kind == "value_error":
            problems.add(key, str(item["ctx"]["error"]), form)
        elif get_origin(_at(tp, loc)[0]) is list and not isinstance(value, list):
            problems.add(key, f"got {_shown(value)}, not a list", form)
        elif isinstance(value, str) and not _expects_text(tp, loc):
            problems.add(key, f"got {_shown(value)} (text)", f"{form}, written without quotes")
        elif isinstance(value, (dict, list)) and not _is_model(_at(tp, loc)[0]):
            problems.add(key, f"got a {'map' if isinstance(value, dict) else 'list'}", form)
        elif _is_model(_at(tp, loc)[0]) and not isinstance(value, dict):
            problems.add(key, f"got {_shown(value)}", form)
        else:
            problems.add(key, f"got {_shown(value)}", form)


def _reinterpreted_numbers(problems: _Problems, top: str, tp: Any,
                           written: Mapping[tuple[str, ...], Written]) -> None:
    """A number YAML reads differently from how it was written (010 -> 8, 1.10 -> 1.1) is refused."""
    for path, scalar in written.items():
        if path[0] != top or scalar.kind not in ("int", "float") or problems.has(_key(path)):
            continue
        _, value = resolve_plain(scalar.text)
        try:
            canonical = engine_string(value)
        except ValueError:
            canonical = scalar.text + "?"
        if canonical != scalar.text:
            problems.add(_key(path), f"got {describe_written(scalar)}",
                         f"{_form(tp, path[1:])}: write {canonical}, or the text in quotes")


# ---------------------------------------------------------------------------------------
# Reading.


@dataclass(frozen=True)
class RawConfig:
    """The stack's config as the program received it, before validation."""

    stack: str
    values: Mapping[str, Any]  # mbhealth keys (no prefix) -> value as written (typed), secrets excluded
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)  # secret keys -> plaintext
    plaintext_secret_keys: frozenset[str] = frozenset()  # SECRET_KEYS given in plain text
    written: Mapping[tuple[str, ...], Written] = field(default_factory=dict)  # ("services", "backend", "replicas")
    other_keys: tuple[str, ...] = ()  # keys of other namespaces ("kubernetes:context")
    stack_file: str = ""  # for messages


def _secret_command(stack: str, key: str, value: str = "<value>") -> str:
    return f"pulumi config set --secret --stack {stack} {key} {value}"


def _validate_secret(key: str, value: str) -> Optional[tuple[str, str]]:
    """(problem, expected) for a malformed secret; never quotes the value."""
    if key == "secretKey" and len(value) < SECRET_KEY_MIN_LENGTH:
        return (f"{len(value)} characters (value hidden)",
                f"a secret of at least {SECRET_KEY_MIN_LENGTH} random characters, e.g. $(openssl rand -hex 32)")
    if key in ("databaseUrl", "redisUrl"):
        schemes = POSTGRES_SCHEMES if key == "databaseUrl" else REDIS_SCHEMES
        example = ("postgresql://user:password@host:5432/db" if key == "databaseUrl"
                   else "rediss://:password@host:6380/0")
        try:
            parts = urlsplit(value)
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError:
            return "not a valid URL (value hidden)", f"a URL like {example}"
        if parts.scheme not in schemes or not parts.hostname:
            return ("not a " + ("PostgreSQL" if key == "databaseUrl" else "Redis") + " URL (value hidden)",
                    f"a URL with scheme {' or '.join(s + '://' for s in schemes)} and a host, like {example}")
    if key == "registryPassword" and not value:
        return "empty", "the registry token that pushes"
    if key == "registryPullPassword" and not value:
        return "empty", "the registry token that reads (pulls)"
    if key == "tlsCertificate" and "-----BEGIN CERTIFICATE-----" not in value:
        return ("not a PEM certificate (value hidden)",
                "the PEM certificate chain, leaf first: pulumi config set --secret tlsCertificate < tls.crt")
    if key == "tlsKey" and not re.search(r"-----BEGIN (?:[A-Z]+ )?PRIVATE KEY-----", value):
        return ("not a PEM private key (value hidden)",
                "the certificate's PEM private key: pulumi config set --secret tlsKey < tls.key")
    return None


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _service(problems: _Problems, name: str, override: Optional[ServiceSettings]) -> ServiceConfig:
    key = f"services.{name}"
    given = override.model_dump(by_alias=True, exclude_unset=True) if override else {}
    raw = deep_merge(SERVICE_DEFAULTS[name], given)
    requests, limits = dict(raw["requests"]), dict(raw["limits"])
    for resource, limit in limits.items():
        request = requests.get(resource)
        if request is not None and parse_quantity(limit) < parse_quantity(request):
            problems.add(f"{key}.limits.{resource}", f"limit {limit!r} is below its request {request!r}",
                         "a limit at or above the request")
    tmp_size = raw["tmpSize"]
    if parse_quantity(tmp_size) > parse_quantity(limits["ephemeral-storage"]):
        problems.add(f"{key}.tmpSize", f"{tmp_size!r} exceeds the ephemeral-storage limit {limits['ephemeral-storage']!r}",
                     "a size at or below limits.ephemeral-storage")
    autoscaling = None
    if raw.get("autoscaling"):
        a = raw["autoscaling"]
        autoscaling = Autoscaling(a["minReplicas"], a["maxReplicas"], a.get("cpuUtilization", 70))
        if autoscaling.min_replicas > autoscaling.max_replicas:
            problems.add(f"{key}.autoscaling.minReplicas",
                         f"minReplicas {autoscaling.min_replicas} is above maxReplicas {autoscaling.max_replicas}",
                         "minReplicas at or below maxReplicas")
        if "replicas" in given:
            problems.add(f"{key}.replicas", "has no effect beside autoscaling (the HPA owns the replica count)",
                         "either replicas or autoscaling.minReplicas/maxReplicas, not both: remove replicas")
    replicas = raw["replicas"]
    min_available = raw.get("minAvailable")
    if min_available is not None:
        floor = autoscaling.min_replicas if autoscaling else replicas
        if min_available >= floor:
            problems.add(f"{key}.minAvailable", f"got {min_available!r}",
                         f"a whole number from 1 to {floor - 1} (below the replica count {floor})"
                         if floor > 1 else f"no minAvailable while the replica count is {floor} "
                         "(a PodDisruptionBudget would block every eviction)")
            min_available = None
    return ServiceConfig(name, replicas, Resources(requests=requests, limits=limits), tmp_size, autoscaling,
                         min_available)


def read_stack_config(raw: RawConfig) -> StackConfig:
    """Validate `raw` into the typed config; raise ConfigError listing every problem."""
    problems = _Problems()
    stack = raw.stack
    in_file = f" in {raw.stack_file}" if raw.stack_file else ""

    # Keys of our namespace that are not settings; near-misses of the namespace itself.
    known = keys_of(StackSettings)
    for key in sorted(raw.values):
        if key not in known and key not in SECRET_KEYS:
            guess = did_you_mean(key, known + list(SECRET_KEYS))
            hint = f" (did you mean `{guess}`?)" if guess else ""
            problems.add(key, f"unknown key{hint}", "one of " + ", ".join(known + list(SECRET_KEYS)))
    for other in raw.other_keys:
        namespace, _, key = other.partition(":")
        if namespace != PROJECT and difflib.SequenceMatcher(None, namespace.lower(), PROJECT).ratio() >= 0.75:
            problems.lines.append(f"{other}: unknown namespace {namespace!r} (did you mean `{PROJECT}:{key}`?); "
                                  f"expected {PROJECT}:<key> for this project's settings")

    # Secrets: only ever Pulumi secrets; a URL with a password anywhere else is one too.
    for key in sorted(raw.plaintext_secret_keys):
        problems.add(key, f"committed in plain text{in_file}",
                     f"a secret: run `{_secret_command(stack, key)}` (it replaces the plain value)")

    def scan(value: Any, path: tuple[str, ...]) -> None:
        if isinstance(value, str) and _URL_WITH_PASSWORD.search(value):
            target = f"--path '{_key(path)}'" if len(path) > 1 else path[0]
            problems.add(_key(path), f"a URL with a password in plain text{in_file}",
                         "no credentials in plain config; keep them in a secret: "
                         f"`pulumi config set --secret --stack {stack} {target} <value>`")
        elif isinstance(value, dict):
            for k, v in value.items():
                scan(v, (*path, str(k)))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                scan(v, (*path, str(i)))

    for key, value in raw.values.items():
        scan(value, (key,))

    secrets: dict[str, pulumi.Output[str]] = {}
    for key, value in raw.secrets.items():
        bad = _validate_secret(key, value)
        if bad:
            problems.add(key, *bad)
        secrets[key] = pulumi.Output.secret(value)

    # Each setting on its own, so that one bad key does not hide another's problems.
    settings: dict[str, Any] = {}
    for name, info in StackSettings.model_fields.items():
        key = info.alias or name
        tp = Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
        if key not in raw.values:
            if info.is_required():
                problems.add(key, "missing", _form(StackSettings, (key,)))
            elif key == "services":
                settings[key] = _read_services(problems, {}, raw.written)
            else:
                settings[key] = info.get_default(call_default_factory=True)
            continue
        value = raw.values[key]
        if key == "services" and isinstance(value, dict):
            settings[key] = _read_services(problems, value, raw.written)
            continue
        try:
            settings[key] = TypeAdapter(tp).validate_python(value)
        except ValidationError as error:
            _report(problems, key, tp, error, raw.written)
        _reinterpreted_numbers(problems, key, tp, raw.written)

    environment = settings.get("environment", "development")
    production = environment == "production"

    # Registry credentials, one per use: registry.username + registryPassword push (the docker provider's
    # login, when images are built), registry.pullUsername + registryPullPassword pull (the cluster's
    # image pull Secret) or registry.pullSecretName names one that exists. A stack that deploys promoted
    # images pushes nothing, and refuses a push credential: it would only widen who holds a write token.
    registry_settings: Optional[RegistrySettings] = settings.get("registry")
    username = registry_settings.username if registry_settings else None
    pull_username = registry_settings.pull_username if registry_settings else None
    pull_secret_name = registry_settings.pull_secret_name if registry_settings else None
    image_settings: Optional[ImagesSettings] = settings.get("images")
    pushes = image_settings is None or image_settings.source == "build"
    promoted = f"images.source {image_settings.source}" if image_settings is not None and not pushes else ""

    def given(key: str) -> bool:
        return key in raw.secrets or key in raw.plaintext_secret_keys

    if given("registryPassword") and promoted:
        problems.add("registryPassword", f"a push credential, and nothing is pushed with {promoted}",
                     f"no push token in a stack that deploys promoted images: `pulumi config rm --stack {stack} "
                     "registryPassword`; the cluster pulls with registry.pullUsername and a read token, "
                     f"`{_secret_command(stack, 'registryPullPassword', '<read token>')}`")
    elif username and pushes and not given("registryPassword") and image_settings is not None:
        problems.add("registryPassword", "missing while registry.username is set and images are pushed "
                     "(images.source build)",
                     f"a secret, a token that can push: {_secret_command(stack, 'registryPassword', '<push token>')}")
    if "registryPassword" in raw.secrets and registry_settings and not username and not promoted:
        problems.add("registry.username", "missing while registryPassword is set",
                     "the registry user name that pushes with it")
    if pull_username and pull_secret_name:
        problems.add("registry.pullUsername", "a second source of the pull credential beside registry.pullSecretName",
                     "one of them: registry.pullUsername with registryPullPassword (the program makes the pull Secret) "
                     "or registry.pullSecretName (an existing Secret)")
    elif pull_username and not given("registryPullPassword"):
        problems.add("registryPullPassword", "missing while registry.pullUsername is set (the cluster's image pull "
                     "Secret is made from them)",
                     f"a secret, a token that can only read: {_secret_command(stack, 'registryPullPassword', '<read token>')}")
    if "registryPullPassword" in raw.secrets and registry_settings and not pull_username:
        problems.add("registry.pullUsername", "missing while registryPullPassword is set",
                     "the registry user name of the read token (the image pull Secret's)")
    if raw.secrets.get("registryPullPassword") and raw.secrets.get("registryPullPassword") == raw.secrets.get(
            "registryPassword"):
        problems.add("registryPullPassword", "the same token as registryPassword (value hidden): the cluster would "
                     "hold the push credential",
                     f"a token that can only read: {_secret_command(stack, 'registryPullPassword', '<read token>')}")
    registry = RegistryConfig(server=registry_settings.server if registry_settings else "", username=username,
                              password=secrets.get("registryPassword") if not promoted else None,
                              pull_username=pull_username, pull_password=secrets.get("registryPullPassword"),
                              pull_secret_name=pull_secret_name)

    if "secretKey" not in raw.secrets and "secretKey" not in raw.plaintext_secret_keys and production:
        problems.add("secretKey", "missing in a production stack",
                     f"a secret of at least {SECRET_KEY_MIN_LENGTH} random characters: "
                     f"{_secret_command(stack, 'secretKey', '$(openssl rand -hex 32)')}")
    data = _read_data(problems, settings.get("data_services") or settings.get("dataServices"), raw, secrets, stack)
    images = _read_images(problems, settings.get("images"), registry)

    platform = settings.get("platform") or host_platform()
    if platform is None:
        problems.add("platform", f"not set, and this machine's architecture {host.machine()!r} has no image platform",
                     "one of " + ", ".join(PLATFORMS))
        platform = PLATFORMS[0]

    warnings = []
    if images.mode != "build":
        # Promoted images are what they are: a stack that sometimes builds keeps these set.
        for key in ("platform", "backendVariant"):
            if key in raw.values:
                warnings.append(f"{PROJECT}:{key}: has no effect with images.source {images.mode} "
                                "(nothing is built; the promoted images are deployed as they are)")
        if username:
            warnings.append(f"{PROJECT}:registry.username: has no effect with images.source {images.mode} "
                            "(it pushes, with registryPassword; nothing is pushed)")
    if username and not pull_username and not pull_secret_name:
        warnings.append(f"{PROJECT}:registry: the cluster pulls our images anonymously: registry.username and "
                        "registryPassword only push, they never reach the cluster; for a private registry set "
                        "registry.pullUsername and registryPullPassword (a read token) or registry.pullSecretName")

    ingress_settings: Optional[IngressSettings] = settings.get("ingress")
    create_namespace = settings.get("createNamespace", True)
    cluster_settings: ClusterSettings = settings.get("cluster") or ClusterSettings()
    warnings.extend(_check_cluster(problems, cluster_settings, ingress_settings, settings.get("services") or {},
                                   production))
    if ingress_settings is not None:
        _check_tls(problems, ingress_settings, raw, stack, create_namespace, settings.get("namespace"))
    if problems.lines:
        raise ConfigError(problems.lines)
    assert ingress_settings is not None
    return StackConfig(
        stack=stack,
        environment=environment,
        namespace=settings["namespace"],
        registry=registry,
        image_tag=settings["imageTag"],
        platform=platform,
        log_level=settings["logLevel"],
        ingress=IngressConfig(
            host=ingress_settings.host,
            class_name=ingress_settings.class_name,
            tls_secret_name=ingress_settings.tls_secret_name,
            controller_namespace=ingress_settings.controller_namespace,
            node_cidrs=tuple(ingress_settings.node_cidrs or ()),
            cluster_issuer=ingress_settings.cluster_issuer,
            publishes_address=ingress_settings.publishes_address,
            http_port=ingress_settings.http_port,
            https_port=ingress_settings.https_port,
            tls_certificate=secrets.get("tlsCertificate"),
            tls_key=secrets.get("tlsKey"),
        ),
        data=data,  # type: ignore[arg-type]
        services=settings["services"],
        images=images,
        backend_variant=settings["backendVariant"],
        secret_key=secrets.get("secretKey"),
        create_namespace=create_namespace,
        cluster=ClusterConfig(
            dns_namespace=cluster_settings.dns_namespace,
            dns_selector=dict(cluster_settings.dns_selector),
            dns_cidrs=tuple(cluster_settings.dns_cidrs or ()),
            metrics_api=cluster_settings.metrics_api,
            enforces_network_policy=cluster_settings.enforces_network_policy,
        ),
        warnings=tuple(warnings),
    )


def _check_cluster(problems: _Problems, cluster: ClusterSettings, ingress: Optional[IngressSettings],
                   services: Mapping[str, ServiceConfig], production: bool) -> list[str]:
    """The cluster settings against what the stack asks of the cluster; returns warnings."""
    if not cluster.metrics_api:
        for name, service in sorted(services.items()):
            if service.autoscaling is not None:
                problems.add(f"services.{name}.autoscaling", "needs the resource metrics API (metrics.k8s.io, e.g. "
                             "metrics-server), which cluster.metricsApi says the cluster does not serve: the "
                             "HorizontalPodAutoscaler would never scale", "replicas instead, or metrics-server installed "
                             "and cluster.metricsApi: true")
    warnings = []
    if not cluster.enforces_network_policy:
        if production:
            problems.add("cluster.enforcesNetworkPolicy", "false in a production stack: the NetworkPolicies (default "
                         "deny, the data services' egress) would be ignored", "a CNI that enforces NetworkPolicies "
                         "(Calico, Cilium, …) and true")
        else:
            warnings.append(f"{PROJECT}:cluster.enforcesNetworkPolicy: false: the NetworkPolicies are created but the "
                            "cluster's CNI ignores them (nothing is isolated)")
    if ingress is not None:
        if ingress.controller_host_network and not ingress.node_cidrs:
            problems.add("ingress.nodeCidrs", "missing while ingress.controllerHostNetwork is true (the controller's "
                         "traffic comes from the nodes' addresses)", "a list of the nodes' networks, like [10.0.0.0/16]")
        if ingress.node_cidrs and not ingress.controller_host_network:
            problems.add("ingress.nodeCidrs", "has no effect unless ingress.controllerHostNetwork is true (the "
                         "controller's pods are allowed by their namespace)", "it only with controllerHostNetwork: "
                         "true; remove it")
    return warnings


def _check_tls(problems: _Problems, ingress: IngressSettings, raw: RawConfig, stack: str, create_namespace: bool,
               namespace: Optional[str]) -> None:
    """One working source of the ingress certificate, or none (plain HTTP).

    A Secret named by tlsSecretName in a namespace the stack creates is put there by nobody
    (it cannot exist before the namespace): the controller would serve its fake certificate.
    """
    given = {key for key in ("tlsCertificate", "tlsKey") if key in raw.secrets or key in raw.plaintext_secret_keys}
    for key, other in (("tlsCertificate", "tlsKey"), ("tlsKey", "tlsCertificate")):
        if other in given and key not in given:
            problems.add(key, f"missing while {other} is set",
                         f"a secret: pulumi config set --secret --stack {stack} {key} < <PEM file>")
    if given:
        for name, alias in (("tls_secret_name", "tlsSecretName"), ("cluster_issuer", "clusterIssuer")):
            if name in ingress.model_fields_set:
                problems.add(f"ingress.{alias}", "has no effect beside the secrets tlsCertificate and tlsKey (the "
                             "program makes the TLS Secret from them)",
                             "one source of the certificate: remove it, or the two secrets")
        return
    if ingress.cluster_issuer and not ingress.tls_secret_name:
        problems.add("ingress.tlsSecretName", "missing while ingress.clusterIssuer is set",
                     "the Secret cert-manager writes the certificate to, like mbhealth-tls")
        return
    if ingress.tls_secret_name and not ingress.cluster_issuer and create_namespace:
        problems.add("ingress.tlsSecretName", f"names a Secret in namespace {namespace!r}, which this stack creates: "
                     "nothing can have put it there, so the ingress controller would serve its fake certificate",
                     "a source of the certificate: the secrets tlsCertificate and tlsKey (the program makes the "
                     "Secret), ingress.clusterIssuer (cert-manager writes it), or createNamespace: false with the "
                     "namespace and the Secret made beforehand")


def _read_services(problems: _Problems, value: dict, written: Mapping[tuple[str, ...], Written]) -> dict[str, ServiceConfig]:
    services = {}
    for name in sorted(set(value) - set(SERVICES)):
        guess = did_you_mean(name, list(SERVICES))
        hint = f" (did you mean `{guess}`?)" if guess else ""
        problems.add(f"services.{name}", f"unknown service{hint}", "one of " + ", ".join(SERVICES))
    for name in SERVICES:
        override = None
        if value.get(name) is not None:
            try:
                override = ServiceSettings.model_validate(value[name])
            except ValidationError as error:
                _report(problems, f"services.{name}", ServiceSettings, error,
                        {(f"services.{name}", *p[2:]): w for p, w in written.items() if p[:2] == ("services", name)})
        elif name in value:
            problems.add(f"services.{name}", "got nothing (an empty value)",
                         "a map with " + ", ".join(keys_of(ServiceSettings)) + " (or leave the service out)")
        if not problems.has(f"services.{name}"):
            services[name] = _service(problems, name, override)
    _reinterpreted_numbers(problems, "services", StackSettings.model_fields["services"].annotation, written)
    if len(services) != len(SERVICES):
        return {}
    return services


def _read_data(problems: _Problems, settings: Optional[DataServicesSettings], raw: RawConfig,
               secrets: Mapping[str, pulumi.Output[str]], stack: str) -> Optional[InClusterDataConfig | ExternalDataConfig]:
    if settings is None:
        written = raw.values.get("dataServices")
        if isinstance(written, dict) and written.get("mode") == "external":
            _external_secrets(problems, raw, stack)  # reported with the other problems of dataServices
        return None
    given = settings.model_fields_set
    if "egress_cidr" in given:
        problems.add("dataServices.egressCidr", "replaced by each service's own networks and port (one CIDR for both, "
                     "with ports fixed at 5432 and 6379, blocked TLS Redis on 6380)",
                     "dataServices.postgres: {cidrs: [<network>], port: 5432} and "
                     "dataServices.redis: {cidrs: [<network>], port: 6380}; remove egressCidr")
    if settings.mode == "in-cluster":
        for name in EXTERNAL_SERVICES:
            if name in given:
                problems.add(f"dataServices.{name}", "has no effect with mode in-cluster (PostgreSQL and Redis run "
                             "in the namespace)", "it only with mode external; remove it")
        for key in ("databaseUrl", "redisUrl"):
            if key in raw.secrets:
                problems.add(key, "has no effect with dataServices.mode in-cluster (the stack runs its own "
                             "PostgreSQL and Redis)", f"no {key} secret: pulumi config rm --stack {stack} {key}")
        return InClusterDataConfig(
            postgres_image=settings.postgres_image or "postgres:15.10-alpine",
            redis_image=settings.redis_image or "redis:7.4.1-alpine",
            postgres_storage=settings.postgres_storage or "1Gi",
            postgres_storage_class=settings.postgres_storage_class,
        )
    for name, alias in (("postgres_storage", "postgresStorage"), ("postgres_storage_class", "postgresStorageClass"),
                        ("postgres_image", "postgresImage"), ("redis_image", "redisImage")):
        if name in given:
            problems.add(f"dataServices.{alias}", "has no effect with mode external (no PostgreSQL or Redis runs "
                         "in the namespace)", "it only with mode in-cluster; remove it")
    endpoints = {}
    for name in EXTERNAL_SERVICES:
        service: Optional[ExternalServiceSettings] = getattr(settings, name)
        if service is None:
            problems.add(f"dataServices.{name}", "missing while mode is external (the NetworkPolicies allow "
                         "egress only to the networks and port named here)",
                         f"{{cidrs: [<network in CIDR notation>], port: <TCP port, default {DEFAULT_PORTS[name]}>}}")
            continue
        endpoints[name] = ExternalEndpoint(cidrs=tuple(service.cidrs), port=service.port or DEFAULT_PORTS[name])
    _external_secrets(problems, raw, stack)
    if problems.has("databaseUrl") or problems.has("redisUrl") or len(endpoints) != len(EXTERNAL_SERVICES):
        return None
    return ExternalDataConfig(database_url=secrets["databaseUrl"], redis_url=secrets["redisUrl"],
                              postgres=endpoints["postgres"], redis=endpoints["redis"])


def _external_secrets(problems: _Problems, raw: RawConfig, stack: str) -> None:
    scheme = {"databaseUrl": "postgresql://...", "redisUrl": "redis://... or rediss://..."}
    for key in ("databaseUrl", "redisUrl"):
        if key not in raw.secrets and key not in raw.plaintext_secret_keys:
            problems.add(key, "missing while dataServices.mode is external",
                         f"a secret URL ({scheme[key]}): {_secret_command(stack, key, '<url>')}")


def _read_images(problems: _Problems, settings: Optional[ImagesSettings], registry: RegistryConfig) -> ImageSource:
    if settings is None:
        return ImageSource()
    given = settings.model_fields_set
    mode = settings.source
    for other, needs in (("digests", "digests"), ("stack", "stack")):
        if other in given and mode != needs:
            problems.add(f"images.{other}", f"has no effect with source {mode}",
                         f"it only with source {needs}; remove it")
    if mode == "digests":
        if settings.digests is None:
            problems.add("images.digests", "missing while source is digests",
                         "a map from " + ", ".join(IMAGE_BUILDS) + " to " + PINNED_FORM)
            return ImageSource()
        digests = settings.digests.model_dump(exclude_none=True)
        for name in IMAGE_BUILDS:
            ref = digests.get(name)
            if ref is None:
                problems.add(f"images.digests.{name}", "missing", PINNED_FORM)
            elif registry.server and ref.split("@")[0] != registry.repository(name):
                # The cluster pulls from this stack's registry: copy the image there first
                # (`skopeo copy --preserve-digests` / `crane copy`), keeping its digest.
                problems.add(f"images.digests.{name}", f"{ref.split('@')[0]!r} is not this stack's repository",
                             f"{registry.repository(name)}@sha256:<digest> (copy the image into the stack's registry first)")
        return ImageSource(mode=mode, digests=digests)
    if mode == "stack":
        if settings.stack is None:
            problems.add("images.stack", "missing while source is stack",
                         "a stack name like <org>/mbhealth/dev (whose `images` output is promoted)")
            return ImageSource()
        return ImageSource(mode=mode, stack=settings.stack)
    return ImageSource()


def raw_config(
    stack: str,
    config: Mapping[str, Any],
    secret_keys: frozenset[str] | set[str],
    stack_file: Optional[StackFile] = None,
) -> RawConfig:
    """Sort the program's config (every namespace, as the engine passed it) into a RawConfig.

    A value the stack file holds (and the engine passed unchanged) is taken as the file
    wrote it: a number stays a number, an empty value is null. Anything else (set another
    way) is taken as passed: text, or JSON for an object.
    """
    values: dict[str, Any] = {}
    secrets: dict[str, str] = {}
    plaintext: set[str] = set()
    written: dict[tuple[str, ...], Written] = {}
    others = []
    prefix = f"{PROJECT}:"
    for full_key, text in config.items():
        if not full_key.startswith(prefix):
            others.append(full_key)
            continue
        key = full_key[len(prefix):]
        if key in SECRET_KEYS:
            if full_key in secret_keys:
                secrets[key] = text if isinstance(text, str) else json.dumps(text)
            else:
                plaintext.add(key)
            continue
        if full_key in secret_keys:
            continue  # a secret of a key we do not know: reported as unknown below, never read
        if stack_file is not None and full_key in stack_file.values and same_value(text, stack_file.values[full_key]):
            values[key] = stack_file.values[full_key]
            written.update({(key, *p[1:]): w for p, w in stack_file.written.items() if p[0] == full_key})
        elif isinstance(text, str) and text.lstrip()[:1] in ("{", "["):
            try:
                values[key] = json.loads(text)
            except ValueError:
                values[key] = text
        else:
            values[key] = text
    for full_key in secret_keys:
        key = full_key[len(prefix):] if full_key.startswith(prefix) else None
        if key is not None and key not in SECRET_KEYS and full_key in config:
            values.setdefault(key, "<secret>")
    return RawConfig(stack=stack, values=values, secrets=secrets, plaintext_secret_keys=frozenset(plaintext),
                     written=written, other_keys=tuple(sorted(others)),
                     stack_file=stack_file.path.name if stack_file is not None else "")


def stack_file_path(stack: str) -> Path:
    return PROJECT_DIR / f"Pulumi.{stack}.yaml"


def load_stack_config(stack_file: Optional[Path] = None) -> StackConfig:
    """Read this stack's config (the program's one config read) and validate it."""
    from pulumi.runtime import config as runtime_config

    stack = pulumi.get_stack()
    config = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    secret_keys = {k for k in config if pulumi.runtime.is_config_secret(k)}
    secret_keys |= set(runtime_config.get_config_secret_keys_env())
    path = stack_file or stack_file_path(stack)
    parsed = None
    if path.exists():
        try:
            parsed = load_stack_file(path)
        except StackFileError as error:
            raise ConfigError([str(error)]) from None
    typed = read_stack_config(raw_config(stack, config, secret_keys, parsed))
    for warning in typed.warnings:
        pulumi.log.warn(warning)
    return typed
