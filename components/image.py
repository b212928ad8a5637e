"""One container image: build a multi-stage Dockerfile target, push it, expose it pinned by digest."""

from __future__ import annotations

from typing import Mapping, Optional

import pulumi
import pulumi_docker as docker

from components.build_specs import ImageBuildSpec
from components.config import RegistryConfig


class ContainerImage(pulumi.ComponentResource):
    """Builds `spec` with BuildKit and pushes `<registry>/mbhealth/<name>:<tag>`.

    `repo_digest` (`repo@sha256:...`) is what Deployments reference: a rebuild
    that changes the image rolls them; an unchanged build changes nothing.
    """

    repo_digest: pulumi.Output[str]
    image_name: str

    def __init__(
        self,
        spec: ImageBuildSpec,
        registry: RegistryConfig,
        tag: str,
        platform: str,
        base_images: Optional[Mapping[str, str]] = None,
        opts: Optional[pulumi.ResourceOptions] = None,
    ):
        super().__init__("mbhealth:image:ContainerImage", spec.name, None, opts)
        repository = registry.repository(spec.name)
        self.image_name = f"{repository}:{tag}"
        build_args = spec.build_args(tag, base_images)
        # Inline cache metadata lets the next build reuse layers from the pushed image.
        build_args["BUILDKIT_INLINE_CACHE"] = "1"
        image = docker.Image(
            spec.name,
            image_name=self.image_name,
            build=docker.DockerBuildArgs(
                context=spec.context,
                dockerfile=spec.dockerfile,
                target=spec.target,
                args=build_args,
                platform=platform,
                builder_version=docker.BuilderVersion.BUILDER_BUILD_KIT,
                cache_from=docker.CacheFromArgs(images=[self.image_name]),
            ),
            registry=docker.RegistryArgs(
                server=registry.server.split("/")[0],
                username=registry.username,
                password=registry.password,
            )
            if registry.username
            else None,
            skip_push=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.repo_digest = image.repo_digest
        self.register_outputs({"repoDigest": self.repo_digest, "imageName": self.image_name})
