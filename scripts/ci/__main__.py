"""python -m scripts.ci <command>: one command per workflow step (scripts/ci/__init__.py)."""

from __future__ import annotations

import argparse
import sys

from scripts.ci.github import Job, JobFailed
from scripts.ci.tools import CommandFailed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.ci", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    diff = commands.add_parser("manifest-diff", help="the offline manifest diff of a stack as its PR comment")
    diff.add_argument("--stack", required=True, choices=("dev", "prod"))
    diff.add_argument("--base", required=True, help="the git ref to compare with (origin/<base branch>)")
    preview = commands.add_parser("preview", help="pulumi preview of a stack as its deploy would run, as a PR comment")
    preview.add_argument("--stack", required=True, choices=("dev", "prod"))
    commands.add_parser("deploy-dev", help="deploy dev at the commit, copy and record its release")
    commands.add_parser("release-images", help="the release the tagged commit's dev deploy recorded")
    commands.add_parser("promote-prod", help="set prod's secrets and verified digests, pulumi up")
    args = parser.parse_args(argv)
    job = Job()
    try:
        if args.command == "manifest-diff":
            from scripts.ci import diff_comment
            return diff_comment.main(job, args.stack, args.base)
        if args.command == "preview":
            from scripts.ci import preview as preview_
            return preview_.main(job, args.stack)
        if args.command == "deploy-dev":
            from scripts.ci import deploy_dev
            return deploy_dev.main(job)
        if args.command == "release-images":
            from scripts.ci import release
            return release.main(job)
        from scripts.ci import promote
        return promote.main(job)
    except (CommandFailed, ValueError) as error:
        raise JobFailed(str(error)) from None


if __name__ == "__main__":
    sys.exit(main())
