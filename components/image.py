"""Release images: build a multi-stage Dockerfile target and push it, or promote digests; always pinned."""

from __future__ import annotations

from typing import Any, Mapping, Optional

import json
import os
import re

import pulumi
import pulumi_docker as docker

from components.build_specs import BACKEND_VARIANTS, IMAGE_BUILDS, ImageBuildSpec, substitute_for
from components.config import PINNED_FORM, PINNED_RE, RegistryConfig, StackConfig


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
        # Inline cache metadata in what is pushed; the build reads each stage's cache image (pushed
        # by the deploy: scripts/ci/build_cache.py), never the tag it is about to push.
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
                cache_from=docker.CacheFromArgs(images=spec.cache_refs(repository)),
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
        # Checked inside the apply: a digest the push did not report never reaches a Deployment.
        self.repo_digest = image.repo_digest.apply(lambda ref: checked_repo_digest(spec.name, repository, ref))
        self.register_outputs({"repoDigest": self.repo_digest, "imageName": self.image_name})


class ImageDigestError(RuntimeError):
    """A freshly built image's `repoDigest` is not `<repository>@sha256:<digest>` of the repository pushed to."""


def checked_repo_digest(name: str, repository: str, ref: object) -> str:
    """The `repoDigest` pulumi-docker returned for image `name`, pushed to `repository`, if it pins it.

    pulumi-docker reports `<none>@<none>` (or nothing) when the push stream carried no digest, and a
    digest of another repository would deploy an image nobody pushed there: both fail the deploy
    here, before any Deployment, Job or output is made with them.
    """
    if isinstance(ref, str) and re.fullmatch(re.escape(repository) + r"@sha256:[0-9a-f]{64}", ref):
        return ref
    raise ImageDigestError(
        f"image {name}: the build pushed to {repository} returned repoDigest {ref!r}; expected "
        f"{repository}@sha256:<64 hex digits> (did the push to the registry succeed and report a digest?)"
    )


def _promoted(refs: Any, name: str, stack: str, registry: RegistryConfig) -> str:
    """Another stack's image, by its digest, in this stack's registry (copied there beforehand).

    Refuses anything that other stack did not pin by digest.
    """
    ref = refs.get(name) if isinstance(refs, Mapping) else None
    if not isinstance(ref, str) or not PINNED_RE.match(ref):
        raise ValueError(
            f"mbhealth:images.stack: stack {stack!r} exports images.{name} = {ref!r}; expected {PINNED_FORM}"
        )
    return f"{registry.repository(name)}@{ref.split('@', 1)[1]}"


BASE_IMAGES_ENV = "MBH_BASE_IMAGES"


def base_image_substitutes(environ: Mapping[str, str] = os.environ) -> dict[str, str]:
    """Base images to build on instead of the public ones: `MBH_BASE_IMAGES` (JSON, machine-local).

    For machines that reach no public registry (scripts/stack.sh sets it to the offline
    stand-ins with the local control plane). Unset: the Dockerfiles' own public bases.
    """
    raw = environ.get(BASE_IMAGES_ENV, "").strip()
    if not raw:
        return {}
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as err:
        raise ValueError(f"{BASE_IMAGES_ENV}: not JSON ({err.msg}); expected "
                         '{"<public base image>": "<substitute image>", ...}') from None
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) and v
                                              for k, v in value.items()):
        raise ValueError(f"{BASE_IMAGES_ENV}: got {raw!r}; expected "
                         '{"<public base image>": "<substitute image>", ...}')
    return value


def _base_images(spec: ImageBuildSpec, substitutes: Mapping[str, str]) -> dict[str, str]:
    chosen = {arg: substitute_for(real, substitutes) for arg, real in spec.base_image_args.items()}
    return {arg: image for arg, image in chosen.items() if image}


def release_images(config: StackConfig) -> dict[str, pulumi.Output[str]]:
    """Each image of the release as `repo@sha256:...`: built now, or promoted without a rebuild."""
    source = config.images
    if source.mode == "digests":
        return {name: pulumi.Output.from_input(source.digests[name]) for name in IMAGE_BUILDS}
    if source.mode == "stack":
        assert source.stack is not None
        refs = pulumi.StackReference(source.stack).get_output("images")
        return {
            name: refs.apply(lambda r, name=name: _promoted(r, name, source.stack, config.registry))
            for name in IMAGE_BUILDS
        }
    specs = {**IMAGE_BUILDS, "backend": BACKEND_VARIANTS[config.backend_variant]}
    substitutes = base_image_substitutes()
    return {
        name: ContainerImage(spec, config.registry, config.image_tag, config.platform,
                             base_images=_base_images(spec, substitutes)).repo_digest
        for name, spec in specs.items()
    }
