"""The offline manifest diff of one stack (`make diff`, no credentials) as the PR comment and summary."""

from __future__ import annotations

from scripts.ci import comments
from scripts.ci.github import Job, JobFailed
from scripts.ci.tools import run

KIND = "manifest-diff"


def render(stack: str, base: str, diff: str, changed: bool) -> str:
    head = f"### Manifest diff: `{stack}` vs `{base}`\n"
    if not changed:
        return head + "No change to any Kubernetes object.\n"
    return (f"{head}Offline synth (`make diff STACK={stack} BASE={base}`), secrets redacted.\n"
            f"<details><summary>diff</summary>\n\n```diff\n{diff.rstrip()}\n```\n</details>\n")


def main(job: Job, stack: str, base: str) -> int:
    # The program's runtime only (.venv/synth); with EXIT_CODE=1 exit 1 means "changes".
    proc = run(["make", "-s", "diff", f"STACK={stack}", f"BASE={base}", "EXIT_CODE=1"], env=job.environ, check=False)
    if proc.returncode > 1:
        print(proc.stdout + proc.stderr)
        raise JobFailed(f"make diff STACK={stack} BASE={base} failed (exit {proc.returncode}; its output above)")
    body = render(stack, base, proc.stdout, changed=proc.returncode == 1)
    job.summary(body)
    print(f"manifest diff of {stack}: comment {comments.upsert(job, KIND, stack, body)}")
    return 0
