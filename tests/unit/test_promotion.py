"""Promotion without rebuilding, the smoke-test gate, and rollback by digests."""

from __future__ import annotations

import pytest

from components.config import ConfigError
from components.smoke_test import RELEASE_ANNOTATION
from scripts.synth import synthesize

DEV_IMAGES = {
    "backend": "ghcr.io/mbhealth/mbhealth/backend@sha256:" + "a" * 64,
    "frontend": "ghcr.io/mbhealth/mbhealth/frontend@sha256:" + "b" * 64,
}


def images_built(result):
    return [r for r in result.resources if r.type == "docker:index/image:Image"]


def container(result, kind, name):
    (only,) = result.get(kind, name).manifest["spec"]["template"]["spec"]["containers"]
    return only


def deployed_images(result):
    return {
        "backend": container(result, "Deployment", "backend")["image"],
        "worker": container(result, "Deployment", "worker")["image"],
        "migrate": container(result, "Job", "migrate")["image"],
        "smoke": container(result, "Job", "smoke")["image"],
        "frontend": container(result, "Deployment", "frontend")["image"],
    }


def expect_promoted(result, images):
    assert images_built(result) == []  # builds nothing
    deployed = deployed_images(result)
    assert {k: v for k, v in deployed.items() if k != "frontend"} == dict.fromkeys(
        ("backend", "worker", "migrate", "smoke"), images["backend"])
    assert deployed["frontend"] == images["frontend"]
    assert result.exports["images"] == images


def test_prod_promotes_dev_digests_from_config_without_building():
    result = synthesize("prod", overrides={"images": {"source": "digests", "digests": DEV_IMAGES}})
    expect_promoted(result, DEV_IMAGES)


def test_prod_promotes_what_the_dev_stack_exported_by_digest_in_its_own_registry():
    dev_refs = {"backend": "localhost:5000/mbhealth/backend@sha256:" + "a" * 64,
                "frontend": "localhost:5000/mbhealth/frontend@sha256:" + "b" * 64}
    result = synthesize("prod", overrides={"images": {"source": "stack", "stack": "mbhealth/mbhealth/dev"}},
                        stack_outputs={"mbhealth/mbhealth/dev": {"images": dev_refs}})
    # Same digests, pulled from prod's registry (deploy.yml copies them there first).
    expect_promoted(result, DEV_IMAGES)
    refs = [r for r in result.resources if r.type == "pulumi:pulumi:StackReference"]
    assert [r.inputs["name"] for r in refs] == ["mbhealth/mbhealth/dev"]


def test_building_is_the_default(prod):
    assert {r.name for r in images_built(prod)} == {"backend", "frontend"}


def test_a_referenced_stack_without_pinned_images_fails_the_update():
    with pytest.raises(Exception, match=r"images\.stack.*images\.frontend = 'ghcr.io/x/frontend:latest'"):
        synthesize("prod", overrides={"images": {"source": "stack", "stack": "org/mbhealth/dev"}},
                   stack_outputs={"org/mbhealth/dev": {"images": {**DEV_IMAGES, "frontend": "ghcr.io/x/frontend:latest"}}})


@pytest.mark.parametrize(
    "images, key, fragment",
    [
        ({"source": "digests", "digests": {**DEV_IMAGES, "frontend": "ghcr.io/x/frontend:1.0"}}, "images.digests.frontend",
         "pinned by digest"),
        ({"source": "digests", "digests": {"backend": DEV_IMAGES["backend"]}}, "images.digests.frontend", "missing"),
        ({"source": "digests", "digests": {**DEV_IMAGES, "worker": DEV_IMAGES["backend"]}}, "images.digests.worker",
         "unknown image"),
        ({"source": "digests", "digests": {**DEV_IMAGES, "backend": "localhost:5000/mbhealth/backend@sha256:" + "c" * 64}},
         "images.digests.backend", "copy the image into the stack's registry first"),
        ({"source": "stack", "stack": "not a stack"}, "images.stack", "a stack name"),
        ({"source": "registry"}, "images.source", "one of build, digests, stack"),
    ],
)
def test_bad_image_sources_fail_before_anything_registers(images, key, fragment):
    with pytest.raises(ConfigError) as caught:
        synthesize("prod", overrides={"images": images})
    assert caught.value.registered_before_failure == []
    (problem,) = [p for p in caught.value.problems if p.startswith(f"mbhealth:{key}:")]
    assert fragment in problem


def test_smoke_test_runs_after_the_release_and_checks_it_end_to_end(stack):
    smoke = stack.get("Job", "smoke")
    for name in ("backend", "worker", "frontend"):
        assert stack.depends_on(smoke, stack.get("Deployment", name)), name
    c = container(stack, "Job", "smoke")
    namespace = stack.exports["namespace"]
    assert c["command"] == ["python", "-m", "mbhealth", "smoke"]
    assert c["args"] == ["--api", f"http://backend.{namespace}.svc.cluster.local:8000",
                         "--web", f"http://frontend.{namespace}.svc.cluster.local:8080", "--timeout", "180"]
    assert "envFrom" not in c  # an HTTP client: it needs no application secrets
    spec = smoke.manifest["spec"]
    assert spec["backoffLimit"] == 0 and spec["template"]["spec"]["restartPolicy"] == "Never"
    assert c["securityContext"]["readOnlyRootFilesystem"] is True


def test_every_release_reruns_the_smoke_test(dev):
    release = lambda r: r.get("Job", "smoke").manifest["spec"]["template"]["metadata"]["annotations"][RELEASE_ANNOTATION]  # noqa: E731
    same = synthesize("dev")
    assert release(same) == release(dev) and same.get("Job", "smoke").object_name == dev.get("Job", "smoke").object_name
    for changed in (synthesize("dev", overrides={"imageTag": "dev-2"}), synthesize("dev", overrides={"logLevel": "ERROR"})):
        assert release(changed) != release(dev)
        assert changed.get("Job", "smoke").object_name != dev.get("Job", "smoke").object_name


def test_rollback_is_an_up_with_the_previous_digests(prod):
    """Outputs name the release; feeding an earlier release's outputs back deploys exactly it."""
    previous = prod.exports["images"]
    rolled_back = synthesize("prod", overrides={"imageTag": "1.0.1", "images": {"source": "digests", "digests": previous}})
    assert deployed_images(rolled_back)["backend"] == previous["backend"]
    assert deployed_images(rolled_back)["frontend"] == previous["frontend"]
    assert images_built(rolled_back) == []


def test_synth_stands_in_for_the_referenced_stack_and_says_so(tmp_path):
    """`make synth` with `images.source: stack` (no state backend offline) used to crash."""
    import subprocess
    import sys

    from scripts.synth import REPO_ROOT

    text = (REPO_ROOT / "Pulumi.prod.yaml").read_text()
    stack_file = tmp_path / "Pulumi.prod.yaml"
    stack_file.write_text(text + "  mbhealth:images:\n    source: stack\n    stack: mbhealth/mbhealth/dev\n")
    run = subprocess.run([sys.executable, "scripts/synth.py", "--stack", "prod", "--stack-file", str(stack_file),
                          "--out", str(tmp_path / "out")], cwd=REPO_ROOT, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr
    assert "stack 'mbhealth/mbhealth/dev' cannot be read offline; its `images` output is a STAND-IN" in run.stdout
    assert "STAND-IN" in (tmp_path / "out" / "NOTES.txt").read_text()
    deployment = next((tmp_path / "out").glob("*-deployment-backend.yaml")).read_text()
    assert "image: ghcr.io/mbhealth/mbhealth/backend@sha256:" in deployment  # re-homed to prod's registry
    assert "docker:index/image:Image" not in run.stdout


def test_given_stack_outputs_are_used_without_a_stand_in_note():
    dev_refs = {"backend": "localhost:5000/mbhealth/backend@sha256:" + "a" * 64,
                "frontend": "localhost:5000/mbhealth/frontend@sha256:" + "b" * 64}
    result = synthesize("prod", overrides={"images": {"source": "stack", "stack": "org/mbhealth/dev"}},
                        stack_outputs={"org/mbhealth/dev": {"images": dev_refs}})
    assert not any("STAND-IN" in note for note in result.notes)
