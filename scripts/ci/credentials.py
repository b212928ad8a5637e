"""What a job's Pulumi CLI needs to reach its state backend and its cluster, checked up front.

State: `vars.PULUMI_BACKEND_URL` (a self-managed backend) or, unset, Pulumi Cloud with
`PULUMI_ACCESS_TOKEN`. A self-managed bucket needs its cloud's credentials in the environment
(`CLOUD_CREDENTIALS`); the workflows pass them from the job's environment secrets.
Cluster: a kubeconfig given as data (a secret) is written to a file only this user can read, and
its one context is named explicitly (scripts/stack.sh never uses "the current context").
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping

import yaml

from scripts.ci.github import Job, JobFailed

PULUMI_CLOUD = "https://api.pulumi.com"
# Backend scheme -> the variables its Go CDK bucket driver reads (any one set of them).
CLOUD_CREDENTIALS: Mapping[str, tuple[tuple[str, ...], ...]] = {
    "s3://": (("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"),
              ("AWS_ROLE_ARN", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_REGION")),
    "gs://": (("GOOGLE_CREDENTIALS",), ("GOOGLE_APPLICATION_CREDENTIALS",)),
    "azblob://": (("AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_KEY"),),
}


def backend_env(job: Job) -> dict[str, str]:
    """PULUMI_BACKEND_URL for the job (never a `pulumi login`): the variable, or Pulumi Cloud."""
    url = job.get("PULUMI_BACKEND_URL")
    if not url:
        if not job.get("PULUMI_ACCESS_TOKEN"):
            raise JobFailed("no state backend: set the variable PULUMI_BACKEND_URL (a self-managed backend) or the "
                            "secret PULUMI_ACCESS_TOKEN (Pulumi Cloud) for this job (README: Secrets in CI)")
        return {"PULUMI_BACKEND_URL": PULUMI_CLOUD}
    for scheme, alternatives in CLOUD_CREDENTIALS.items():
        if url.startswith(scheme) and not any(all(job.get(v) for v in names) for names in alternatives):
            wanted = " or ".join("+".join(names) for names in alternatives)
            raise JobFailed(f"PULUMI_BACKEND_URL is {scheme}…: the job has no credentials for it; set {wanted} "
                            f"from the job's environment secrets (README: Secrets in CI)")
    return {"PULUMI_BACKEND_URL": url}


def kube_env(job: Job, data_variable: str = "KUBECONFIG_DATA") -> dict[str, str]:
    """KUBECONFIG and KUBE_CONTEXT for scripts/stack.sh: the job's own KUBE_CONTEXT (a kind cluster of
    the runner), else the kubeconfig in `data_variable`, written to RUNNER_TEMP, and its one context."""
    if job.get("KUBE_CONTEXT"):
        return {"KUBE_CONTEXT": job.get("KUBE_CONTEXT")}
    data = job.get(data_variable)
    if not data:
        return {}
    path = job.temp / "kubeconfig"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(data)
    return {"KUBECONFIG": str(path), "KUBE_CONTEXT": only_context(path, data_variable)}


def only_context(path: Path, data_variable: str) -> str:
    """The name of the one context in kubeconfig `path`."""
    try:
        contexts = [entry.get("name") for entry in (yaml.safe_load(path.read_text()) or {}).get("contexts") or []]
    except (yaml.YAMLError, AttributeError):
        raise JobFailed(f"{data_variable}: not a kubeconfig (YAML with a contexts list)") from None
    if len(contexts) != 1 or not isinstance(contexts[0], str):
        raise JobFailed(f"{data_variable}: the kubeconfig names {len(contexts)} contexts; expected exactly one "
                        "(the deploy's cluster), or set KUBE_CONTEXT to the one to use")
    return contexts[0]
