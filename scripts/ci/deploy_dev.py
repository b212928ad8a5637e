"""The deploy on main: dev at the commit's tag, through the policy pack; then the exact digests dev
runs copied into prod's registry and recorded as the commit's release (`release-images.json`:
{"commit", "images"}), which a tag of this commit promotes (release.py, promote.py).

Before `pulumi up`, every image digest the state holds must be served by its registry: a new
cluster's registry (CI's kind, every run) or an emptied one has none of them, and pulumi-docker
compares inputs only, so it would deploy digests nobody serves. An image whose digest is missing is
replaced (`--replace <urn>`: rebuilt and pushed).
"""

from __future__ import annotations

import json
import re

from scripts.ci import build_cache, registry
from scripts.ci.credentials import kube_env
from scripts.ci.github import Job, JobFailed
from scripts.ci.stack import PROJECT, Stack, registry_server

IMAGE_TYPE = "docker:index/image:Image"
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")


def unserved_images(stack: Stack) -> list[str]:
    """URNs of the stack's built images whose `repoDigest` their registry does not serve."""
    missing = []
    for resource in stack.resources():
        ref = (resource.get("outputs") or {}).get("repoDigest")
        if resource.get("type") == IMAGE_TYPE and isinstance(ref, str) and not registry.served(ref, stack.env):
            print(f"dev: {ref} is not served by its registry: rebuilding and pushing {resource['urn']}")
            missing.append(resource["urn"])
    return missing


def built_by_pulumi(stack: Stack) -> bool:
    return any(resource.get("type") == IMAGE_TYPE for resource in stack.resources())


def record_release(job: Job, stack: Stack, prod_registry: str) -> dict[str, str]:
    """Copy dev's released digests into prod's registry (tag `sha-<commit>`); the step's outputs,
    summary and the release record."""
    sha = job.sha
    images = stack.images()
    if not images:
        raise JobFailed("dev's stack exports no images after its deploy: nothing to release")
    copied = {}
    for name, ref in sorted(images.items()):
        digest = ref.rsplit("@", 1)[-1] if "@" in ref else ""
        if not DIGEST.fullmatch(digest):
            raise JobFailed(f"dev's {name} is not pinned by digest: {ref}")
        target = f"{prod_registry}/{PROJECT}/{name}"
        registry.copy(ref, f"{target}:sha-{sha}", stack.env)
        copied[name] = f"{target}@{digest}"
        job.summary(f"- {name}: `{copied[name]}`")
    job.output("images", json.dumps(copied, separators=(",", ":")))
    job.output("registry", registry.host(prod_registry))
    record = job.temp / "release" / "release-images.json"
    record.parent.mkdir(parents=True, exist_ok=True)
    record.write_text(json.dumps({"commit": sha, "images": copied}))
    return copied


def main(job: Job) -> int:
    sha = job.sha
    stack = Stack.of(job, "dev", **kube_env(job))
    prod_registry = registry_server("prod")  # the committed file: prod's stack may not exist yet
    dev_registry = registry_server("dev")
    if job.get("REGISTRY_TOKEN"):  # prod's registry: the cache images and the release copies
        registry.login(prod_registry, job.require("REGISTRY_USER", "the registry user for REGISTRY_TOKEN"),
                       job.get("REGISTRY_TOKEN"), stack.env)
    stack.select(create=True)
    stack.set("imageTag", sha)
    replace = unserved_images(stack)
    seeded = build_cache.seed("dev", dev_registry, prod_registry, stack.env)
    print(f"dev: {seeded} build-cache image(s) from {prod_registry}")
    args = ["--refresh", "--policy-pack", "policy", "--non-interactive"]  # refresh: the CI cluster is new
    up = stack.script("up", *args, *(f"--replace={urn}" for urn in replace))
    if up.returncode != 0:
        raise JobFailed(f"pulumi up of dev failed (exit {up.returncode}): the log above says why")
    if built_by_pulumi(stack):
        build_cache.save("dev", dev_registry, prod_registry, sha, stack.env)
    record_release(job, stack, prod_registry)
    return 0
