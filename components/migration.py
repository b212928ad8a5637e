"""Database migrations: a Job that runs the backend image's migrate command once per release."""

from __future__ import annotations

from typing import Optional

import pulumi
import pulumi_kubernetes as k8s

from components.build_specs import MIGRATE
from components.config import ServiceConfig
from components.options import child_options
from components.labels import standard_labels
from components.workload import EnvSources, app_container, pod_spec
from components.security import APP_USER

MIGRATE_NAME = "migrate"
# How long the migration may run before Kubernetes (and `pulumi up`) gives up on it.
MIGRATE_DEADLINE_SECONDS = 600


class MigrationJob(pulumi.ComponentResource):
    """Runs `python -m mbhealth migrate` to completion before the new release's pods start.

    The Job's pod template is immutable: a new image digest or a new environment
    replaces the Job, so migrations run exactly once per release. The Deployments
    depend on `job`, and Pulumi waits for it to succeed before touching them.
    """

    job: k8s.batch.v1.Job

    def __init__(
        self,
        namespace: pulumi.Input[str],
        image: pulumi.Input[str],
        sizing: ServiceConfig,
        env: EnvSources,
        version: str,
        stack: str,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("mbhealth:app:MigrationJob", MIGRATE_NAME, None, opts)
        labels = standard_labels(MIGRATE_NAME, "migration", version, stack)
        container, volumes = app_container(MIGRATE_NAME, image, MIGRATE, sizing, env, APP_USER, long_running=False)
        self.job = k8s.batch.v1.Job(
            MIGRATE_NAME,
            metadata=k8s.meta.v1.ObjectMetaArgs(namespace=namespace, labels=labels),
            spec=k8s.batch.v1.JobSpecArgs(
                backoff_limit=2,
                active_deadline_seconds=MIGRATE_DEADLINE_SECONDS,
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels),
                    spec=pod_spec([container], volumes, APP_USER, restart_policy="Never"),
                ),
            ),
            opts=pulumi.ResourceOptions.merge(
                child_options(self, opts),
                pulumi.ResourceOptions(custom_timeouts=pulumi.CustomTimeouts(create=f"{MIGRATE_DEADLINE_SECONDS + 60}s")),
            ),
        )
        self.register_outputs({"job": self.job.metadata.name})
