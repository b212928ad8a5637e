"""Trivy reports shared by the supply-chain tests, each computed once per session (offline).

`tests/supply_chain` (no engine) scans the Dockerfiles and the synthesized manifests;
`tests/images/test_supply_chain.py` scans the built images and checks that every waiver in
`.trivyignore.yaml` still matches a finding of one of these reports.
"""

from __future__ import annotations

import functools
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
if str(REPO_ROOT / "scripts") not in sys.path:
    sys.path.insert(0, str(REPO_ROOT / "scripts"))

import trivy_offline  # noqa: E402
from trivy_offline import Report, Waivers  # noqa: E402

from scripts.synth import synthesize, write_manifests  # noqa: E402

STACKS = ("dev", "prod")


@functools.lru_cache(maxsize=1)
def waivers() -> Waivers:
    return Waivers.load()


@functools.lru_cache(maxsize=1)
def dockerfiles() -> Report:
    """Every Dockerfile in the repository, waivers not applied (targets are repo-relative)."""
    return trivy_offline.scan_config(REPO_ROOT, misconfig_scanners=("dockerfile",),
                                     skip_dirs=trivy_offline.REPO_SKIP_DIRS, ignorefile=None)


@functools.cache
def manifest_dir(stack: str) -> Path:
    """The stack's synthesized objects as YAML files (scripts/synth.py), in a fresh directory."""
    out = Path(tempfile.mkdtemp(prefix=f"mbh-manifests-{stack}-"))
    write_manifests(synthesize(stack), out)
    return out


@functools.cache
def manifests(stack: str, waived_by_trivy: bool = False) -> Report:
    """The stack's manifests; with waived_by_trivy, Trivy applies .trivyignore.yaml itself."""
    return trivy_offline.scan_config(manifest_dir(stack), misconfig_scanners=("kubernetes",),
                                     ignorefile=trivy_offline.WAIVERS_FILE if waived_by_trivy else None)


@functools.cache
def image(ref: str) -> Report:
    """Secrets in every layer's files and misconfigurations of the image config, waivers not applied."""
    return trivy_offline.scan_image(ref, ("secret", "misconfig"), ignorefile=None)
