"""The release a tagged commit's own dev deploy recorded (never whatever dev deployed last): its
successful deploy.yml run on main (`gh run list --commit`), the `release-images-<commit>` artifact
of that run, checked to be that commit's pinned digests, all in one registry."""

from __future__ import annotations

import json

from scripts.ci.github import Job, JobFailed
from scripts.ci.registry import PINNED, host
from scripts.ci.tools import run

WORKFLOW = "deploy.yml"
RECORD = "release-images.json"


def artifact(sha: str) -> str:
    return f"release-images-{sha}"


def main(job: Job) -> int:
    sha, repo = job.sha, job.repository
    found = run(["gh", "run", "list", "--repo", repo, "--workflow", WORKFLOW, "--branch", "main", "--event", "push",
                 "--commit", sha, "--status", "success", "--limit", "1", "--json", "databaseId",
                 "--jq", ".[0].databaseId // empty"], env=job.environ).stdout.strip()
    if not found:
        raise JobFailed(f"commit {sha} has no successful dev deploy on main: merge it to main, let {WORKFLOW} "
                        "deploy and sign it, then tag it")
    where = job.temp / "release"
    run(["gh", "run", "download", found, "--repo", repo, "--name", artifact(sha), "--dir", str(where)],
        env=job.environ)
    text = (where / RECORD).read_text()
    try:
        record = json.loads(text)
    except json.JSONDecodeError:
        record = None
    images = record.get("images") if isinstance(record, dict) else None
    if not (record.get("commit") == sha and isinstance(images, dict) and images
            and all(isinstance(ref, str) and PINNED.match(ref) for ref in images.values())):
        raise JobFailed(f"run {found}'s release record is not commit {sha}'s digests: {text.strip()}")
    registries = sorted({host(ref) for ref in images.values()})
    if len(registries) != 1:
        raise JobFailed(f"run {found}'s release record spans several registries ({', '.join(registries)}); expected one")
    compact = json.dumps(images, separators=(",", ":"))
    job.summary(f"- release of `{sha}` (dev deploy run {found}): `{compact}`")
    job.output("images", compact)
    job.output("registry", registries[0])
    return 0
