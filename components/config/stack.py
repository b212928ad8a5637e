"""StackConfig: the whole `mbhealth:*` config of a stack, and the rules between its settings."""

from __future__ import annotations

import platform as host
from typing import Annotated, Any, Callable, ClassVar, Iterable, Mapping, Optional

from pydantic import (
    Field,
    PrivateAttr,
    Strict,
    ValidationError,
    field_validator,
    model_validator,
)

from components.build_specs import BACKEND_VARIANTS
from components.config.cluster import ClusterConfig
from components.config.data import DataConfig, InClusterDataConfig
from components.config.forms import PROJECT, DnsLabel, Form, ImageTag, one_of
from components.config.ingress import IngressConfig
from components.config.model import Model, null_is_unset, problems
from components.config.registry import ImageSource, RegistryConfig
from components.config.schema import secret_homes
from components.config.secrets import (
    SECRET_KEY_MIN_LENGTH,
    SECRET_KEYS,
    given,
    held,
    hidden,
    secret,
    secret_command,
)
from components.config.services import ServiceConfig, ServiceMap, Services

# The environments this project ships a stack for (Pulumi.dev.yaml, Pulumi.prod.yaml).
ENVIRONMENTS = ("development", "production")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
PLATFORMS = ("linux/amd64", "linux/arm64", "linux/arm/v7")
_HOST_ARCH = {"x86_64": "linux/amd64", "amd64": "linux/amd64", "aarch64": "linux/arm64", "arm64": "linux/arm64",
              "armv7l": "linux/arm/v7", "armv7": "linux/arm/v7"}


def host_platform(machine: Optional[str] = None) -> Optional[str]:
    """The image platform of this machine (an arm64 laptop builds linux/arm64), or None."""
    return _HOST_ARCH.get((machine or host.machine()).lower())


class StackConfig(Model):
    """`mbhealth:<key>` of a stack file; the secrets (SECRET_KEYS) are top-level keys too, each held by
    the setting that uses it (registryPassword by `registry`, ...). Validated with context {"stack": name}."""

    # Keys a message names beside the fields' (the secrets, held below the top level).
    also_known: ClassVar[tuple[str, ...]] = SECRET_KEYS
    environment: one_of(ENVIRONMENTS)  # type: ignore[valid-type]
    namespace: DnsLabel
    # False: deploy into an existing namespace the stack never owns.
    create_namespace: Annotated[bool, Strict(), Form("true (the stack creates and owns the namespace) or false "
                                                     "(it exists already, made and owned by someone else)")] = Field(
        True, alias="createNamespace")
    image_tag: ImageTag = Field(alias="imageTag")
    registry: RegistryConfig
    platform: Optional[one_of(PLATFORMS)] = Field(default_factory=host_platform)  # type: ignore[valid-type]
    log_level: one_of(LOG_LEVELS) = Field("INFO", alias="logLevel")  # type: ignore[valid-type]
    ingress: IngressConfig
    data: DataConfig = Field(default_factory=InClusterDataConfig, alias="dataServices")
    services: ServiceMap = Field(default_factory=lambda: dict(Services()))
    images: ImageSource = Field(default_factory=ImageSource)
    backend_variant: one_of(tuple(BACKEND_VARIANTS)) = Field("slim", alias="backendVariant")  # type: ignore[valid-type]
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    secret_key: Optional[secret("secretKey")] = hidden("secretKey")
    # Settings that are valid but do nothing in this stack: logged loudly, not fatal.
    _warnings: tuple[str, ...] = PrivateAttr(())
    _stack: str = PrivateAttr("")  # the stack's name: the validation context's "stack"

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def stack(self) -> str:
        return self._stack

    @property
    def warnings(self) -> tuple[str, ...]:
        return self._warnings

    _nulls = null_is_unset("platform")  # this machine's

    @field_validator("*", mode="wrap")
    @classmethod
    def _keep(cls, value: Any, handler: Any, info: Any) -> Any:
        """Each setting that is valid on its own: the rules between settings read them even when another fails
        (a setting whose fields are valid and whose own rules fail still counts)."""
        try:
            valid = handler(value)
        except ValidationError as error:
            judged = [e.get("ctx", {}).get("model") for e in error.errors() if e["type"] == PROJECT and not e["loc"]]
            if judged and judged[0] is not None and len(judged) == len(error.errors()) and info.context is not None:
                info.context.setdefault("valid", {})[info.field_name] = judged[0]
            raise
        if info.context is not None:
            info.context.setdefault("valid", {})[info.field_name] = valid
        return valid

    @model_validator(mode="wrap")
    @classmethod
    def _between_settings(cls, data: Any, handler: Any, info: Any) -> "StackConfig":
        """The rules between settings; with no validation context (not read by read_stack_config), their
        problems are raised here."""
        context = info.context if info.context is not None else {}
        if not isinstance(data, dict):
            return handler(data)
        data = _secrets_to_their_settings(data)
        try:
            config = handler(data)
        except ValidationError:
            _rules(context, data, {**_defaults(data), **context.get("valid", {})})
            raise
        config._warnings = tuple(_rules(context, data, dict(config)))
        config._stack = context.get("stack", "")
        if info.context is None and context.get("problems"):
            raise problems(*((f":{key}", problem, expected) for _, key, problem, expected in context["problems"]))
        return config


def _secrets_to_their_settings(data: dict) -> dict:
    """Each secret (a top-level key) into the setting whose model holds it (its Secret mark)."""
    data = dict(data)
    if any(given(data, key) for key in ("databaseUrl", "redisUrl")):
        data.setdefault("dataServices", {"mode": "in-cluster"})  # the default mode, which refuses them
    for key, homes in secret_homes(StackConfig).items():
        if key not in data or not homes:
            continue
        value = data.pop(key)
        for home in homes:
            if isinstance(data.get(home), dict) and key not in data[home]:  # written there: an unknown key
                data[home] = {**data[home], key: value}
    return data


def _defaults(data: dict) -> dict[str, Any]:
    return {name: info.get_default(call_default_factory=True) for name, info in StackConfig.model_fields.items()
            if (info.alias or name) not in data and not info.is_required()}


def _push_credential(valid: Mapping[str, Any], data: dict, stack: str) -> Iterable[Any]:
    """registry.username + registryPassword push, when images are built. A stack that deploys promoted
    images pushes nothing, and refuses a push credential: it would only widen who holds a write token."""
    registry: Optional[RegistryConfig] = valid.get("registry")
    images: Optional[ImageSource] = valid.get("images")
    written = data.get("registry") if isinstance(data.get("registry"), dict) else {}
    username = registry.username if registry else None
    promoted = f"images.source {images.mode}" if images is not None and not images.pushes else ""
    if given(written, "registryPassword") and promoted:
        yield ("registryPassword", f"a push credential, and nothing is pushed with {promoted}",
               f"no push token in a stack that deploys promoted images: `pulumi config rm --stack {stack} "
               "registryPassword`; the cluster pulls with registry.pullUsername and a read token, "
               f"`{secret_command(stack, 'registryPullPassword', '<read token>')}`")
    elif username and images is not None and images.pushes and not given(written, "registryPassword"):
        yield ("registryPassword", "missing while registry.username is set and images are pushed (images.source "
               "build)", f"a secret, a token that can push: {secret_command(stack, 'registryPassword', '<push token>')}")
    if held(written, "registryPassword") and registry and not username and not promoted:
        yield ("registry.username", "missing while registryPassword is set", "the registry user name that pushes with it")
    if promoted:
        # Promoted images are what they are: a stack that sometimes builds keeps these set.
        for key in ("platform", "backendVariant"):
            if key in data:
                yield (f"{PROJECT}:{key}: has no effect with {promoted} (nothing is built; the promoted images are "
                       "deployed as they are)")
        if username:
            yield (f"{PROJECT}:registry.username: has no effect with {promoted} (it pushes, with registryPassword; "
                   "nothing is pushed)")
    if username and not registry.pull_username and not registry.pull_secret_name:
        yield (f"{PROJECT}:registry: the cluster pulls our images anonymously: registry.username and registryPassword "
               "only push, they never reach the cluster; for a private registry set registry.pullUsername and "
               "registryPullPassword (a read token) or registry.pullSecretName")


def _secret_key(valid: Mapping[str, Any], data: dict, stack: str) -> Iterable[Any]:
    if valid.get("environment") == "production" and not given(data, "secretKey"):
        yield ("secretKey", "missing in a production stack", f"a secret of at least {SECRET_KEY_MIN_LENGTH} random "
               f"characters: {secret_command(stack, 'secretKey', '$(openssl rand -hex 32)')}")


def _platform(valid: Mapping[str, Any], data: dict, stack: str) -> Iterable[Any]:
    if "platform" in valid and valid["platform"] is None:
        yield ("platform", f"not set, and this machine's architecture {host.machine()!r} has no image platform",
               "one of " + ", ".join(PLATFORMS))


def _cluster(valid: Mapping[str, Any], data: dict, stack: str) -> Iterable[Any]:
    """The cluster settings against what the stack asks of the cluster."""
    cluster: Optional[ClusterConfig] = valid.get("cluster")
    if cluster is None:
        return
    services: Mapping[str, ServiceConfig] = valid.get("services") or {}
    for name, service in sorted(services.items()) if not cluster.metrics_api else ():
        if service.autoscaling is not None:
            yield (f"services.{name}.autoscaling", "needs the resource metrics API (metrics.k8s.io, e.g. "
                   "metrics-server), which cluster.metricsApi says the cluster does not serve: the "
                   "HorizontalPodAutoscaler would never scale", "replicas instead, or metrics-server installed and "
                   "cluster.metricsApi: true")
    if not cluster.enforces_network_policy and valid.get("environment") == "production":
        yield ("cluster.enforcesNetworkPolicy", "false in a production stack: the NetworkPolicies (default deny, the "
               "data services' egress) would be ignored", "a CNI that enforces NetworkPolicies (Calico, Cilium, …) "
               "and true")
    elif not cluster.enforces_network_policy:
        yield (f"{PROJECT}:cluster.enforcesNetworkPolicy: false: the NetworkPolicies are created but the cluster's "
               "CNI ignores them (nothing is isolated)")


def _tls_namespace(valid: Mapping[str, Any], data: dict, stack: str) -> Iterable[Any]:
    """A Secret named by tlsSecretName in a namespace the stack creates is put there by nobody (it cannot
    exist before the namespace): the controller would serve its fake certificate."""
    ingress: Optional[IngressConfig] = valid.get("ingress")
    written = data.get("ingress") if isinstance(data.get("ingress"), dict) else {}
    pem = given(written, "tlsCertificate") or given(written, "tlsKey")
    if ingress is not None and not pem and ingress.tls_secret_name and not ingress.cluster_issuer \
            and valid.get("create_namespace", True):
        yield ("ingress.tlsSecretName", f"names a Secret in namespace {valid.get('namespace')!r}, which this stack "
               "creates: nothing can have put it there, so the ingress controller would serve its fake certificate",
               "a source of the certificate: the secrets tlsCertificate and tlsKey (the program makes the Secret), "
               "ingress.clusterIssuer (cert-manager writes it), or createNamespace: false with the namespace and the "
               "Secret made beforehand")


# The rules between settings, each over the settings valid on their own, in the order their problems
# are listed, with each setting's own rules (by its key) in between. Each yields a problem (key, problem,
# expected) or a warning (a line).
RULES: tuple[tuple[str, Optional[Callable[[Mapping[str, Any], dict, str], Iterable[Any]]]], ...] = (
    ("push", _push_credential), ("registry", None), ("secretKey", _secret_key), ("dataServices", None),
    ("images", None), ("platform", _platform), ("cluster", _cluster), ("ingress", None),
    ("tls-namespace", _tls_namespace))
RULE_ORDER = tuple(group for group, _ in RULES)


def _rules(context: dict, data: dict, valid: dict[str, Any]) -> list[str]:
    """The rules between settings: problems into the context as (group, key, problem, expected); warnings back."""
    stack = context.get("stack", "<stack>")
    problems: list[tuple[str, str, str, str]] = context.setdefault("problems", [])
    warnings: list[str] = []
    for group, rule in RULES:
        for found in rule(valid, data, stack) if rule else ():
            if isinstance(found, str):
                warnings.append(found)
            else:
                problems.append((group, *found))
    return warnings
