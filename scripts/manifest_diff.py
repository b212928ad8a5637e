"""Offline manifest diff: what a stack would deploy from the working tree versus at another git ref.

    python scripts/manifest_diff.py --stack prod --base origin/main [--exit-code]

Synthesizes both trees with scripts/synth.py (mocks; no CLI, cluster or
credentials), pairs the objects by logical identity (kind, namespace and the
program's name for them, not their per-release names) and prints a unified diff per
object; a renamed object reads as one line. Secrets are redacted on both sides; image
digests are synth's stand-ins on both sides.

Exit status: 0 whether or not anything changed (like `git diff`); with --exit-code,
1 when something changed; 2 on an error.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
WORKING_TREE = "working tree"
_AUTO_SUFFIX = re.compile(r"-[0-9a-f]{8}$")


@dataclass(frozen=True)
class SynthObject:
    logical: str  # Kind/namespace/<program name>
    file: str
    name: str
    text: str


@dataclass
class Synth:
    objects: dict[str, SynthObject]
    notes: list[str]
    indexed: bool = True  # identities from objects.json (else derived from the manifests)

    def by_name(self) -> dict[str, SynthObject]:
        """Identities both an old and a new synth can derive: kind/namespace/name less the auto-name suffix."""
        return {_fallback_identity(o.file, o.text): o for o in self.objects.values()}


def _fallback_identity(file: str, text: str) -> str:
    """For a base synthesized before objects.json existed: kind/namespace/name without the auto-name suffix."""
    import yaml

    manifest = yaml.safe_load(text) or {}
    metadata = manifest.get("metadata") or {}
    name = _AUTO_SUFFIX.sub("", metadata.get("name", file))
    return f"{manifest.get('kind')}/{metadata.get('namespace') or 'cluster'}/{name}"


def read_synth(out: Path) -> Synth:
    index_file = out / "objects.json"
    objects: dict[str, SynthObject] = {}
    if index_file.exists():
        for entry in json.loads(index_file.read_text()):
            objects[entry["logical"]] = SynthObject(entry["logical"], entry["file"], entry["name"] or "",
                                                    (out / entry["file"]).read_text())
    else:
        for path in sorted(out.glob("*.yaml")):
            text = path.read_text()
            logical = _fallback_identity(path.name, text)
            objects[logical] = SynthObject(logical, path.name, path.stem, text)
    notes_file = out / "NOTES.txt"
    notes = notes_file.read_text().splitlines() if notes_file.exists() else []
    return Synth(objects, notes, indexed=index_file.exists())


def synth_tree(tree: Path, stack: str, out: Path) -> Synth:
    run = subprocess.run(
        [sys.executable, "scripts/synth.py", "--stack", stack, "--out", str(out)],
        cwd=tree, capture_output=True, text=True,
    )
    if run.returncode != 0:
        raise RuntimeError(f"synth of {stack} failed in {tree}:\n{run.stderr.strip()}")
    return read_synth(out)


def export_ref(ref: str, into: Path) -> None:
    """The tree at `ref`, with the modes a checkout under umask 022 gives (git archive's default
    tar.umask 002 would make every file group-writable, which synth reports as mode drift)."""
    archive = subprocess.run(["git", "-c", "tar.umask=0022", "archive", "--format=tar", ref], cwd=REPO_ROOT,
                             capture_output=True)
    if archive.returncode != 0:
        raise RuntimeError(f"git ref {ref!r} not found: {archive.stderr.decode().strip()}")
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)


def _metadata_name(text: str) -> str:
    import yaml

    return ((yaml.safe_load(text) or {}).get("metadata") or {}).get("name", "")


def diff(base: dict[str, SynthObject] | dict[str, str], head: dict[str, SynthObject] | dict[str, str],
         base_label: str, head_label: str = WORKING_TREE) -> list[str]:
    """A unified diff per object that differs, paired by logical identity; renames as one line."""
    base, head = _objects(base), _objects(head)
    lines: list[str] = []
    for logical in sorted(set(base) | set(head)):
        before, after = base.get(logical), head.get(logical)
        if before is not None and after is not None and before.text == after.text:
            continue
        if before is not None and after is not None:
            old_name, new_name = _metadata_name(before.text), _metadata_name(after.text)
            if old_name != new_name:
                lines.append(f"# {logical}: renamed {old_name} -> {new_name} (a new object replaces the old one)\n")
        lines.extend(
            difflib.unified_diff(
                before.text.splitlines(keepends=True) if before else [],
                after.text.splitlines(keepends=True) if after else [],
                fromfile=f"{base_label}/{before.file}" if before else "/dev/null",
                tofile=f"{head_label}/{after.file}" if after else "/dev/null",
            )
        )
    return lines


def _objects(side: dict) -> dict[str, SynthObject]:
    """Accept {logical: SynthObject} or plain {file name: text} (paired by file name without index)."""
    result = {}
    for key, value in side.items():
        if isinstance(value, SynthObject):
            result[key] = value
        else:
            name = re.sub(r"^\d+-", "", key)
            result[name] = SynthObject(name, key, name, value)
    return result


def changed_objects(lines: list[str]) -> int:
    return sum(1 for line in lines if line.startswith("--- "))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--base", required=True, help="git ref to compare against, e.g. origin/main or HEAD~1")
    parser.add_argument("--exit-code", action="store_true", help="exit 1 when anything changed (as git diff --exit-code)")
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
    print(f"# {args.stack}: {args.base} -> {WORKING_TREE} (offline synth; secrets redacted)")
    for note in dict.fromkeys(base.notes + head.notes):
        print(f"# {note.split(': ', 1)[1] if note.startswith('synth ') else note}")
    if base.indexed and head.indexed:
        lines = diff(base.objects, head.objects, args.base)
    else:  # a base from before objects.json: pair both sides the way it can
        lines = diff(base.by_name(), head.by_name(), args.base)
    if not lines:
        print(f"{args.stack}: no changes against {args.base}")
        return 0
    sys.stdout.writelines(lines)
    print(f"\n{args.stack}: {changed_objects(lines)} object(s) differ between {args.base} and the {WORKING_TREE}")
    return 1 if args.exit_code else 0


if __name__ == "__main__":
    sys.exit(main())
