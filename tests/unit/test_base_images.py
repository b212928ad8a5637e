"""The base images are pinned once, where Dependabot bumps them (issue 20, item 15): a literal
`FROM <image> AS upstream-…` line per base in each Dockerfile, which its `ARG <NAME>=upstream-…`
default names (Dependabot reads FROM lines, never ARG defaults: dependabot-core#10190).

components/build_specs.py names which build args are a build's bases and reads their images from
the Dockerfile, so a bump there (by hand or by a bot) is what Pulumi, synth and the image suites
build on; MBH_BASE_IMAGES stand-ins still replace them offline, also once a digest is pinned.
"""

from __future__ import annotations

import dataclasses
import re
import shutil

import pytest
import yaml

from components.build_specs import (BACKEND_BUILD, BACKEND_DISTROLESS_BUILD, FRONTEND_BUILD, REPO_ROOT,
                                    ImageBuildSpec, dockerfile_arg_defaults, dockerfile_base_images)
from components.image import _base_images

SPECS = (BACKEND_BUILD, BACKEND_DISTROLESS_BUILD, FRONTEND_BUILD)
DIGEST = "sha256:" + "5e" * 32


def copied(tmp_path, spec: ImageBuildSpec, old: str, new: str) -> ImageBuildSpec:
    """`spec` reading a copy of its Dockerfile with one line changed."""
    target = tmp_path / spec.dockerfile
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(spec.dockerfile_path(), target)
    text = target.read_text()
    assert old in text, old
    target.write_text(text.replace(old, new, 1))
    return dataclasses.replace(spec, root=tmp_path)


@pytest.mark.parametrize("spec, arg", [(BACKEND_BUILD, "PYTHON_IMAGE"), (BACKEND_BUILD, "PYTHON_DEV_IMAGE"),
                                       (BACKEND_DISTROLESS_BUILD, "DISTROLESS_IMAGE"), (FRONTEND_BUILD, "NGINX_IMAGE")])
def test_the_build_spec_follows_a_base_image_bumped_on_its_from_line(tmp_path, spec, arg):
    current = spec.base_image_args[arg]
    bumped = f"{current.split('@')[0]}-bumped@{DIGEST}"
    moved = copied(tmp_path, spec, f"FROM {current} AS ", f"FROM {bumped} AS ")
    assert moved.base_image_args[arg] == bumped
    assert moved.build_args("1.0.0")[arg] == bumped
    others = {k: v for k, v in spec.base_image_args.items() if k != arg}
    assert {k: v for k, v in moved.base_image_args.items() if k != arg} == others


def test_the_specs_base_images_are_the_dockerfiles_upstream_stages():
    for spec in SPECS:
        images = dockerfile_base_images(spec.dockerfile_path())
        assert spec.base_image_args == {arg: images[arg] for arg in spec.base_image_arg_names}
        assert spec.base_image_args, spec.name


def _dependabots_view(dockerfile) -> set[str]:
    """The images Dependabot's docker updater can bump in `dockerfile`: those named literally on a
    FROM line (not `${ARG}`, not an earlier stage's name)."""
    stages: set[str] = set()
    images: set[str] = set()
    for line in dockerfile.read_text().splitlines():
        match = re.match(r"^FROM\s+(?:--\S+\s+)*(\S+)(?:\s+AS\s+(\S+))?", line.strip(), re.I)
        if match:
            if "$" not in match.group(1) and match.group(1).lower() not in stages:
                images.add(match.group(1))
            if match.group(2):
                stages.add(match.group(2).lower())
    return images


def test_dependabot_sees_every_base_image_a_build_spec_builds_on():
    for spec in SPECS:
        assert set(spec.base_image_args.values()) <= _dependabots_view(spec.dockerfile_path()), spec.dockerfile


def test_a_base_arg_whose_default_is_an_image_not_a_stage_is_refused_by_name(tmp_path):
    """The old form (`ARG NGINX_IMAGE=nginx:…`) pins where Dependabot cannot see: refused."""
    moved = copied(tmp_path, FRONTEND_BUILD, "ARG NGINX_IMAGE=upstream-nginx", "ARG NGINX_IMAGE=nginx:1.25-alpine")
    with pytest.raises(ValueError, match=r"declares no base image for build arg\(s\) \['NGINX_IMAGE'\].*"
                                         r"`FROM <image> AS <stage>`"):
        moved.base_image_args  # noqa: B018


def test_a_base_arg_without_a_default_names_the_dockerfile_and_the_arg(tmp_path):
    moved = copied(tmp_path, FRONTEND_BUILD, "ARG NGINX_IMAGE=", "ARG NGINX_IMAGE\n# was: ")
    with pytest.raises(ValueError, match=r"declares no base image for build arg\(s\) \['NGINX_IMAGE'\]"):
        moved.base_image_args  # noqa: B018
    assert "NGINX_IMAGE" not in dockerfile_arg_defaults(moved.dockerfile_path(tmp_path))


def test_offline_stand_ins_still_replace_a_base_pinned_by_digest(tmp_path):
    """MBH_BASE_IMAGES (and forge_bases.py) name the bases by tag: a digest bump keeps its stand-in."""
    current = BACKEND_BUILD.base_image_args["PYTHON_IMAGE"].split("@")[0]
    moved = copied(tmp_path, BACKEND_BUILD, f"FROM {current} AS ", f"FROM {current}@{DIGEST} AS ")
    substitutes = {current: "localhost:5000/standin/python:slim",
                   BACKEND_BUILD.base_image_args["PYTHON_DEV_IMAGE"]: "localhost:5000/standin/python:full"}
    assert _base_images(moved, substitutes) == {"PYTHON_IMAGE": "localhost:5000/standin/python:slim",
                                                "PYTHON_DEV_IMAGE": "localhost:5000/standin/python:full"}
    assert _base_images(moved, {}) == {}


def _program_files():
    """What decides what the program builds, besides the Dockerfiles: its code and stack config."""
    yield from (REPO_ROOT / "components").rglob("*.py")
    yield from (REPO_ROOT / "scripts").glob("*.py")
    yield REPO_ROOT / "__main__.py"
    yield from REPO_ROOT.glob("Pulumi*.yaml")


def test_nothing_but_the_dockerfiles_pins_the_base_images():
    images = {image.split("@")[0] for spec in SPECS for image in spec.base_image_args.values()}
    assert len(images) == 6
    for path in _program_files():
        text = path.read_text()
        for image in images:
            # As a whole reference: `python:3.11` must not match inside `python:3.11-slim`'s own mention.
            assert not re.search(rf"(?<![\w./:-]){re.escape(image)}(?![\w.:-])", text), \
                f"{path.relative_to(REPO_ROOT)} pins base image {image}: the Dockerfile's FROM line is the only pin"


def test_dependabot_watches_every_dockerfile_a_build_spec_names():
    config = yaml.safe_load((REPO_ROOT / ".github" / "dependabot.yml").read_text())
    watched = {u["directory"].rstrip("/") for u in config["updates"] if u["package-ecosystem"] == "docker"}
    for spec in SPECS:
        assert "/" + spec.dockerfile_path().parent.relative_to(REPO_ROOT).as_posix() in watched, spec.dockerfile
