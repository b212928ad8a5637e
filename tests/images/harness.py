"""Shared pieces of the real-image suite: the test version and the builder (each image once)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
for _path in (REPO_ROOT, REPO_ROOT / "scripts"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import build_images

from components.build_specs import IMAGE_BUILDS, ImageBuildSpec

# The VERSION build arg of every image the suite builds (its label must carry it).
TEST_VERSION = "9.8.7-imagetest"


class ImageBuilder:
    """Builds each (spec, target) once per session; a failed build fails every test using it."""

    def __init__(self, standins: dict[str, str], version: str = TEST_VERSION):
        self.standins = standins
        self.version = version
        self._results: dict[tuple[str, str], object] = {}

    def get(self, name: str, target: str | None = None, spec: ImageBuildSpec | None = None) -> build_images.Built:
        spec = spec or IMAGE_BUILDS[name]
        target = target or spec.target
        key = (spec.name, target)
        if key not in self._results:
            try:
                self._results[key] = build_images.build(
                    spec, version=self.version, target=target, standins=self.standins, push_image=True)
            except build_images.BuildError as exc:
                self._results[key] = exc
        result = self._results[key]
        if isinstance(result, build_images.BuildError):
            pytest.fail(str(result), pytrace=False)
        return result  # type: ignore[return-value]

    def built(self) -> dict[tuple[str, str], build_images.Built]:
        return {k: v for k, v in self._results.items() if isinstance(v, build_images.Built)}
