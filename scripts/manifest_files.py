"""Synth's output directory (build/manifests/<stack>): one YAML file per Kubernetes object, secrets
redacted, with outputs.json, objects.json (each object's logical identity, for `make diff`) and NOTES.txt,
swapped in whole; and removed when a synth fails."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Mapping

import yaml

from scripts.secret_markers import redact
from scripts.synth_result import Registered, SynthResult

def manifest_filename(index: int, manifest: Mapping[str, Any]) -> str:
    metadata = manifest.get("metadata", {})
    namespace = metadata.get("namespace") or "cluster"
    return f"{index:02d}-{namespace}-{manifest.get('kind', 'Object').lower()}-{metadata.get('name', 'unnamed')}.yaml"


def write_manifests(result: SynthResult, out_dir: Path) -> list[Path]:
    """One YAML file per object, secrets redacted, plus outputs.json and objects.json (each object's
    logical identity, for `make diff`). Written aside and swapped in whole: the directory holds
    exactly this synth's files, never a mix with an earlier one."""
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.new-", dir=out_dir.parent))
    try:
        names = []
        index = []
        by_urn = {r.urn: r for r in result.resources}
        for number, (registered, manifest) in enumerate(zip(result.kubernetes(), result.manifests(redacted=True))):
            name = manifest_filename(number, manifest)
            (staging / name).write_text(yaml.safe_dump(manifest, sort_keys=True))
            names.append(name)
            index.append({"file": name, "kind": manifest.get("kind"), "name": manifest.get("metadata", {}).get("name"),
                          "namespace": manifest.get("metadata", {}).get("namespace"),
                          "logical": logical_identity(registered, by_urn)})
        (staging / "outputs.json").write_text(json.dumps(redact(result.exports), indent=2, sort_keys=True) + "\n")
        (staging / "objects.json").write_text(json.dumps(index, indent=2) + "\n")
        (staging / "NOTES.txt").write_text("".join(f"synth {result.stack}: {note}\n" for note in result.notes))
        os.chmod(staging, 0o755)
        swap_in(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return [out_dir / name for name in names]


def swap_in(new: Path, target: Path) -> None:
    """Replace directory `target` with `new` (a rename each; the old one is removed after)."""
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
        os.rmdir(old)
        os.rename(target, old)
    os.rename(new, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def remove_output(out_dir: Path) -> bool:
    """A failed synth leaves no manifests behind: they would no longer match the stack."""
    if Path(out_dir).is_dir():
        shutil.rmtree(out_dir)
        return True
    return False


def logical_identity(registered: Registered, by_urn: Mapping[str, Registered]) -> str:
    """The object's identity across synths: its kind, namespace and Pulumi logical name with its
    component parents (`Job/mbhealth/MigrationJob:migrate/migrate`), not its per-release name."""
    chain = [registered.name]
    parent = by_urn.get(registered.parent)
    while parent is not None:
        chain.append(f"{parent.type.rsplit(':', 1)[-1]}:{parent.name}")
        parent = by_urn.get(parent.parent)
    namespace = registered.manifest.get("metadata", {}).get("namespace") or "cluster"
    return f"{registered.kind}/{namespace}/" + "/".join(reversed(chain))

