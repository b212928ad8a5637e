"""Release gate: a Job that smoke-tests the running release; `pulumi up` fails if it fails."""

from __future__ import annotations

import hashlib
from typing import Optional, Sequence

import pulumi
import pulumi_kubernetes as k8s

from components.build_specs import SMOKE
from components.config import ServiceConfig
from components.labels import standard_labels
from components.options import child_options
from components.security import APP_USER
from components.workload import app_container, pod_spec

SMOKE_NAME = "smoke"
SMOKE_TIMEOUT_SECONDS = 180
RELEASE_ANNOTATION = "mbhealth/release"


class SmokeTest(pulumi.ComponentResource):
    """Runs `python -m mbhealth smoke` after the Deployments are rolled out (pass `depends_on`).

    Checks the API's readiness, the frontend's /health and SPA, and one task round-trip
    through the frontend's /api proxy. The pod template carries a digest of the release
    (images and environment checksums), so every rollout replaces the Job and runs it again.
    """

    def __init__(
        self,
        namespace: pulumi.Input[str],
        image: pulumi.Input[str],
        api_url: str,
        web_url: str,
        release: Sequence[pulumi.Input[str]],
        sizing: ServiceConfig,
        version: str,
        stack: str,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("mbhealth:app:SmokeTest", SMOKE_NAME, None, opts)
        labels = standard_labels(SMOKE_NAME, "smoke-test", version, stack)
        container, volumes = app_container(
            SMOKE_NAME, image, SMOKE, sizing, None, APP_USER, long_running=False,
            args=["--api", api_url, "--web", web_url, "--timeout", str(SMOKE_TIMEOUT_SECONDS)],
        )
        release_digest = pulumi.Output.all(*release).apply(
            lambda parts: hashlib.sha256("\n".join(parts).encode()).hexdigest()
        )
        self.job = k8s.batch.v1.Job(
            SMOKE_NAME,
            metadata=k8s.meta.v1.ObjectMetaArgs(namespace=namespace, labels=labels),
            spec=k8s.batch.v1.JobSpecArgs(
                backoff_limit=0,
                active_deadline_seconds=SMOKE_TIMEOUT_SECONDS + 60,
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels, annotations={RELEASE_ANNOTATION: release_digest}),
                    spec=pod_spec([container], volumes, APP_USER, restart_policy="Never"),
                ),
            ),
            opts=pulumi.ResourceOptions.merge(
                child_options(self, opts),
                pulumi.ResourceOptions(custom_timeouts=pulumi.CustomTimeouts(create=f"{SMOKE_TIMEOUT_SECONDS + 120}s")),
            ),
        )
        self.register_outputs({"job": self.job.metadata.name})
