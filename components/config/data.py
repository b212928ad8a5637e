"""`mbhealth:dataServices`: PostgreSQL and Redis in the namespace (in-cluster), or managed elsewhere
(external: the URLs are secrets, the networks and ports are the NetworkPolicies' egress)."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Iterable, Literal, Mapping, Optional, Union

import pulumi
from pydantic import Field, ValidationError, model_validator

from components.config.forms import (
    PROJECT,
    CidrList,
    Form,
    Missing,
    Port,
    Quantity,
    StorageClassName,
    VersionedImage,
    one_of,
)
from components.config.model import Model, null_is_unset, problems, rules
from components.config.secrets import hidden, secret

DATA_SERVICE_MODES = ("in-cluster", "external")
# Managed data services: each URL's secret key, and the port a URL without one connects to.
EXTERNAL_SERVICES = {"postgres": "databaseUrl", "redis": "redisUrl"}
DEFAULT_PORTS = {"postgres": 5432, "redis": 6379}
_MODES = Form("one of " + ", ".join(DATA_SERVICE_MODES))
EGRESS_CIDR = ("egressCidr", "replaced by each service's own networks and port (one CIDR for both, with ports fixed "
               "at 5432 and 6379, blocked TLS Redis on 6380)", "dataServices.postgres: {cidrs: [<network>], port: 5432} "
               "and dataServices.redis: {cidrs: [<network>], port: 6380}; remove egressCidr")


class ExternalEndpoint(Model):
    """Where a managed data service listens: the networks and the TCP port the NetworkPolicy allows."""

    cidrs: CidrList
    port: Port
    _nulls = null_is_unset("port")

    def __init__(self, *args: Any, **fields: Any) -> None:  # also ExternalEndpoint(cidrs, port)
        super().__init__(**dict(zip(("cidrs", "port"), args)), **fields)


class PostgresEndpoint(ExternalEndpoint):
    port: Port = DEFAULT_PORTS["postgres"]


class RedisEndpoint(ExternalEndpoint):
    port: Port = DEFAULT_PORTS["redis"]


class _DataServices(Model):
    """The keys of both modes: each mode refuses the other's (and the retired egressCidr) as having no
    effect, once what was written is valid."""

    mode: one_of(DATA_SERVICE_MODES)  # type: ignore[valid-type]
    # in-cluster
    postgres_storage: Optional[Quantity] = Field(None, alias="postgresStorage")
    postgres_storage_class: Optional[StorageClassName] = Field(None, alias="postgresStorageClass")
    postgres_image: Optional[VersionedImage] = Field(None, alias="postgresImage")
    redis_image: Optional[VersionedImage] = Field(None, alias="redisImage")
    # external: where each managed service listens (the NetworkPolicies' egress), and the secret URLs
    postgres: Optional[PostgresEndpoint] = None
    redis: Optional[RedisEndpoint] = None
    egress_cidr: Optional[Any] = Field(None, alias="egressCidr")  # replaced by postgres/redis
    database_url: Optional[secret("databaseUrl")] = hidden("databaseUrl")
    redis_url: Optional[secret("redisUrl")] = hidden("redisUrl")

    # The other mode's keys: (field, problem, expected) when written in this one.
    OTHER_MODE: ClassVar[tuple[tuple[str, str, str], ...]] = ()

    @rules
    def _no_effect(self, data: dict, stack: str, valid: Mapping[str, Any]) -> Iterable[tuple[str, str, str]]:
        if "egress_cidr" in self.model_fields_set:
            yield EGRESS_CIDR
        for name, problem, expected in self.OTHER_MODE:
            key = type(self).model_fields[name].alias or name
            if name in self.model_fields_set:  # a secret URL's key is top-level
                yield (f":{key}" if key in EXTERNAL_SERVICES.values() else key, problem, expected.replace("{stack}", stack))


_IN_CLUSTER_ONLY = "has no effect with mode external (no PostgreSQL or Redis runs in the namespace)"
_EXTERNAL_ONLY = "has no effect with mode in-cluster (PostgreSQL and Redis run in the namespace)"
_OWN_DATA = "has no effect with dataServices.mode in-cluster (the stack runs its own PostgreSQL and Redis)"


class InClusterDataConfig(_DataServices):
    """PostgreSQL and Redis run in the namespace (dev)."""

    OTHER_MODE: ClassVar[tuple[tuple[str, str, str], ...]] = (
        *((name, _EXTERNAL_ONLY, "it only with mode external; remove it") for name in ("postgres", "redis")),
        *((name, _OWN_DATA, f"no {key} secret: pulumi config rm --stack {{stack}} {key}")
          for name, key in (("database_url", "databaseUrl"), ("redis_url", "redisUrl"))))
    mode: Annotated[Literal["in-cluster"], _MODES] = "in-cluster"
    postgres_storage: Quantity = Field("1Gi", alias="postgresStorage")
    # The PVC's StorageClass (volumeClaimTemplates' storageClassName); None: the cluster's default class.
    postgres_storage_class: Optional[StorageClassName] = Field(None, alias="postgresStorageClass")
    postgres_image: VersionedImage = Field("postgres:15.10-alpine", alias="postgresImage")
    redis_image: VersionedImage = Field("redis:7.4.1-alpine", alias="redisImage")
    _nulls = null_is_unset("postgresStorage", "postgresImage", "redisImage")


def _where(port: int) -> Any:
    return Missing("missing while mode is external (the NetworkPolicies allow egress only to the networks and port "
                   "named here)", "{cidrs: [<network in CIDR notation>], port: <TCP port, default %d>}" % port)


def _url(key: str, kind: str) -> Any:
    return Missing("missing while dataServices.mode is external",
                   f"a secret URL ({kind}): pulumi config set --secret --stack {{stack}} {key} <url>")


_URLS = {"databaseUrl": _url("databaseUrl", "postgresql://..."), "redisUrl": _url("redisUrl", "redis://... or rediss://...")}


class ExternalDataConfig(_DataServices):
    """PostgreSQL and Redis are managed elsewhere (prod); URLs are Pulumi secrets.

    `postgres`/`redis` are plain config (never parsed out of the URLs): the egress the
    NetworkPolicies allow. The program checks each URL against them before deploying.
    """

    OTHER_MODE: ClassVar[tuple[tuple[str, str, str], ...]] = tuple(
        (name, _IN_CLUSTER_ONLY, "it only with mode in-cluster; remove it")
        for name in ("postgres_storage", "postgres_storage_class", "postgres_image", "redis_image"))
    mode: Annotated[Literal["external"], _MODES]
    postgres: Annotated[PostgresEndpoint, _where(DEFAULT_PORTS["postgres"])]
    redis: Annotated[RedisEndpoint, _where(DEFAULT_PORTS["redis"])]
    database_url: Annotated[secret("databaseUrl"), _URLS["databaseUrl"]] = hidden("databaseUrl", required=True)
    redis_url: Annotated[secret("redisUrl"), _URLS["redisUrl"]] = hidden("redisUrl", required=True)
    _nulls = null_is_unset("postgres", "redis")

    @model_validator(mode="wrap")
    @classmethod
    def _urls(cls, data: Any, handler: Any, info: Any) -> "ExternalDataConfig":
        """Missing URLs alone do not hide what the rules find in the rest (as if the URLs were there)."""
        try:
            return handler(data)
        except ValidationError as error:
            items = error.errors()
            missing = [i["loc"][0] for i in items if i["type"] == "missing" and i["loc"][0] in _URLS]
            if not missing or len(missing) != len(items) or not isinstance(data, dict):
                raise
            stack = (info.context or {}).get("stack", "<stack>")
            found = [(f":{key}", _URLS[key].problem, _URLS[key].expected.replace("{stack}", stack)) for key in missing]
            try:
                handler({**data, **{key: pulumi.Output.secret("") for key in missing}})
            except ValidationError as rules:
                found = [p for i in rules.errors() if i["type"] == PROJECT for p in i["ctx"]["problems"]] + found
            raise problems(*found) from None


DataConfig = Annotated[Union[InClusterDataConfig, ExternalDataConfig], Field(discriminator="mode")]
