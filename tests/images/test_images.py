"""The app images, built from components/build_specs.py on the stand-in bases and pushed."""

from __future__ import annotations

import json
import urllib.request

import build_images
import docker_client
import pytest
from docker_client import docker

from components.build_specs import APP_GID, APP_UID
from tests.images.harness import TEST_VERSION

# (image, target): the deployed targets and the ones they are compared with.
BUILDS = [("backend", "production"), ("backend", "worker"), ("backend", "development"),
          ("frontend", "production"), ("frontend", "development")]
DEPLOYED = [("backend", "production"), ("backend", "worker"), ("frontend", "production")]
HARDENED_RUN = ("--network", "host", "--read-only", "--tmpfs", "/tmp", "--cap-drop", "ALL",
                "--security-opt", "no-new-privileges")
CHECK_SCRIPT = (
    'echo "uid=$(id -u) gid=$(id -g)";'
    ' if (: > /.probe) 2>/dev/null; then echo root=writable; else echo root=readonly; fi;'
    ' if (: > /tmp/.probe) 2>/dev/null; then echo tmp=writable; else echo tmp=readonly; fi'
)
COMPILERS = ("gcc", "cc", "c++", "g++", "clang", "make", "ld", "as")
INSTALLERS = ("pip", "pip3", "pip3.11", "easy_install", "wheel")


def _ids(cases):
    return [f"{name}-{target}" for name, target in cases]


@pytest.mark.parametrize(("name", "target"), BUILDS, ids=_ids(BUILDS))
def test_image_builds_and_is_pushed_by_digest(images, name, target) -> None:
    built = images.get(name, target)
    assert built.repo_digest and built.repo_digest.startswith(f"{docker_client.REGISTRY}/mbhealth/{name}@sha256:")
    # The registry serves exactly the image that was built (its config digest is the image id).
    registry, _, rest = built.repo_digest.partition("/")
    repo, _, digest = rest.partition("@")
    request = urllib.request.Request(
        f"http://{registry}/v2/{repo}/manifests/{digest}",
        headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(request, timeout=10) as resp:
        manifest = json.load(resp)
    assert manifest["config"]["digest"] == built.image_id


@pytest.mark.parametrize(("name", "target"), BUILDS, ids=_ids(BUILDS))
def test_image_user_is_numeric_and_not_root(images, name, target) -> None:
    user = images.get(name, target).inspect()["Config"]["User"]
    assert user == f"{APP_UID}:{APP_GID}", f"USER must be numeric {APP_UID}:{APP_GID} (runAsNonRoot), got {user!r}"


@pytest.mark.parametrize(("name", "target"), BUILDS, ids=_ids(BUILDS))
def test_hardened_container_cannot_write_outside_tmp(images, name, target) -> None:
    ref = images.get(name, target).ref
    for user in ((), ("--user", f"{APP_UID}:{APP_GID}")):  # the image's own USER, then kubelet's
        out = docker("run", "--rm", *HARDENED_RUN, *user, "--entrypoint", "/bin/sh", ref, "-c", CHECK_SCRIPT).stdout
        assert f"uid={APP_UID} gid={APP_GID}" in out, out
        assert "root=readonly" in out, out
        assert "tmp=writable" in out, out


@pytest.mark.parametrize(("name", "target"), DEPLOYED, ids=_ids(DEPLOYED))
def test_image_carries_the_version_label(images, name, target) -> None:
    labels = images.get(name, target).inspect()["Config"]["Labels"] or {}
    assert labels.get(build_images.VERSION_LABEL) == TEST_VERSION


def test_worker_target_adds_no_layers(images) -> None:
    production = images.get("backend", "production").inspect()["RootFS"]["Layers"]
    worker = images.get("backend", "worker").inspect()["RootFS"]["Layers"]
    assert worker == production


_SCAN = r"""
import importlib.util, json, os, shutil, sys
found = {"importable": [m for m in ("pip", "setuptools", "wheel", "distutils_hack") if importlib.util.find_spec(m)],
         "on_path": sorted(n for n in sys.argv[1].split(",") if shutil.which(n)),
         "installed": []}
for top in ("/usr", "/opt", "/app", "/home", "/root", "/srv"):
    for root, dirs, files in os.walk(top):
        for d in dirs:
            if d in ("pip", "setuptools") and root.endswith(("-packages",)):
                found["installed"].append(os.path.join(root, d))
print(json.dumps(found))
"""


def _scan(ref: str) -> dict:
    out = docker("run", "--rm", *HARDENED_RUN, "--entrypoint", "python", ref, "-c", _SCAN,
                 ",".join(INSTALLERS + COMPILERS)).stdout
    return json.loads(out)


def test_production_backend_interpreter_has_no_installers_or_compilers(images) -> None:
    found = _scan(images.get("backend", "production").ref)
    assert found["importable"] == [], f"the app's python can import {found['importable']}"
    assert [n for n in found["on_path"] if n in COMPILERS] == [], f"compilers on PATH: {found['on_path']}"


def test_production_backend_image_contains_no_pip_or_setuptools(images) -> None:
    found = _scan(images.get("backend", "production").ref)
    assert found["installed"] == [] and found["on_path"] == [], (
        "pip/setuptools still in the production image (from the base image unless removed): "
        f"installed={found['installed']} on PATH={found['on_path']}")


def test_development_image_keeps_its_tools(images) -> None:
    # The contrast that makes the production check meaningful.
    found = _scan(images.get("backend", "development").ref)
    assert "pip" in found["importable"]
    # On the full python image: a dependency without a wheel can be compiled there.
    assert {"gcc", "cc", "make"} <= set(found["on_path"]), found["on_path"]
