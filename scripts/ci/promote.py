"""Prod: the stack's secrets from the production environment's secret store (each on stdin, an
empty one stops the job naming its key), the release name and exactly the verified digests
(`images.source: digests`: prod builds nothing), then `pulumi up` through the policy pack."""

from __future__ import annotations

import json

from scripts.ci.credentials import kube_env
from scripts.ci.github import Job, JobFailed
from scripts.ci.registry import PINNED
from scripts.ci.stack import Stack

# stack config key -> the job's variable (deploy.yml maps each from the environment's PROD_<variable>).
SECRETS = {"secretKey": "SECRET_KEY", "databaseUrl": "DATABASE_URL", "redisUrl": "REDIS_URL",
           "registryPullPassword": "REGISTRY_PULL_PASSWORD"}


def verified_images(job: Job) -> dict[str, str]:
    try:
        images = json.loads(job.require("IMAGES", "expected the digests `verify` checked (JSON {name: ref})"))
    except json.JSONDecodeError:
        images = None
    if not isinstance(images, dict) or not images:
        raise JobFailed(f"IMAGES is {job.get('IMAGES')!r}; expected JSON {{\"<image>\": \"<repo>@sha256:<64 hex>\"}}")
    for name, ref in images.items():
        if not isinstance(ref, str) or not PINNED.match(ref):
            raise JobFailed(f"{name} is not pinned by digest: {ref}")
    return images


def main(job: Job) -> int:
    images = verified_images(job)
    version = job.require("VERSION", "expected the release name (the tag v1.4.2, or the dispatch's version)")
    values = {key: job.get(variable) for key, variable in SECRETS.items()}
    for key, value in values.items():
        if not value:
            raise JobFailed(f"the secret for mbhealth:{key} is empty: set PROD_{SECRETS[key]} in the production "
                            "environment (README: Secrets in CI)")
    cluster = kube_env(job, "KUBECONFIG_DATA")
    if not cluster:
        raise JobFailed("KUBECONFIG_DATA is empty: set PROD_KUBECONFIG in the production environment "
                        "(README: Secrets in CI)")
    stack = Stack.of(job, "prod", **cluster)
    stack.select(create=True)
    for key, value in values.items():
        stack.set_secret(key, value)
    stack.set("imageTag", version.removeprefix("v"))
    stack.set("images.source", "digests", path=True)
    for name, ref in sorted(images.items()):
        stack.set(f"images.digests.{name}", ref, path=True)
        job.summary(f"- {name}: `{ref}`")
    up = stack.script("up", "--policy-pack", "policy", "--non-interactive")
    if up.returncode != 0:
        raise JobFailed(f"pulumi up of prod failed (exit {up.returncode}): the log above says why")
    return 0
