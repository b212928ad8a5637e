"""Database migrations: a Job that runs the backend image's migrate command once per release."""

from __future__ import annotations

from typing import Optional, Sequence

import pulumi

from components.build_specs import MIGRATE
from components.config import ServiceConfig
from components.jobs import release_job
from components.workload import CHECKSUM_ANNOTATION, EnvSources

MIGRATE_NAME = "migrate"
# How long the migration may run before Kubernetes (and `pulumi up`) gives up on it.
MIGRATE_DEADLINE_SECONDS = 600
# No second try: `migrate` waits for the database itself (MIGRATE_WAIT_SECONDS), and what fails after
# that (SQL the database refuses: exit 4, an incompatible schema: 3, bad config: 78) fails again. A
# retry only delayed the failed release by the Job's back-off (10 s, then 20 s).
MIGRATE_RETRIES = 0


class MigrationJob(pulumi.ComponentResource):
    """Runs `python -m mbhealth migrate` to completion before the new release's pods start.

    A new image digest or a new environment replaces the Job, so migrations run exactly
    once per release: its pod template carries the environment's checksum (the same
    `checksum/config` as the Deployments'), so a new DATABASE_URL re-runs the migrations
    against it before the pods roll, however the provider updates the Secret. The
    Deployments depend on this component, and Pulumi waits for the Job to succeed before
    touching them.
    """

    def __init__(
        self,
        namespace: pulumi.Input[str],
        image: pulumi.Input[str],
        sizing: ServiceConfig,
        env: EnvSources,
        version: str,
        stack: str,
        image_pull_secrets: Sequence[pulumi.Input[str]] = (),
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("mbhealth:app:MigrationJob", MIGRATE_NAME, None, opts)
        self.job = release_job(
            self, opts, name=MIGRATE_NAME, component="migration", namespace=namespace, image=image,
            process=MIGRATE, sizing=sizing, env=env, version=version, stack=stack,
            deadline_seconds=MIGRATE_DEADLINE_SECONDS, backoff_limit=MIGRATE_RETRIES, image_pull_secrets=image_pull_secrets,
            annotations={CHECKSUM_ANNOTATION: env.checksum},
        )
        self.register_outputs({"job": self.job.metadata.name})
