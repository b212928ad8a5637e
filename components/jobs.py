"""Run-to-completion Jobs of a release (migrations, smoke test): hardened like every pod."""

from __future__ import annotations

from typing import Mapping, Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.build_specs import ProcessSpec
from components.config import ServiceConfig
from components.labels import standard_labels
from components.options import child_options
from components.security import APP_USER
from components.workload import EnvSources, app_container, pod_spec

# pulumi-kubernetes: replace a Job that is not ready (failed) on the next update.
REPLACE_UNREADY = "pulumi.com/replaceUnready"


def pod_failure_policy() -> k8s.batch.v1.PodFailurePolicyArgs:
    """A pod lost to a disruption (a drain, a preemption) is not counted against the backoff limit.

    No FailJob rules: pulumi-kubernetes 4.25 awaits a Job through cloud-ready-checks v1.3.0, which
    takes a Failed condition for a failure only with reason BackoffLimitExceeded or DeadlineExceeded;
    a Job failed by a rule (reason PodFailurePolicy) would be awaited until the update's timeout.
    """
    return k8s.batch.v1.PodFailurePolicyArgs(rules=[k8s.batch.v1.PodFailurePolicyRuleArgs(
        action="Ignore", on_pod_conditions=[k8s.batch.v1.PodFailurePolicyOnPodConditionsPatternArgs(
            type="DisruptionTarget", status="True")])])


def release_job(
    parent: pulumi.Resource,
    opts: Optional[pulumi.ResourceOptions],
    *,
    name: str,
    component: str,
    namespace: pulumi.Input[str],
    image: pulumi.Input[str],
    process: ProcessSpec,
    sizing: ServiceConfig,
    env: Optional[EnvSources],
    version: str,
    stack: str,
    deadline_seconds: int,
    backoff_limit: int,
    args: Optional[Sequence[str]] = None,
    annotations: Optional[Mapping[str, pulumi.Input[str]]] = None,
    image_pull_secrets: Sequence[pulumi.Input[str]] = (),
) -> k8s.batch.v1.Job:
    """An auto-named Job; its pod template is immutable, so a new release replaces (re-runs) it.

    Pulumi waits for the Job to succeed (up to the deadline plus a minute) and fails
    the update when it fails; a pod lost to a disruption is run again without counting as a
    failure. A failed Job stays failed in the API server; `replaceUnready` makes the next
    `pulumi up` replace it (run it again) instead of awaiting it forever.
    """
    labels = standard_labels(name, component, version, stack)
    container, volumes = app_container(name, image, process, sizing, env, APP_USER, long_running=False, args=args)
    return k8s.batch.v1.Job(
        name,
        metadata=k8s.meta.v1.ObjectMetaArgs(namespace=namespace, labels=labels,
                                            annotations={REPLACE_UNREADY: "true"}),
        spec=k8s.batch.v1.JobSpecArgs(
            backoff_limit=backoff_limit,
            active_deadline_seconds=deadline_seconds,
            pod_failure_policy=pod_failure_policy(),
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels, annotations=dict(annotations) if annotations else None),
                spec=pod_spec([container], volumes, APP_USER, image_pull_secrets=image_pull_secrets,
                              restart_policy="Never"),
            ),
        ),
        opts=pulumi.ResourceOptions.merge(
            child_options(parent, opts),
            pulumi.ResourceOptions(custom_timeouts=pulumi.CustomTimeouts(create=f"{deadline_seconds + 60}s"),
                                   # Immutable in the API server, and not among the fields for which
                                   # pulumi-kubernetes replaces a Job by itself (template, selector).
                                   replace_on_changes=["spec.podFailurePolicy"]),
        ),
    )
