"""One service: Deployment + Service (+ PodDisruptionBudget, HorizontalPodAutoscaler).

The workload takes a typed description (image by digest, process spec, sizing)
and applies the secure defaults from components.security; it has no flags for
turning hardening off.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.options import child_options
from components.build_specs import ProcessSpec
from components.config import ServiceConfig
from components.field_ownership import declared_wins
from components.labels import selector_labels, standard_labels
from components.probes import probes_for
from components.security import (
    APP_USER,
    RunAs,
    container_security_context,
    pod_security_context,
    prestop_pause,
    termination_grace_seconds,
    writable_volumes,
)

CHECKSUM_ANNOTATION = "checksum/config"


@dataclass(frozen=True)
class EnvSources:
    """Where a container's environment comes from: a ConfigMap, an optional Secret, and a checksum of both."""

    config_map_name: pulumi.Input[str]
    checksum: pulumi.Input[str]
    secret_name: Optional[pulumi.Input[str]] = None

    def env_from(self) -> list[k8s.core.v1.EnvFromSourceArgs]:
        sources = [k8s.core.v1.EnvFromSourceArgs(config_map_ref=k8s.core.v1.ConfigMapEnvSourceArgs(name=self.config_map_name))]
        if self.secret_name is not None:
            sources.append(k8s.core.v1.EnvFromSourceArgs(secret_ref=k8s.core.v1.SecretEnvSourceArgs(name=self.secret_name)))
        return sources


@dataclass(frozen=True)
class WorkloadArgs:
    name: str
    component: str
    namespace: pulumi.Input[str]
    image: pulumi.Input[str]  # repo@sha256:... (never a tag)
    process: ProcessSpec
    sizing: ServiceConfig
    env: EnvSources
    version: str
    stack: str
    production: bool
    run_as: RunAs = APP_USER
    extra_annotations: Mapping[str, str] = field(default_factory=dict)
    # Secrets the kubelet pulls `image` with (components/registry_pull.py).
    image_pull_secrets: Sequence[pulumi.Input[str]] = ()


def container_resources(sizing: ServiceConfig) -> k8s.core.v1.ResourceRequirementsArgs:
    return k8s.core.v1.ResourceRequirementsArgs(requests=dict(sizing.resources.requests), limits=dict(sizing.resources.limits))


def app_container(
    name: str,
    image: pulumi.Input[str],
    process: ProcessSpec,
    sizing: ServiceConfig,
    env: Optional[EnvSources],
    run_as: RunAs,
    long_running: bool = True,
    args: Optional[Sequence[str]] = None,
) -> tuple[k8s.core.v1.ContainerArgs, list[k8s.core.v1.VolumeArgs]]:
    """The hardened container for a process, plus the emptyDir volumes it mounts.

    Long-running containers get probes and a preStop pause (so routing stops
    before SIGTERM); run-to-completion ones (the migration Job) get neither.
    """
    volumes, mounts = writable_volumes(process.writable_paths, sizing.tmp_size)
    probes = probes_for(process) if long_running else None
    container = k8s.core.v1.ContainerArgs(
        name=name,
        image=image,
        image_pull_policy="IfNotPresent",
        command=list(process.command) or None,
        args=list(args) if args else None,
        ports=[k8s.core.v1.ContainerPortArgs(name="http", container_port=process.port, protocol="TCP")] if process.port else None,
        env_from=env.env_from() if env else None,
        resources=container_resources(sizing),
        security_context=container_security_context(run_as),
        volume_mounts=mounts,
        readiness_probe=probes.readiness if probes else None,
        liveness_probe=probes.liveness if probes else None,
        startup_probe=probes.startup if probes else None,
        lifecycle=prestop_pause() if long_running else None,
        termination_message_policy="FallbackToLogsOnError",
    )
    return container, volumes


def pod_spec(
    containers: Sequence[k8s.core.v1.ContainerArgs],
    volumes: Sequence[k8s.core.v1.VolumeArgs],
    run_as: RunAs,
    image_pull_secrets: Sequence[pulumi.Input[str]] = (),
    **extra,
) -> k8s.core.v1.PodSpecArgs:
    """A pod with the secure defaults every workload shares."""
    return k8s.core.v1.PodSpecArgs(
        containers=list(containers),
        volumes=list(volumes),
        security_context=pod_security_context(run_as),
        automount_service_account_token=False,
        enable_service_links=False,
        image_pull_secrets=[k8s.core.v1.LocalObjectReferenceArgs(name=name) for name in image_pull_secrets] or None,
        **extra,
    )


class Workload(pulumi.ComponentResource):
    """A long-running, hardened service of the application."""

    deployment: k8s.apps.v1.Deployment
    service: Optional[k8s.core.v1.Service]

    def __init__(self, args: WorkloadArgs, opts: Optional[pulumi.ResourceOptions] = None):
        super().__init__("mbhealth:app:Workload", args.name, None, opts)
        child = child_options(self, opts)
        labels = standard_labels(args.name, args.component, args.version, args.stack)
        selector = selector_labels(args.name)
        metadata = k8s.meta.v1.ObjectMetaArgs(name=args.name, namespace=args.namespace, labels=labels)
        sizing = args.sizing

        container, volumes = app_container(args.name, args.image, args.process, sizing, args.env, args.run_as)
        spread = None
        if args.production:
            spread = [
                k8s.core.v1.TopologySpreadConstraintArgs(
                    max_skew=1,
                    topology_key="kubernetes.io/hostname",
                    when_unsatisfiable="ScheduleAnyway",
                    label_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                )
            ]
        template = k8s.core.v1.PodTemplateSpecArgs(
            metadata=k8s.meta.v1.ObjectMetaArgs(
                labels=labels,
                annotations={CHECKSUM_ANNOTATION: args.env.checksum, **args.extra_annotations},
            ),
            spec=pod_spec(
                [container],
                volumes,
                args.run_as,
                image_pull_secrets=args.image_pull_secrets,
                termination_grace_period_seconds=termination_grace_seconds(args.process.drain_seconds),
                topology_spread_constraints=spread,
            ),
        )
        self.deployment = k8s.apps.v1.Deployment(
            args.name,
            metadata=k8s.meta.v1.ObjectMetaArgs(name=args.name, namespace=args.namespace, labels=labels,
                                                annotations=declared_wins()),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                # An HPA owns the count when autoscaling is on: leave replicas unset.
                replicas=None if sizing.autoscaling else sizing.replicas,
                revision_history_limit=5,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(
                        max_unavailable=0 if args.production else "25%",
                        max_surge=1 if args.production else "25%",
                    ),
                ),
                template=template,
            ),
            opts=child,
        )

        self.service = None
        if args.process.port:
            self.service = k8s.core.v1.Service(
                args.name,
                metadata=metadata,
                spec=k8s.core.v1.ServiceSpecArgs(
                    type="ClusterIP",
                    selector=selector,
                    ports=[k8s.core.v1.ServicePortArgs(name="http", port=args.process.port, target_port="http", protocol="TCP")],
                ),
                opts=child,
            )

        if sizing.min_available is not None or sizing.max_unavailable is not None:
            k8s.policy.v1.PodDisruptionBudget(
                args.name,
                metadata=metadata,
                spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                    min_available=sizing.min_available,
                    max_unavailable=sizing.max_unavailable,
                    selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                ),
                opts=child,
            )

        if sizing.autoscaling is not None:
            k8s.autoscaling.v2.HorizontalPodAutoscaler(
                args.name,
                metadata=metadata,
                spec=k8s.autoscaling.v2.HorizontalPodAutoscalerSpecArgs(
                    scale_target_ref=k8s.autoscaling.v2.CrossVersionObjectReferenceArgs(
                        api_version="apps/v1", kind="Deployment", name=args.name
                    ),
                    min_replicas=sizing.autoscaling.min_replicas,
                    max_replicas=sizing.autoscaling.max_replicas,
                    metrics=[
                        k8s.autoscaling.v2.MetricSpecArgs(
                            type="Resource",
                            resource=k8s.autoscaling.v2.ResourceMetricSourceArgs(
                                name="cpu",
                                target=k8s.autoscaling.v2.MetricTargetArgs(
                                    type="Utilization", average_utilization=sizing.autoscaling.cpu_utilization
                                ),
                            ),
                        )
                    ],
                ),
                opts=child,
            )

        self.register_outputs({"deployment": self.deployment.metadata.name})

