"""PostgreSQL and Redis for the application: in-cluster for dev, external URLs for prod.

Both variants expose the same thing to the rest of the program: secret
`database_url` / `redis_url` outputs and the pod selectors network policies allow.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.options import child_options
from components.config import ExternalDataConfig, InClusterDataConfig, ServiceConfig
from components.field_ownership import declared_wins
from components.labels import selector_labels, standard_labels
from components.security import RunAs, container_security_context, prestop_pause, writable_volumes
from components.workload import pod_spec

POSTGRES_PORT = 5432
REDIS_PORT = 6379
DB_NAME = "mbhealth"
DB_USER = "mbhealth"
# The official alpine images' own users: postgres is uid/gid 70; redis needs none.
POSTGRES_USER = RunAs(uid=70, gid=70)
REDIS_USER = RunAs(uid=10001, gid=10001)
# The postgres image's first start runs initdb and its init scripts behind a temporary
# server that listens on the unix socket only, so the TCP liveness check fails for as long
# as that takes (minutes on slow storage). A startup probe holds liveness back until the
# real server accepts TCP connections: 10 s x 30 = up to 5 minutes for the first start.
POSTGRES_STARTUP_PERIOD_SECONDS = 10
POSTGRES_STARTUP_FAILURE_THRESHOLD = 30

_SMALL = ServiceConfig.model_validate({
    "replicas": 1,
    "requests": {"cpu": "50m", "memory": "128Mi", "ephemeral-storage": "32Mi"},
    "limits": {"cpu": "500m", "memory": "256Mi", "ephemeral-storage": "128Mi"},
    "tmpSize": "64Mi",
})


@dataclass(frozen=True)
class DataEndpoint:
    """Where the application reaches one data service: in-cluster pods, or networks outside the cluster."""

    port: int
    selector: Optional[dict[str, str]] = None  # the server's pods (in-cluster)
    cidrs: tuple[str, ...] = ()  # the server's networks (managed, outside the cluster)


@dataclass(frozen=True)
class DataEndpoints:
    database_url: pulumi.Output[str]
    redis_url: pulumi.Output[str]
    postgres: DataEndpoint
    redis: DataEndpoint
    ready: list[pulumi.Resource]


def _password(name: str, parent: pulumi.Resource) -> random.RandomPassword:
    # Letters and digits only: the value is embedded in URLs.
    return random.RandomPassword(name, length=32, special=False, opts=pulumi.ResourceOptions(parent=parent))


def _container(name: str, image: str, port: int, user: RunAs, writable: tuple[str, ...],
               extra_mounts: tuple[k8s.core.v1.VolumeMountArgs, ...] = (), **kwargs):
    volumes, mounts = writable_volumes(writable, _SMALL.tmp_size)
    container = k8s.core.v1.ContainerArgs(
        name=name,
        image=image,
        image_pull_policy="IfNotPresent",
        ports=[k8s.core.v1.ContainerPortArgs(name=name, container_port=port, protocol="TCP")],
        resources=k8s.core.v1.ResourceRequirementsArgs(
            requests=dict(_SMALL.resources.requests), limits=dict(_SMALL.resources.limits)
        ),
        security_context=container_security_context(user),
        volume_mounts=[*mounts, *extra_mounts],
        lifecycle=prestop_pause(),
        liveness_probe=k8s.core.v1.ProbeArgs(
            tcp_socket=k8s.core.v1.TCPSocketActionArgs(port=name), period_seconds=15, timeout_seconds=3, failure_threshold=3
        ),
        **kwargs,
    )
    return container, volumes


def image_version(ref: str) -> str:
    """The version a data service's labels carry: its image's tag, never the app's release.

    A release label on a StatefulSet would change its volumeClaimTemplates (immutable: the
    database is deleted and replaced) and its pod template (Redis restarts) on every release.
    """
    name = ref.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.rsplit(":", 1)[1] if ":" in last else ref.split("@", 1)[-1].removeprefix("sha256:")[:12]


class InClusterDataServices(pulumi.ComponentResource):
    """Dev only: a single PostgreSQL (StatefulSet + PVC) and a single Redis, hardened like the app."""

    def __init__(self, config: InClusterDataConfig, namespace: pulumi.Input[str], stack: str,
                 opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mbhealth:data:InClusterDataServices", "data", None, opts)
        child = child_options(self, opts)
        db_password = _password("postgres-password", self).result
        redis_password = _password("redis-password", self).result
        credentials = k8s.core.v1.Secret(
            "data-credentials",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                namespace=namespace, labels=standard_labels("data", "credentials", image_version(config.postgres_image), stack)
            ),
            type="Opaque",
            string_data={"POSTGRES_PASSWORD": db_password, "REDIS_PASSWORD": redis_password},
            opts=child,
        )

        def from_secret(key: str) -> k8s.core.v1.EnvVarArgs:
            return k8s.core.v1.EnvVarArgs(
                name=key,
                value_from=k8s.core.v1.EnvVarSourceArgs(
                    secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=credentials.metadata.name, key=key)
                ),
            )

        # PostgreSQL
        pg_labels = standard_labels("postgres", "database", image_version(config.postgres_image), stack)
        pg_container, pg_volumes = _container(
            "postgres", config.postgres_image, POSTGRES_PORT, POSTGRES_USER, ("/tmp", "/var/run/postgresql"),
            extra_mounts=(k8s.core.v1.VolumeMountArgs(name="data", mount_path="/var/lib/postgresql/data"),),
            env=[
                k8s.core.v1.EnvVarArgs(name="POSTGRES_USER", value=DB_USER),
                k8s.core.v1.EnvVarArgs(name="POSTGRES_DB", value=DB_NAME),
                k8s.core.v1.EnvVarArgs(name="PGDATA", value="/var/lib/postgresql/data/pgdata"),
                from_secret("POSTGRES_PASSWORD"),
            ],
            readiness_probe=k8s.core.v1.ProbeArgs(
                exec_=k8s.core.v1.ExecActionArgs(command=["pg_isready", "-h", "127.0.0.1", "-U", DB_USER, "-d", DB_NAME]),
                period_seconds=10, timeout_seconds=5, failure_threshold=3,
            ),
            startup_probe=k8s.core.v1.ProbeArgs(
                tcp_socket=k8s.core.v1.TCPSocketActionArgs(port="postgres"),
                period_seconds=POSTGRES_STARTUP_PERIOD_SECONDS, timeout_seconds=3,
                failure_threshold=POSTGRES_STARTUP_FAILURE_THRESHOLD,
            ),
        )
        postgres = k8s.apps.v1.StatefulSet(
            "postgres",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="postgres", namespace=namespace, labels=pg_labels,
                                                annotations=declared_wins()),
            spec=k8s.apps.v1.StatefulSetSpecArgs(
                service_name="postgres",
                replicas=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector_labels("postgres")),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=pg_labels),
                    spec=pod_spec([pg_container], pg_volumes, POSTGRES_USER, termination_grace_period_seconds=30),
                ),
                volume_claim_templates=[
                    k8s.core.v1.PersistentVolumeClaimArgs(
                        metadata=k8s.meta.v1.ObjectMetaArgs(name="data", labels=pg_labels),
                        spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                            access_modes=["ReadWriteOnce"],
                            # None (unset): no field, the cluster's default StorageClass provisions it.
                            storage_class_name=config.postgres_storage_class,
                            resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": config.postgres_storage}),
                        ),
                    )
                ],
            ),
            opts=child,
        )
        self._service("postgres", namespace, pg_labels, POSTGRES_PORT)

        # Redis: a cache and Celery broker; nothing persisted.
        redis_labels = standard_labels("redis", "cache", image_version(config.redis_image), stack)
        redis_container, redis_volumes = _container(
            "redis", config.redis_image, REDIS_PORT, REDIS_USER, ("/tmp", "/data"),
            args=["redis-server", "--requirepass", "$(REDIS_PASSWORD)", "--save", "", "--appendonly", "no"],
            env=[from_secret("REDIS_PASSWORD"), k8s.core.v1.EnvVarArgs(
                name="REDISCLI_AUTH",
                value_from=k8s.core.v1.EnvVarSourceArgs(
                    secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=credentials.metadata.name, key="REDIS_PASSWORD")
                ),
            )],
            readiness_probe=k8s.core.v1.ProbeArgs(
                exec_=k8s.core.v1.ExecActionArgs(command=["redis-cli", "-h", "127.0.0.1", "ping"]),
                period_seconds=10, timeout_seconds=3, failure_threshold=3,
            ),
        )
        redis = k8s.apps.v1.Deployment(
            "redis",
            metadata=k8s.meta.v1.ObjectMetaArgs(name="redis", namespace=namespace, labels=redis_labels,
                                                annotations=declared_wins()),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector_labels("redis")),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(type="Recreate"),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=redis_labels),
                    spec=pod_spec([redis_container], redis_volumes, REDIS_USER, termination_grace_period_seconds=20),
                ),
            ),
            opts=child,
        )
        self._service("redis", namespace, redis_labels, REDIS_PORT)

        self.endpoints = DataEndpoints(
            database_url=pulumi.Output.secret(
                pulumi.Output.concat("postgresql://", DB_USER, ":", db_password, f"@postgres:{POSTGRES_PORT}/{DB_NAME}")
            ),
            redis_url=pulumi.Output.secret(pulumi.Output.concat("redis://:", redis_password, f"@redis:{REDIS_PORT}/0")),
            postgres=DataEndpoint(port=POSTGRES_PORT, selector=selector_labels("postgres")),
            redis=DataEndpoint(port=REDIS_PORT, selector=selector_labels("redis")),
            ready=[postgres, redis],
        )
        self.register_outputs({})

    def _service(self, name: str, namespace: pulumi.Input[str], labels: dict[str, str], port: int) -> None:
        k8s.core.v1.Service(
            name,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=name, namespace=namespace, labels=labels),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=selector_labels(name),
                ports=[k8s.core.v1.ServicePortArgs(name=name, port=port, target_port=name, protocol="TCP")],
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )


def external_data_services(config: ExternalDataConfig) -> DataEndpoints:
    """Prod: managed PostgreSQL and Redis reached through secret URLs from stack config,
    at the networks and ports the stack names (components/external_data.py checks the URLs)."""
    return DataEndpoints(
        database_url=pulumi.Output.secret(config.database_url),
        redis_url=pulumi.Output.secret(config.redis_url),
        postgres=DataEndpoint(port=config.postgres.port, cidrs=config.postgres.cidrs),
        redis=DataEndpoint(port=config.redis.port, cidrs=config.redis.cidrs),
        ready=[],
    )
