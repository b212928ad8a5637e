"""The image-pinning rule: deployed images come from the stack's registry by digest, and image builds push
release tags with safe base images and build args. The one dev exception (DEV_PUBLIC_IMAGES) lives here."""

from __future__ import annotations

import re
from typing import Any, Mapping, Optional

from policy.objects import LONG_RUNNING, Unknown, container_name, containers, describe, get_path, is_map, pod_spec
from policy.secret_detection import key_looks_secret, value_secret_reason
from policy.stack_context import StackContext
from policy.violation import Violation

# The dev exception: upstream data-service images by version tag (dev only, advisory).
DEV_PUBLIC_IMAGES = ("postgres", "redis")  # app.kubernetes.io/name of the in-cluster data services
DEV_PUBLIC_IMAGES_REASON = (
    "dev exception (advisory in development only): the in-cluster PostgreSQL/Redis of the dev stack run the "
    "upstream image by a pinned version tag; prod uses managed data services, so this never reaches production"
)

DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
BASE_IMAGE_ARG = re.compile(r"_IMAGE$")

# ── deployed images (pod specs) ──────────────────────────────────────────────

IMAGE_FIX = (
    "deploy the image the stack built or promoted, by digest: components/image.py release_images "
    "(ContainerImage.repo_digest, or mbhealth:images digests copied into this registry) -> "
    "`{prefix}<name>@sha256:<digest>`; never a tag, never `latest`"
)
DATA_IMAGE_FIX = (
    "mirror the upstream image into the stack's registry and set mbhealth:dataServices.postgresImage/redisImage "
    "to it by digest (`{prefix}<name>@sha256:<digest>`)"
)
TAG_FIX = "name a specific version tag (e.g. postgres:15.10-alpine) or, better, a digest; never `latest` or no tag"


def split_image(ref: str) -> tuple[str, Optional[str], Optional[str]]:
    """`repo[:tag][@digest]` -> (repository, tag, digest)."""
    digest = None
    if "@" in ref:
        ref, digest = ref.split("@", 1)
    tag = None
    last = ref.rsplit("/", 1)[-1]
    if ":" in last:
        ref, tag = ref.rsplit(":", 1)
    return ref, tag, digest


def _is_data_service(obj: Mapping[str, Any]) -> bool:
    return get_path(obj, "metadata", "labels", "app.kubernetes.io/name") in DEV_PUBLIC_IMAGES


def _is_dev_public_image(obj: Mapping[str, Any], kind: str, ctx: StackContext) -> bool:
    return ctx.is_development and kind in LONG_RUNNING and _is_data_service(obj)


def check_images(obj: Mapping[str, Any], kind: str, ctx: StackContext, name: Optional[str] = None) -> list[Violation]:
    """Images come from the stack's registry, pinned by digest; never `latest` (dev data services: see DEV_PUBLIC_IMAGES)."""
    spec = pod_spec(obj, kind)
    if spec is None:
        return []
    where = describe(obj, kind, name)
    fix = IMAGE_FIX.format(prefix=ctx.repository_prefix)
    found = []
    for _, c in containers(spec):
        cname = container_name(c)
        image = c.get("image")
        if isinstance(image, Unknown):
            continue  # an image not built yet in a preview; checked again by `pulumi up` once its digest is known
        if not isinstance(image, str) or not image:
            found.append(Violation("image-pinning", where, "no image", fix, container=cname))
            continue
        repository, tag, digest = split_image(image)
        if tag == "latest" or (tag is None and digest is None):
            found.append(Violation("image-pinning", where, f"image {image!r} uses `latest` (explicitly or by having no tag)",
                                   fix if image.startswith(ctx.repository_prefix) else TAG_FIX, container=cname))
            continue
        problems = []
        if not image.startswith(ctx.repository_prefix):
            problems.append(f"not from the stack's registry ({ctx.repository_prefix}...)")
        if not DIGEST.search(image):
            problems.append("not pinned by digest (@sha256:<64 hex>)")
        if problems:
            data_service = _is_data_service(obj)
            exception = DEV_PUBLIC_IMAGES_REASON if data_service and _is_dev_public_image(obj, kind, ctx) else None
            found.append(Violation("image-pinning", where, f"image {image!r} is " + " and ".join(problems),
                                   DATA_IMAGE_FIX.format(prefix=ctx.repository_prefix) if data_service else fix,
                                   container=cname, exception=exception))
    return found


# ── image builds (docker:index/image:Image) ──────────────────────────────────

BUILD_FIX = (
    "build through ContainerImage (components/image.py) from components/build_specs.py: imageName "
    "`{prefix}<name>:<release tag>` (mbhealth:imageTag, never `latest`), base images as version-tagged "
    "*_IMAGE build args, and no secrets in build args (they stay in the image history)"
)


def check_image_build(props: Mapping[str, Any], ctx: StackContext, name: Optional[str] = None) -> list[Violation]:
    """A docker.Image pushes to the stack's registry under a release tag; base images and build args are safe."""
    image_name = props.get("imageName")
    where = f"docker Image {name or '<unnamed>'}"
    fix = BUILD_FIX.format(prefix=ctx.repository_prefix)
    found = []
    if isinstance(image_name, str):
        where = f"docker Image {name or image_name} ({image_name})"
        _, tag, _ = split_image(image_name)
        if tag in (None, "latest"):
            found.append(Violation("image-pinning", where, "imageName has no release tag (it is `latest`)", fix))
        if not image_name.startswith(ctx.repository_prefix):
            found.append(Violation("image-pinning", where, f"imageName is not in the stack's registry ({ctx.repository_prefix}...)", fix))
    args = get_path(props, "build", "args")
    if is_map(args):
        for key, value in args.items():
            if isinstance(value, Unknown) or value is None:
                continue
            if BASE_IMAGE_ARG.search(str(key)):
                _, tag, digest = split_image(str(value))
                if digest is None and tag in (None, "latest"):
                    found.append(Violation("image-pinning", where, f"base image build arg {key} uses `latest` (explicitly or by having no tag)", fix))
            reason = value_secret_reason(str(value), key=str(key))
            if key_looks_secret(str(key)) or reason:
                found.append(Violation("no-plaintext-secrets", where,
                                       f"build arg {key!r} looks like a secret ({reason or 'by its name'})", fix))
    return found
