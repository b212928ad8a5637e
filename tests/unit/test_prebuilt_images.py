"""scripts/prebuilt_images.py: the config copy `make up` deploys when the CLI has no docker provider."""

from __future__ import annotations

import json

from pathlib import Path

import pytest
import yaml

from scripts import prebuilt_images


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(prebuilt_images, "REPO_ROOT", tmp_path)
    return tmp_path


def _write_stack(repo: Path, stack: str, config: dict) -> None:
    (repo / f"Pulumi.{stack}.yaml").write_text(yaml.safe_dump({"config": config}))


def _no_builds(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    built: list[str] = []

    def build(spec, **_kwargs):
        built.append(spec.dockerfile)
        raise AssertionError("nothing may be built here")

    monkeypatch.setattr(prebuilt_images.build_images, "build", build)
    return built


@pytest.mark.parametrize("images", [
    {"source": "stack", "stack": "organization/mbhealth/dev"},
    {"source": "digests", "digests": {"backend": "r.example/b@sha256:" + "a" * 64,
                                      "frontend": "r.example/f@sha256:" + "b" * 64}},
])
def test_a_stack_that_deploys_promoted_images_builds_nothing_and_keeps_its_images(
        repo: Path, monkeypatch: pytest.MonkeyPatch, images: dict) -> None:
    built = _no_builds(monkeypatch)
    _write_stack(repo, "prod", {"mbhealth:imageTag": "1.0.0", "mbhealth:images": images})
    out = repo / "state" / "Pulumi.prod.yaml"

    assert prebuilt_images.main(["--stack", "prod", "--out", str(out)]) == 0

    written = yaml.safe_load(out.read_text())["config"]
    assert built == []
    assert written["mbhealth:images"] == images
    assert written["mbhealth:imageTag"] == "1.0.0"


def test_a_stack_that_builds_deploys_the_digests_just_built(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def build(spec, *, version, standins, push_image, registry):
        assert push_image and version == "dev" and registry == "localhost:5000"
        name = "backend" if "backend" in spec.dockerfile else "frontend"
        return type("Built", (), {"repo_digest": f"localhost:5000/{name}@sha256:" + "c" * 64, "seconds": 0.1})()

    monkeypatch.setattr(prebuilt_images.build_images, "build", build)
    _write_stack(repo, "dev", {"mbhealth:imageTag": "dev", "mbhealth:ingress": {"host": "h.example"}})
    out = repo / "Pulumi.dev.generated.yaml"

    cluster = {"ingress": {"host": "mbhealth.localhost", "className": "traefik", "controllerHostNetwork": True,
                           "nodeCidrs": ["10.213.0.0/30"], "httpPort": 8081}}
    prebuilt_images.main(["--stack", "dev", "--out", str(out), "--cluster-settings", json.dumps(cluster)])

    written = yaml.safe_load(out.read_text())["config"]
    assert written["mbhealth:images"]["source"] == "digests"
    assert set(written["mbhealth:images"]["digests"]) == {"backend", "frontend"}
    # The cluster's settings are merged over the stack file's (the local cluster's ingress).
    assert written["mbhealth:ingress"] == cluster["ingress"]
    # --reuse keeps those digests without building (down, refresh).
    _no_builds(monkeypatch)
    prebuilt_images.main(["--stack", "dev", "--out", str(out), "--reuse"])
    assert yaml.safe_load(out.read_text())["config"]["mbhealth:images"] == written["mbhealth:images"]


def test_images_go_to_the_stacks_registry_and_a_failed_push_is_one_line(
        repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    registries = []

    def build(spec, *, version, standins, push_image, registry):
        registries.append(registry)
        raise prebuilt_images.build_images.DockerError(
            "docker push 127.0.0.1:1/mbhealth/backend:dev ... failed (1): The push refers to repository\n"
            "Get \"http://127.0.0.1:1/v2/\": dial tcp 127.0.0.1:1: connect: connection refused")

    monkeypatch.setattr(prebuilt_images.build_images, "build", build)
    _write_stack(repo, "dev", {"mbhealth:imageTag": "dev", "mbhealth:registry": {"server": "127.0.0.1:1"}})

    with pytest.raises(SystemExit) as exited:
        prebuilt_images.main(["--stack", "dev", "--out", str(repo / "out.yaml")])

    assert exited.value.code == 1 and registries == ["127.0.0.1:1"]
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("prebuilt-images: backend: the push to registry 127.0.0.1:1 failed: ")
    assert "connection refused" in err[-1] and "Traceback" not in "\n".join(err)
    assert not (repo / "out.yaml").exists()
