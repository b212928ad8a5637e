"""Is offline synth faithful? What `scripts/synth.py` writes, compared with what the API server holds.

Pairs each synthesized object with the one the engine created by its logical identity (kind,
namespace, Pulumi name and component parents: synth's objects.json; the state's parent chain),
so per-release names (auto-named Jobs, content-named ConfigMaps/Secrets) pair up. Then every
field synth writes must be in the live object with the same value: the server adds defaults and
status, never changes a field the program set. The object's own labels and annotations must be
equal as maps (the server adds none there).

What synth cannot know, and is therefore allowed to differ:
- secret values: synth writes them redacted (`<redacted: pulumi secret>`) and stands in for the
  generated passwords; a live Secret must hold the same keys;
- what is derived from secret values: the pod templates' `checksum/config` annotation and the
  smoke Job's `mbhealth/release` digest;
- metadata the server side adds (SERVER_SET: a Namespace's name label, a Deployment's revision,
  the provider's autonamed mark);
- the names of the objects the provider names (Jobs, ConfigMaps, Secrets: auto-named, a new name
  per release or content), and every reference to them, which must name the paired object.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

REDACTED = "<redacted: pulumi secret>"
STACK_TYPE = "pulumi:pulumi:Stack"
# Annotations whose value is a digest over secret values (synth's are stand-ins): the env
# checksum, and the smoke test's release digest (the images and the env checksums).
SECRET_DERIVED_ANNOTATIONS = frozenset({"checksum/config", "mbhealth/release"})
# Metadata the API server, a controller or the provider adds (never the program).
SERVER_SET = {
    "labels": frozenset({"kubernetes.io/metadata.name"}),  # the API server, on every Namespace
    "annotations": frozenset({"deployment.kubernetes.io/revision",  # the Deployment controller
                              "pulumi.com/autonamed"}),  # pulumi-kubernetes, on the objects it names
}


def synth_objects(out_dir: Path) -> dict[str, dict[str, Any]]:
    """logical identity -> manifest, as `scripts/synth.py` wrote them."""
    import yaml

    index = json.loads((out_dir / "objects.json").read_text())
    return {entry["logical"]: yaml.safe_load((out_dir / entry["file"]).read_text()) for entry in index}


def state_objects(resources: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, str]]:
    """logical identity -> {kind, namespace, name} of every Kubernetes object in a stack's state."""
    by_urn = {r["urn"]: r for r in resources}
    found = {}
    for resource in resources:
        if not resource["type"].startswith("kubernetes:") or resource.get("custom") is False:
            continue
        if resource["type"].startswith("kubernetes:helm") or resource["type"] == "pulumi:providers:kubernetes":
            continue
        metadata = (resource.get("outputs") or {}).get("metadata") or {}
        kind = resource["type"].rsplit(":", 1)[-1]
        chain = [_urn_name(resource["urn"])]
        parent = by_urn.get(resource.get("parent", ""))
        while parent is not None and parent["type"] != STACK_TYPE:
            chain.append(f"{parent['type'].rsplit(':', 1)[-1]}:{_urn_name(parent['urn'])}")
            parent = by_urn.get(parent.get("parent", ""))
        namespace = metadata.get("namespace") or "cluster"
        found[f"{kind}/{namespace}/" + "/".join(reversed(chain))] = {
            "kind": kind, "namespace": metadata.get("namespace", ""), "name": metadata["name"]}
    return found


def _urn_name(urn: str) -> str:
    return urn.split("::", 3)[-1]


def differences(synth: Mapping[str, Any], live: Mapping[str, Any], renamed: Mapping[str, str]) -> list[str]:
    """Where `live` does not hold what `synth` wrote (paths and values), per the module's rules.
    `renamed`: synth name -> live name of objects whose name derives from secret values."""
    problems: list[str] = []
    meta_s, meta_l = synth.get("metadata", {}), live.get("metadata", {})
    for part in ("labels", "annotations"):
        want = dict(meta_s.get(part) or {})
        have = {k: v for k, v in (meta_l.get(part) or {}).items() if k not in SERVER_SET[part]}
        if want != have:
            problems.append(f"metadata.{part}: synth {want} != live {have}")
    if synth.get("kind") == "Secret":
        problems += _secret_differences(synth, live)
        skip = {"metadata", "stringData", "data"}
    else:
        skip = {"metadata"}
    for key, value in synth.items():
        if key in skip:
            continue
        _subset(value, live.get(key), key, renamed, problems)
    return problems


def _secret_differences(synth: Mapping[str, Any], live: Mapping[str, Any]) -> list[str]:
    want = {**{k: base64.b64decode(v).decode() for k, v in (synth.get("data") or {}).items() if v != REDACTED},
            **(synth.get("stringData") or {})}
    want.update({k: REDACTED for k, v in (synth.get("data") or {}).items() if v == REDACTED})
    have = {k: base64.b64decode(v).decode() for k, v in (live.get("data") or {}).items()}
    problems = []
    if set(want) != set(have):
        problems.append(f"Secret keys: synth {sorted(want)} != live {sorted(have)}")
    for key in set(want) & set(have):
        if want[key] != REDACTED and want[key] != have[key]:
            problems.append(f"Secret {key}: synth and live values differ (not a secret value)")
    return problems


def _subset(want: Any, have: Any, path: str, renamed: Mapping[str, str], problems: list[str]) -> None:
    if isinstance(want, dict):
        if not isinstance(have, dict):
            problems.append(f"{path}: synth {want!r} != live {have!r}")
            return
        for key, value in want.items():
            if key in SECRET_DERIVED_ANNOTATIONS and path.endswith("annotations"):
                if key not in have:
                    problems.append(f"{path}.{key}: missing in the live object")
                continue
            _subset(value, have.get(key), f"{path}.{key}", renamed, problems)
    elif isinstance(want, list):
        if not isinstance(have, list) or len(want) != len(have):
            problems.append(f"{path}: synth {want!r} != live {have!r}")
            return
        for number, (a, b) in enumerate(zip(want, have)):
            _subset(a, b, f"{path}[{number}]", renamed, problems)
    else:
        if isinstance(want, str):
            want = renamed.get(want, want)
        if want != have:
            problems.append(f"{path}: synth {want!r} != live {have!r}")


def compare(synth_dir: Path, resources: Sequence[Mapping[str, Any]],
            live_items: Sequence[Mapping[str, Any]]) -> tuple[list[str], dict[str, str]]:
    """(problems, pairing) of synth's objects against the live ones of a stack's state."""
    synthesized = synth_objects(synth_dir)
    deployed = state_objects(resources)
    problems = []
    only_synth = sorted(set(synthesized) - set(deployed))
    only_state = sorted(set(deployed) - set(synthesized))
    if only_synth:
        problems.append(f"synthesized but not deployed: {only_synth}")
    if only_state:
        problems.append(f"deployed but not synthesized: {only_state}")
    live_by_key = {(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in live_items}
    renamed = {}
    for logical in set(synthesized) & set(deployed):
        synth_name = synthesized[logical]["metadata"]["name"]
        if synth_name != deployed[logical]["name"]:
            renamed[synth_name] = deployed[logical]["name"]
    for logical in sorted(set(synthesized) & set(deployed)):
        where = deployed[logical]
        live = live_by_key.get((where["kind"], where["namespace"], where["name"]))
        if live is None:
            problems.append(f"{logical}: in the state but not in the API server ({where})")
            continue
        synth = synthesized[logical]
        if synth["metadata"]["name"] in renamed and not _auto_named(live):
            problems.append(f"{logical}: named {synth['metadata']['name']} by synth but {where['name']} live")
        problems += [f"{logical}: {p}" for p in differences(synth, live, renamed)]
    return problems, {k: v["name"] for k, v in deployed.items()}


# Objects the program lets the provider name (README "Secrets": a new name per content or
# release); synth names them with a suffix of its own.
AUTO_NAMED_KINDS = frozenset({"Job", "ConfigMap", "Secret"})


def _auto_named(live: Mapping[str, Any]) -> bool:
    return live.get("kind") in AUTO_NAMED_KINDS
