#!/usr/bin/env python3
"""CycloneDX SBOMs of the production images, generated from the built images with Trivy (offline).

Each production image is built from its spec in components/build_specs.py through
scripts/build_images.py (the same spec Pulumi builds; stand-in bases by default, as in the
image suite, or the Dockerfiles' real bases with --real-bases), then Trivy reads the built
image and writes `build/sbom/<image>.cdx.json`: `backend.cdx.json`, `frontend.cdx.json`
and, for a backend variant other than the default, `backend-<variant>.cdx.json`. No
vulnerability database is involved: an SBOM is an inventory (OS packages as dpkg/apk record
them, Python packages from their dist-info), not a scan.

In CI the images already exist in a registry: `--ref REF --name NAME` writes the SBOM of
that image (a `repo@sha256:...` reference; read with `--image-src remote`).

Usage:
  scripts/sbom.py [--version V] [--backend-variant slim|distroless] [--real-bases] [--out DIR]
  scripts/sbom.py --ref registry/mbhealth/backend@sha256:... --name backend [--out DIR]
Library:
  generate(ref, name) -> Path;  build_and_generate(...) -> {name: Path};  packages(doc)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
for _path in (REPO_ROOT, REPO_ROOT / "scripts"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import build_images  # noqa: E402
import docker_client  # noqa: E402
import trivy_offline  # noqa: E402

from components.build_specs import IMAGE_BUILDS  # noqa: E402

SBOM_DIR = REPO_ROOT / "build" / "sbom"
DIGEST_REF = re.compile(r"^[^@\s]+@sha256:[0-9a-f]{64}$")


def sbom_name(name: str, variant: str | None = None) -> str:
    """`backend`, `frontend`, or `backend-distroless` for a non-default variant."""
    if variant is None or build_images.spec_for(name, variant) == IMAGE_BUILDS[name]:
        return name
    return f"{name}-{variant}"


def generate(ref: str, name: str, out_dir: Path = SBOM_DIR, *, remote: bool = False) -> Path:
    """Write `<out_dir>/<name>.cdx.json` for an image (local engine, or a registry when remote)."""
    path = out_dir / f"{name}.cdx.json"
    trivy_offline.sbom(ref, path, image_src="remote" if remote else "docker")
    return path


def build_and_generate(
    version: str = build_images.DEFAULT_VERSION,
    *,
    standins: Mapping[str, str] | None = None,
    variants: Mapping[str, str] | None = None,
    out_dir: Path = SBOM_DIR,
    push_image: bool = True,
) -> dict[str, Path]:
    """Build each production image (IMAGE_BUILDS, or the chosen variants) and write its SBOM."""
    written: dict[str, Path] = {}
    for name in IMAGE_BUILDS:
        variant = (variants or {}).get(name)
        spec = build_images.spec_for(name, variant)
        built = build_images.build(spec, version=version, standins=standins, push_image=push_image)
        written[sbom_name(name, variant)] = generate(built.ref, sbom_name(name, variant), out_dir)
    return written


def packages(document: Mapping[str, Any], purl_type: str | None = None) -> dict[str, str]:
    """{package name (lower case): version} of the SBOM's components, optionally one purl type."""
    found: dict[str, str] = {}
    for component in document.get("components") or []:
        purl = component.get("purl") or ""
        if purl_type and not purl.startswith(f"pkg:{purl_type}/"):
            continue
        if component.get("type") == "library":
            found[component["name"].lower()] = component.get("version", "")
    return found


def validate(document_text: str) -> None:
    """Raise ValueError unless the text is a CycloneDX JSON document valid against its schema."""
    from cyclonedx.schema import SchemaVersion
    from cyclonedx.validation.json import JsonStrictValidator

    document = json.loads(document_text)
    if document.get("bomFormat") != "CycloneDX":
        raise ValueError(f"not a CycloneDX document (bomFormat={document.get('bomFormat')!r})")
    error = JsonStrictValidator(SchemaVersion.from_version(document["specVersion"])).validate_str(document_text)
    if error is not None:
        raise ValueError(f"CycloneDX {document['specVersion']} schema: {error}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--version", default=build_images.DEFAULT_VERSION, help="VERSION build arg")
    parser.add_argument("--backend-variant", choices=sorted(build_images.VARIANTS["backend"]),
                        help="the backend variant to build (default: the slim production image)")
    parser.add_argument("--real-bases", action="store_true", help="use the Dockerfiles' default base images")
    parser.add_argument("--no-push", action="store_true", help="do not push the built images")
    parser.add_argument("--ref", help="an existing image (repo@sha256:...) instead of building")
    parser.add_argument("--name", help="with --ref: the SBOM's name (backend, frontend, backend-distroless)")
    parser.add_argument("--out", type=Path, default=SBOM_DIR, help="output directory (default build/sbom)")
    args = parser.parse_args(argv)
    try:
        if args.ref:
            if not args.name:
                parser.error("--ref needs --name")
            if not DIGEST_REF.match(args.ref):
                parser.error(f"--ref must be an immutable repo@sha256:<64 hex> reference, not {args.ref!r}")
            written = {args.name: generate(args.ref, args.name, args.out, remote=True)}
        else:
            problem = docker_client.engine_problem()
            if problem:
                print(f"sbom: {problem}", file=sys.stderr)
                return 2
            standins = None if args.real_bases else build_images.forged_standins(push_images=not args.no_push)
            variants = {"backend": args.backend_variant} if args.backend_variant else None
            written = build_and_generate(args.version, standins=standins, variants=variants,
                                         out_dir=args.out, push_image=not args.no_push)
        for name, path in written.items():
            validate(path.read_text())
            document = json.loads(path.read_text())
            print(f"{name:20} {path.relative_to(Path.cwd()) if path.is_relative_to(Path.cwd()) else path} "
                  f"({len(document.get('components') or [])} components)")
    except (trivy_offline.TrivyError, build_images.BuildError, build_images.StandinsError, ValueError) as exc:
        print(f"sbom: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
