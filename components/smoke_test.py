"""Release gate: a Job that smoke-tests the running release; `pulumi up` fails if it fails."""

from __future__ import annotations

import hashlib
from typing import Optional, Sequence, TypeVar

import pulumi

from components.build_specs import SMOKE
from components.config import ServiceConfig
from components.jobs import release_job

SMOKE_NAME = "smoke"
SMOKE_TIMEOUT_SECONDS = 180
RELEASE_ANNOTATION = "mbhealth/release"
T = TypeVar("T")


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
        image_pull_secrets: Sequence[pulumi.Input[str]] = (),
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("mbhealth:app:SmokeTest", SMOKE_NAME, None, opts)
        release_digest = pulumi.Output.all(*release).apply(
            lambda parts: hashlib.sha256("\n".join(parts).encode()).hexdigest()
        )
        self.job = release_job(
            self, opts, name=SMOKE_NAME, component="smoke-test", namespace=namespace, image=image,
            process=SMOKE, sizing=sizing, env=None, version=version, stack=stack,
            deadline_seconds=SMOKE_TIMEOUT_SECONDS + 60, backoff_limit=0,
            args=["--api", api_url, "--web", web_url, "--timeout", str(SMOKE_TIMEOUT_SECONDS)],
            annotations={RELEASE_ANNOTATION: release_digest}, image_pull_secrets=image_pull_secrets,
        )
        self.register_outputs({"job": self.job.metadata.name})

    def passed(self, value: pulumi.Input[T]) -> pulumi.Output[T]:
        """`value`, known only once the smoke Job has succeeded (a failed gate never resolves it).

        Stack outputs that mean "last known good" (the `images` promotion and rollback read) go
        through here, so a failed update leaves the previous release's values in the state.
        """
        return pulumi.Output.all(self.job.id, value).apply(lambda both: both[1])
