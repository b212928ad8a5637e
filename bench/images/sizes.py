"""Image sizes: uncompressed from the engine, compressed from the registry manifests, above the base image,
and what one image adds to another; the builds (every target and variant, pushed) they are measured on."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass

import build_images
from docker_client import docker, image_inspect

from bench.images.builds import VERSION
from components.build_specs import IMAGE_BUILDS, ImageBuildSpec

MANIFEST_ACCEPT = "application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json"


def registry_manifest(ref: str) -> dict:
    """The image manifest the local registry serves for `registry/repo@sha256:...`."""
    registry, _, rest = ref.partition("/")
    repo, _, digest = rest.partition("@")
    if not digest:
        raise SystemExit(f"bench-images: {ref} is not a repo@digest reference")
    request = urllib.request.Request(f"http://{registry}/v2/{repo}/manifests/{digest}",
                                     headers={"Accept": MANIFEST_ACCEPT})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=20) as resp:
        return json.load(resp)


@dataclass
class ImageSize:
    key: str
    ref: str
    base_ref: str
    total: int  # uncompressed, engine
    base_total: int
    layers: list[str]  # diff ids
    base_layers: int  # how many of `layers` are the base's
    compressed_layers: list[int]  # manifest layer sizes, in layer order
    config_size: int

    @property
    def above_base(self) -> int:
        return self.total - self.base_total

    @property
    def compressed_total(self) -> int:
        return sum(self.compressed_layers)

    @property
    def compressed_above_base(self) -> int:
        return sum(self.compressed_layers[self.base_layers:])

    @property
    def layers_above_base(self) -> int:
        return len(self.layers) - self.base_layers


def inspect_or_pull(ref: str) -> dict | None:
    """`docker image inspect`, pulling `ref` from the local registry first if the engine lacks it
    (another suite may have re-forged the stand-ins since this run's builds resolved them)."""
    info = image_inspect(ref)
    if info is None and docker("pull", ref, check=False).returncode == 0:
        info = image_inspect(ref)
    return info


def image_size(built: build_images.Built) -> ImageSize:
    info = built.inspect()
    layers = info["RootFS"]["Layers"]
    # The base is the *_IMAGE build arg whose layers this image starts with (longest match).
    base_ref, base_info = "", None
    for arg, value in built.build_args.items():
        if not arg.endswith("_IMAGE"):
            continue
        candidate = inspect_or_pull(value)
        if candidate is None:
            continue
        base_layers = candidate["RootFS"]["Layers"]
        if layers[: len(base_layers)] == base_layers and (
                base_info is None or len(base_layers) > len(base_info["RootFS"]["Layers"])):
            base_ref, base_info = value, candidate
    if base_info is None:
        raise SystemExit(f"bench-images: {built.key} does not start with the layers of any base image arg")
    if not built.repo_digest:
        raise SystemExit(f"bench-images: {built.key} was not pushed")
    manifest = registry_manifest(built.repo_digest)
    compressed = [layer["size"] for layer in manifest["layers"]]
    if len(compressed) != len(layers):
        raise SystemExit(f"bench-images: {built.key}: manifest has {len(compressed)} layers, image {len(layers)}")
    return ImageSize(
        key=built.key, ref=built.repo_digest, base_ref=base_ref, total=int(info["Size"]),
        base_total=int(base_info["Size"]), layers=layers, base_layers=len(base_info["RootFS"]["Layers"]),
        compressed_layers=compressed, config_size=int(manifest["config"]["size"]),
    )


@dataclass
class Unshared:
    layers: int
    uncompressed: int
    compressed: int
    config_size: int


def unshared(image: ImageSize, other: ImageSize) -> Unshared:
    """Bytes of `image`'s layers that `other` does not have (by diff id)."""
    theirs = set(other.layers)
    positions = [i for i, layer in enumerate(image.layers) if layer not in theirs]
    if not positions:
        uncompressed = 0
    elif image.layers[: len(other.layers)] == other.layers:
        uncompressed = image.total - other.total
    else:
        raise SystemExit(f"bench-images: {image.key} is not built on {other.key}; cannot size the difference")
    return Unshared(layers=len(positions), uncompressed=uncompressed,
                    compressed=sum(image.compressed_layers[i] for i in positions), config_size=image.config_size)


def variant_specs() -> dict[str, tuple[str, str, ImageBuildSpec]]:
    """Image key -> (image name, variant, spec) of each non-default per-stack variant (the distroless backend)."""
    found = {}
    for name, variants in build_images.VARIANTS.items():
        for variant, spec in variants.items():
            if spec != IMAGE_BUILDS[name]:
                found[build_images.image_key(spec)] = (name, variant, spec)
    return found


def build_final(standins: Mapping[str, str]) -> dict[str, build_images.Built]:
    """Every spec's deployed target plus the targets it is compared with, and each variant, pushed."""
    built = {}
    for name, spec in IMAGE_BUILDS.items():
        for target in build_images.targets_for(name):
            result = build_images.build(spec, version=VERSION, target=target, standins=standins, push_image=True)
            built[result.key] = result
    for _name, _variant, spec in variant_specs().values():
        result = build_images.build(spec, version=VERSION, standins=standins, push_image=True)
        built[result.key] = result
    return built
