"""One pull-request comment per stack and kind, posted once and edited on every push (`gh api`)."""

from __future__ import annotations

import json
import re

from scripts.ci.github import Job
from scripts.ci.tools import run

# GitHub refuses a comment body over 65536 characters; keep a margin for its own counting.
LIMIT = 65000
CUT = "\n\n… cut to fit a GitHub comment (65536 characters): the whole text is in the job's summary.\n"


def marker(kind: str, stack: str) -> str:
    assert re.fullmatch(r"[a-z-]+", kind) and re.fullmatch(r"[a-z0-9-]+", stack), (kind, stack)
    return f"<!-- mbhealth-{kind}:{stack} -->"


def fit(body: str, limit: int = LIMIT) -> str:
    """`body` cut to `limit` characters at a line end, an open ``` fence closed, saying it was cut."""
    if len(body) <= limit:
        return body
    keep = body[: limit - len(CUT) - 8]
    keep = keep[: keep.rfind("\n") + 1] if "\n" in keep else keep
    if keep.count("```") % 2:
        keep += "```\n"
    return keep + CUT


def upsert(job: Job, kind: str, stack: str, body: str) -> str:
    """Post the stack's comment of `kind`, or edit the one already there; 'posted', 'edited' or why
    not (a fork's pull request has a read-only token)."""
    number = job.pr_number()
    if number is None or not job.from_this_repository():
        return "skipped (not a pull request of this repository: its token cannot comment)"
    head = marker(kind, stack)
    text = fit(f"{head}\n{body}")
    repo = job.repository
    found = run(["gh", "api", "--paginate", f"repos/{repo}/issues/{number}/comments",
                 "--jq", f'.[] | select(.body | startswith("{head}")) | .id'], env=job.environ).stdout.split()
    payload = json.dumps({"body": text})
    if found:
        run(["gh", "api", "--method", "PATCH", f"repos/{repo}/issues/comments/{found[0]}", "--input", "-"],
            env=job.environ, stdin=payload)
        return "edited"
    run(["gh", "api", "--method", "POST", f"repos/{repo}/issues/{number}/comments", "--input", "-"],
        env=job.environ, stdin=payload)
    return "posted"
