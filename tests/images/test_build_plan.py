"""Pure checks of how images are built (no engine)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import build_images
import pytest

from components.build_specs import IMAGE_BUILDS
from tests.images.harness import TEST_VERSION

NEEDS_DOCKER = False

STANDINS = {
    "python:3.11-slim": "localhost:5000/standin/python@sha256:" + "1" * 64,
    "python:3.11": "localhost:5000/standin/python@sha256:" + "4" * 64,
    "node:20-alpine": "localhost:5000/standin/node@sha256:" + "2" * 64,
    "nginx:1.25-alpine": "localhost:5000/standin/nginx@sha256:" + "3" * 64,
}


def _flag_values(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == flag]


@pytest.mark.parametrize("name", sorted(IMAGE_BUILDS))
def test_build_command_comes_from_the_one_spec(name: str, tmp_path: Path) -> None:
    spec = IMAGE_BUILDS[name]
    argv, args = build_images.build_command(
        spec, version=TEST_VERSION, standins=STANDINS, tag="t", iidfile=tmp_path / "iid")
    assert argv[0] == "build"
    assert _flag_values(argv, "--network") == ["host"]
    assert _flag_values(argv, "--file") == [str(spec.dockerfile_path())]
    assert _flag_values(argv, "--target") == [spec.target]
    assert argv[-1] == str(spec.context_path())
    # Exactly the spec's build args: its base-image args (as stand-ins) plus VERSION.
    expected = spec.build_args(TEST_VERSION, base_images={k: STANDINS[v] for k, v in spec.base_image_args.items()})
    assert args == expected
    assert sorted(_flag_values(argv, "--build-arg")) == sorted(f"{k}={v}" for k, v in expected.items())


def test_extra_targets_only_change_the_target(tmp_path: Path) -> None:
    spec = IMAGE_BUILDS["backend"]
    worker = dataclasses.replace(spec, target="worker")
    argv, _ = build_images.build_command(worker, version="1", standins=STANDINS, tag="t", iidfile=tmp_path / "i")
    assert _flag_values(argv, "--target") == ["worker"]
    assert build_images.image_key(worker) == "backend:worker"
    assert build_images.image_key(spec) == "backend"
    assert build_images.image_tag(worker, "1.2+x", "worker").endswith("/mbhealth/backend:1.2-x-worker")


def test_unknown_base_image_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="no stand-in forged for base image 'python:3.11-slim'"):
        build_images.standin_build_args({"PYTHON_IMAGE": "python:3.11-slim"}, {})
