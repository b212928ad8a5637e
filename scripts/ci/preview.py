"""`pulumi preview` of one stack for a pull request, previewing what its deploy would do, as the
stack's PR comment (posted once, then edited) and the job summary.

- dev: with the `imageTag` dev's last deploy ran (the commit deployed on main), so what the pull
  request does not change previews as no change;
- prod: promoting dev's current release (`images.source: digests`, dev's digests in prod's registry,
  as deploy.yml copies them), with the secrets and `imageTag` of prod's last deploy (their
  ciphertext, from the backend): prod builds nothing, and neither does its preview.

A stack never deployed is reported as such (a preview's credentials cannot create it); a pull
request by Dependabot, which gets no Actions secrets, is skipped with a summary line.
"""

from __future__ import annotations

from typing import Any, Optional

import yaml

from scripts.ci import comments
from scripts.ci.credentials import kube_env
from scripts.ci.github import Job, JobFailed
from scripts.ci.stack import PROJECT, Stack, registry_server

KIND = "pulumi-preview"
KEY = f"{PROJECT}:"
# Top-level keys of a stack file that name its secrets manager (and so decrypt its ciphertexts).
SECRETS_MANAGER = ("secretsprovider", "encryptedkey", "encryptionsalt")


def as_deployed(stack: str, checkout: dict[str, Any], deployed: dict[str, Any],
                dev_images: Optional[dict[str, str]]) -> dict[str, Any]:
    """The pull request's stack file with what the deploy would set on top of it."""
    result = {**checkout, "config": dict(checkout.get("config") or {})}
    config, last = result["config"], deployed.get("config") or {}
    if f"{KEY}imageTag" in last:
        config[f"{KEY}imageTag"] = last[f"{KEY}imageTag"]
    if stack == "prod":
        for key in SECRETS_MANAGER:
            if key in deployed and key not in result:
                result[key] = deployed[key]
        for key, value in last.items():
            if isinstance(value, dict) and "secure" in value and key not in config:
                config[key] = value
        if dev_images:
            registry = registry_server("prod")
            config[f"{KEY}images"] = {"source": "digests", "digests": {
                name: f"{registry}/{PROJECT}/{name}@{ref.rsplit('@', 1)[1]}" for name, ref in sorted(dev_images.items())}}
        elif f"{KEY}images" in last:
            config[f"{KEY}images"] = last[f"{KEY}images"]
    return result


def render(stack: str, output: str, status: int, note: str) -> str:
    verdict = "succeeded" if status == 0 else f"failed (exit {status})"
    return (f"### Pulumi preview: `{stack}` {verdict}\n{note}\n"
            f"<details><summary>pulumi preview --diff --policy-pack policy</summary>\n\n"
            f"```\n{output.rstrip()}\n```\n</details>\n")


def publish(job: Job, stack: str, body: str) -> None:
    job.summary(body)
    print(f"pulumi preview of {stack}: comment {comments.upsert(job, KIND, stack, body)}")


def main(job: Job, name: str) -> int:
    if job.by_dependabot():
        job.summary(f"Pulumi preview of `{name}` skipped: Dependabot's pull requests get no Actions secrets "
                    "(README: Pull requests and promotion); the manifest diff shows what they change.")
        return 0
    if not job.from_this_repository():
        job.summary(f"Pulumi preview of `{name}` skipped: a fork's pull request gets no secrets.")
        return 0
    cluster = kube_env(job)
    if name == "prod" and not cluster:  # never the local cluster scripts/stack.sh would start
        raise JobFailed("KUBECONFIG_DATA is empty: set PROD_PREVIEW_KUBECONFIG (read-only) in the preview "
                        "environment (README: Secrets in CI)")
    stack = Stack.of(job, name, **cluster)
    if not stack.exists():
        publish(job, name, f"### Pulumi preview: `{name}` not deployed yet\nStack `{name}` has never been "
                           "deployed: its first deploy (deploy.yml) creates it. The manifest diff shows every "
                           "object it will create.\n")
        return 0
    stack.select(create=False)
    deployed = stack.last_deployed_file() or {}
    dev_images = Stack.of(job, "dev").images() if name == "prod" else None
    checkout = stack.file.read_text()
    tag = (deployed.get("config") or {}).get(KEY + "imageTag", "of the stack file (never deployed)")
    note = f"As `deploy.yml` would run it: imageTag `{tag}`" + (", promoting dev's current release" if dev_images else "")
    try:
        stack.file.write_text(yaml.safe_dump(as_deployed(name, yaml.safe_load(checkout) or {}, deployed, dev_images),
                                             sort_keys=False))
        proc = stack.script("preview", "--policy-pack", "policy", "--non-interactive")
    finally:
        stack.file.write_text(checkout)
    publish(job, name, render(name, proc.stdout, proc.returncode, note + "."))
    if proc.returncode != 0:
        raise JobFailed(f"pulumi preview of {name} failed (exit {proc.returncode}): the PR comment and the log show why")
    return 0
