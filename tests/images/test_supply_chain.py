"""Supply chain on the real production images: CycloneDX SBOMs and secret/misconfig scans.

Each image is built from its spec in components/build_specs.py (the session's ImageBuilder,
the same builds the conformance suite runs) and read by Trivy from the engine, offline:
- its SBOM (scripts/sbom.py, written to build/sbom/) is CycloneDX JSON valid against the
  schema of its specVersion, and lists what the image holds (the backend's pinned Python
  packages at their pinned versions; nginx and the OS packages for the frontend);
- no layer of any production image holds a secret, and no image config has an unwaived
  HIGH/CRITICAL misconfiguration; a throwaway image with planted fake credentials proves the
  same scan finds them, even in a file a later layer deleted;
- every waiver in .trivyignore.yaml still matches a finding (none is stale).
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import string
import textwrap
from pathlib import Path

import pytest
import sbom as sbom_script
from docker_client import docker

from components.build_specs import BACKEND_DISTROLESS_BUILD, IMAGE_BUILDS, ImageBuildSpec
from tests.supply_chain import scans
from tests.supply_chain.scans import REPO_ROOT, STACKS, trivy_offline

# Every production image: key -> (spec, target). The worker target runs the backend image.
PRODUCTION: dict[str, tuple[ImageBuildSpec, str | None]] = {
    "backend": (IMAGE_BUILDS["backend"], None),
    "backend-worker": (IMAGE_BUILDS["backend"], "worker"),
    "backend-distroless": (BACKEND_DISTROLESS_BUILD, None),
    "frontend": (IMAGE_BUILDS["frontend"], None),
}
SBOMS = ("backend", "backend-distroless", "frontend")


def _built(images, key: str):
    spec, target = PRODUCTION[key]
    return images.get(spec.name, target=target, spec=spec)


@pytest.fixture(scope="module")
def sboms(images) -> dict[str, dict]:
    """name -> the SBOM scripts/sbom.py writes for the built image (build/sbom/<name>.cdx.json)."""
    written = {}
    for name in SBOMS:
        path = sbom_script.generate(_built(images, name).ref, name)
        assert path == sbom_script.SBOM_DIR / f"{name}.cdx.json"
        written[name] = path
    return {name: {"text": path.read_text(), "doc": json.loads(path.read_text())} for name, path in written.items()}


def pinned_requirements() -> dict[str, str]:
    """apps/backend/requirements.txt as {normalised name: version}."""
    pins = {}
    for line in (REPO_ROOT / "apps/backend/requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[re.sub(r"[-_.]+", "-", re.sub(r"\[.*\]", "", name)).lower()] = version
    return pins


def pypi_packages(doc: dict) -> dict[str, str]:
    return {re.sub(r"[-_.]+", "-", k): v for k, v in sbom_script.packages(doc, "pypi").items()}


# --------------------------------------------------------------------------- SBOMs


@pytest.mark.parametrize("name", SBOMS)
def test_sbom_is_valid_cyclonedx_of_the_built_image(name, sboms, images) -> None:
    sbom_script.validate(sboms[name]["text"])  # strict JSON-schema validation for its specVersion
    doc = sboms[name]["doc"]
    assert doc["bomFormat"] == "CycloneDX" and doc["serialNumber"].startswith("urn:uuid:")
    subject = doc["metadata"]["component"]
    assert subject["type"] == "container" and subject["name"] == _built(images, name).ref
    os_components = [c for c in doc["components"] if c["type"] == "operating-system"]
    assert [(c["name"], c["version"].split(".")[0]) for c in os_components] == [("debian", "12")]


@pytest.mark.parametrize("name", ["backend", "backend-distroless"])
def test_backend_sbom_lists_every_pinned_python_package_at_its_pin(name, sboms) -> None:
    found = pypi_packages(sboms[name]["doc"])
    pins = pinned_requirements()
    assert found["fastapi"] == pins["fastapi"]
    wrong = {pkg: (version, found.get(pkg)) for pkg, version in pins.items() if found.get(pkg) != version}
    assert not wrong, f"pinned -> in image: {wrong}"
    # The installers are gone from production (no pip in the venv nor from the base image).
    assert not {"pip", "setuptools", "wheel"} & set(found), sorted(found)


def test_both_backend_variants_ship_the_same_python_packages(sboms) -> None:
    assert pypi_packages(sboms["backend"]["doc"]) == pypi_packages(sboms["backend-distroless"]["doc"])


def test_distroless_sbom_has_debians_python_and_no_shell_or_package_manager(sboms) -> None:
    debs = sbom_script.packages(sboms["backend-distroless"]["doc"], "deb")
    assert "python3.11-minimal" in debs and "libpython3.11-stdlib" in debs
    assert not {"bash", "dash", "coreutils", "apt", "dpkg", "busybox"} & set(debs), sorted(debs)
    slim_debs = sbom_script.packages(sboms["backend"]["doc"], "deb")
    assert len(debs) < len(slim_debs), (len(debs), len(slim_debs))


def test_frontend_sbom_lists_nginx_and_the_os_packages(sboms) -> None:
    doc = sboms["frontend"]["doc"]
    os_packages = sbom_script.packages(doc, "deb") or sbom_script.packages(doc, "apk")
    assert os_packages.get("nginx"), sorted(os_packages)
    assert "libc6" in os_packages or "musl" in os_packages
    assert not sbom_script.packages(doc, "npm"), "the build's node_modules must not reach the nginx image"


# --------------------------------------------------------------------------- secret / misconfig scans


@pytest.mark.parametrize("key", sorted(PRODUCTION))
def test_no_secret_in_any_layer_and_no_severe_misconfiguration(key, images) -> None:
    report = scans.image(_built(images, key).ref)
    assert report.targets, "trivy read nothing from the image"
    found_secrets = report.of("secret")
    assert not found_secrets, "\n".join(f.line() for f in found_secrets)
    severe = trivy_offline.blocking(report.of("misconfig"), scans.waivers())
    assert not severe, "\n".join(f.line() for f in severe)


def _fake_credentials() -> dict[str, str]:
    """Fake credentials in the shapes trivy's built-in rules know; made at run time, so this
    source file itself holds none."""
    alnum = string.ascii_uppercase + string.digits
    key_id = "AK" + "IA" + "".join(secrets.choice(alnum) for _ in range(16))
    secret_key = base64.b64encode(secrets.token_bytes(30)).decode()
    body = "\n".join(textwrap.wrap(base64.b64encode(secrets.token_bytes(600)).decode(), 64))
    kind = "RSA " + "PRIVATE KEY"
    return {
        "settings.env": f"AWS_ACCESS_KEY_ID={key_id}\nAWS_SECRET_ACCESS_KEY={secret_key}\n",
        "deploy_key": f"-----BEGIN {kind}-----\n{body}\n-----END {kind}-----\n",
    }


def test_the_scan_finds_secrets_planted_in_a_throwaway_image(standins, tmp_path: Path) -> None:
    for name, text in _fake_credentials().items():
        (tmp_path / name).write_text(text)
    # The key sits in a layer that a later layer deletes: "any layer" means that one too.
    (tmp_path / "Dockerfile").write_text(
        "ARG PYTHON_IMAGE\n"
        "FROM ${PYTHON_IMAGE}\n"
        "COPY settings.env /app/settings.env\n"
        "COPY deploy_key /tmp/deploy_key\n"
        "RUN rm /tmp/deploy_key\n"
        "USER 10001:10001\n"
    )
    tag = f"mbh-planted-secret:{secrets.token_hex(4)}"
    docker("build", "--network", "host", "--quiet", "--build-arg", f"PYTHON_IMAGE={standins['python:3.11-slim']}",
           "--tag", tag, str(tmp_path))
    try:
        # With the project's waivers in force: nothing in .trivyignore.yaml may hide it.
        report = trivy_offline.scan_image(tag, ("secret",))
    finally:
        docker("image", "rm", "--force", tag, check=False)
    by_rule = {f.id: f for f in report.of("secret")}
    assert {"aws-access-key-id", "aws-secret-access-key", "private-key"} <= set(by_rule), report.findings
    assert by_rule["aws-access-key-id"].target == "/app/settings.env"
    assert by_rule["private-key"].target == "/tmp/deploy_key"  # deleted above, still found
    assert by_rule["aws-access-key-id"].severity == "CRITICAL"


# --------------------------------------------------------------------------- waivers


def test_every_waiver_still_matches_a_finding(images) -> None:
    findings = [*scans.dockerfiles().findings, *(f for s in STACKS for f in scans.manifests(s).findings),
                *(f for key in PRODUCTION for f in scans.image(_built(images, key).ref).findings)]
    stale = [w for w in scans.waivers().entries if not any(w.matches(f) for f in findings)]
    assert not stale, "waivers matching no finding (remove them from .trivyignore.yaml): " + ", ".join(
        f"{w.kind}:{w.id}" for w in stale)
