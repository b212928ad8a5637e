#!/usr/bin/env python3
"""Deploy images built outside Pulumi: build and push them from the same build specs, then write
a copy of the stack's config that deploys exactly those digests (`images.source: digests`).

For a Pulumi CLI without the docker provider plugin (the toolchain `make tools` builds: the
module proxy does not serve pulumi-docker's provider). scripts/stack.sh runs the CLI with
`--config-file` on the copy, so the tracked `Pulumi.<stack>.yaml` never changes.

The builds are scripts/build_images.py's (components/build_specs.py's context, Dockerfile,
target and build args; the version is the stack's `imageTag`), on the offline stand-in bases
when MBH_BASE_IMAGES is set (scripts/stack.sh does with the local control plane).

Usage: scripts/prebuilt_images.py --stack dev --out .pulumi-state/config/Pulumi.dev.yaml [--reuse]
  --reuse  keep the digests of an existing --out file (preview/destroy without rebuilding)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import yaml

REPO_ROOT = Path(__file__).resolve().parent.parent
for _path in (REPO_ROOT, REPO_ROOT / "scripts"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import build_images  # noqa: E402
from components.build_specs import BACKEND_VARIANTS, IMAGE_BUILDS  # noqa: E402

KEY = "mbhealth:"


def _stack_file(stack: str) -> dict:
    path = REPO_ROOT / f"Pulumi.{stack}.yaml"
    if not path.is_file():
        raise SystemExit(f"prebuilt-images: no {path.name}")
    return yaml.safe_load(path.read_text()) or {}


class PrebuildError(SystemExit):
    """A build or push failed: one line that says which image, where and why (exit status 1)."""

    def __init__(self, line: str):
        print(f"prebuilt-images: {line}", file=sys.stderr, flush=True)
        super().__init__(1)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in str(text).splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


def build_digests(config: dict) -> dict[str, str]:
    """Build and push every image to the stack's registry (`registry.server`); its digests."""
    tag = str(config.get(KEY + "imageTag", build_images.DEFAULT_VERSION))
    variant = config.get(KEY + "backendVariant")
    registry = str((config.get(KEY + "registry") or {}).get("server") or build_images.REGISTRY)
    standins = json.loads(os.environ["MBH_BASE_IMAGES"]) if os.environ.get("MBH_BASE_IMAGES") else None
    digests = {}
    for name in IMAGE_BUILDS:
        spec = BACKEND_VARIANTS[variant] if name == "backend" and variant else IMAGE_BUILDS[name]
        print(f"prebuilt-images: building {name} ({spec.dockerfile}, target {spec.target}) ...", file=sys.stderr,
              flush=True)
        try:
            built = build_images.build(spec, version=tag, standins=standins, push_image=True, registry=registry)
        except build_images.BuildError as error:
            print("\n".join(error.log.rstrip().splitlines()[-30:]), file=sys.stderr)
            raise PrebuildError(f"{name}: the build failed (BuildKit's log above): {_last_line(error.log)}") from None
        except build_images.DockerError as error:
            raise PrebuildError(f"{name}: the push to registry {registry} failed: {_last_line(error)} "
                                f"(is the registry running and reachable, and is this engine logged in to it?)") from None
        print(f"prebuilt-images: {name}: {built.repo_digest} ({built.seconds:.1f}s)", file=sys.stderr, flush=True)
        digests[name] = built.repo_digest
    return digests


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--reuse", action="store_true", help="keep the digests of an existing --out file")
    parser.add_argument("--cluster-settings", type=json.loads, default=None, metavar="JSON",
                        help="settings the cluster needs beside the stack file's own, merged into them "
                             "(the local cluster's: tools/local-cluster/cluster.sh config)")
    args = parser.parse_args(argv)

    tracked = _stack_file(args.stack)
    config = dict(tracked.get("config") or {})
    previous = yaml.safe_load(args.out.read_text()) if args.out.is_file() else {}
    tracked_images = config.get(KEY + "images")
    if isinstance(tracked_images, dict) and tracked_images.get("source", "build") != "build":
        # A stack that deploys promoted images (source digests or stack) builds nothing: its
        # config is copied as written, and the program deploys what it names.
        images = tracked_images
        print(f"prebuilt-images: images.source {tracked_images.get('source')}: nothing to build", file=sys.stderr)
    else:
        images = (previous.get("config") or {}).get(KEY + "images") if args.reuse else None
        if not (isinstance(images, dict) and images.get("source") == "digests"):
            images = {"source": "digests", "digests": build_digests(config)}
        config[KEY + "images"] = images
    for key, value in (args.cluster_settings or {}).items():
        current = config.get(KEY + key)
        config[KEY + key] = {**current, **value} if isinstance(current, dict) and isinstance(value, dict) else value

    out = {k: v for k, v in tracked.items() if k != "config"}
    # A salt the CLI wrote into the copy (a stack whose tracked file has none) is kept.
    if "encryptionsalt" not in out and previous.get("encryptionsalt"):
        out["encryptionsalt"] = previous["encryptionsalt"]
    out["config"] = config
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(
        f"# Generated by scripts/prebuilt_images.py from Pulumi.{args.stack}.yaml: edit that file, not this one.\n"
        + yaml.safe_dump(out, sort_keys=False)
    )
    tmp.replace(args.out)
    print(json.dumps(images.get("digests") or {}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
