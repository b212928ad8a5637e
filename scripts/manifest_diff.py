"""Offline manifest diff: what a stack would deploy at this checkout versus at another git ref.

    python scripts/manifest_diff.py --stack prod --base origin/main

Synthesizes both trees with scripts/synth.py (mocks; no CLI, cluster or
credentials), then prints a unified diff per Kubernetes object. Secrets are
redacted on both sides. Exit status: 0 no changes, 1 changes, 2 error.
"""

from __future__ import annotations

import argparse
import difflib
import re
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def synth_tree(tree: Path, stack: str, out: Path) -> dict[str, str]:
    run = subprocess.run(
        [sys.executable, "scripts/synth.py", "--stack", stack, "--out", str(out)],
        cwd=tree, capture_output=True, text=True,
    )
    if run.returncode != 0:
        raise RuntimeError(f"synth of {stack} failed in {tree}:\n{run.stderr.strip()}")
    # Index prefixes shift when objects come and go; key files by kind/namespace/name.
    return {re.sub(r"^\d+-", "", p.name): p.read_text() for p in sorted(out.iterdir())}


def export_ref(ref: str, into: Path) -> None:
    archive = subprocess.run(["git", "archive", "--format=tar", ref], cwd=REPO_ROOT, capture_output=True)
    if archive.returncode != 0:
        raise RuntimeError(f"git ref {ref!r} not found: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)


def diff(base: dict[str, str], head: dict[str, str], base_label: str) -> list[str]:
    lines: list[str] = []
    for name in sorted(set(base) | set(head)):
        before, after = base.get(name, ""), head.get(name, "")
        if before == after:
            continue
        lines.extend(
            difflib.unified_diff(
                before.splitlines(keepends=True), after.splitlines(keepends=True),
                fromfile=f"{base_label}/{name}" if before else "/dev/null",
                tofile=f"HEAD/{name}" if after else "/dev/null",
            )
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--base", required=True, help="git ref to compare against, e.g. origin/main or HEAD~1")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="mbhealth-diff-") as tmp:
        tmp_path = Path(tmp)
        base_tree = tmp_path / "base"
        base_tree.mkdir()
        try:
            export_ref(args.base, base_tree)
            if not (base_tree / "scripts" / "synth.py").exists():
                raise RuntimeError(f"{args.base} predates the offline synth (no scripts/synth.py)")
            base = synth_tree(base_tree, args.stack, tmp_path / "base-out")
            head = synth_tree(REPO_ROOT, args.stack, tmp_path / "head-out")
        except RuntimeError as error:
            print(f"manifest diff: {error}", file=sys.stderr)
            return 2
    lines = diff(base, head, args.base)
    if not lines:
        print(f"{args.stack}: no changes against {args.base}")
        return 0
    sys.stdout.writelines(lines)
    changed = sum(1 for line in lines if line.startswith("+++ "))
    print(f"\n{args.stack}: {changed} object(s) differ from {args.base}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
