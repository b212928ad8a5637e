"""A freshly built image's `repoDigest` is checked before anything uses it (issue 20, item 11):
pulumi-docker can report `<none>@<none>` (or nothing) when the push stream carried no digest, and
only `<the repository pushed to>@sha256:<64 hex>` may reach the Deployments, Jobs and outputs."""

from __future__ import annotations

from typing import Optional

import pytest

from components.image import ImageDigestError, checked_repo_digest
from scripts import synth
from scripts.synth import synthesize

GOOD = "sha256:" + "ab" * 32
REPOSITORY = "localhost:5000/mbhealth/backend"  # the dev stack's (registry.server localhost:5000)


def with_repo_digest(monkeypatch, name: str, digest: Optional[str]) -> None:
    """The mocked docker.Image `name` returns `digest` as its repoDigest (None: no repoDigest at all)."""

    class Mocks(synth.SynthMocks):
        def new_resource(self, args):
            resource_id, state = super().new_resource(args)
            if args.typ == "docker:index/image:Image" and args.name == name:
                state = {k: v for k, v in state.items() if k != "repoDigest"}
                if digest is not None:
                    state["repoDigest"] = digest
            return resource_id, state

    monkeypatch.setattr(synth, "SynthMocks", Mocks)


def fails_before_any_workload(monkeypatch, digest: Optional[str]) -> str:
    with_repo_digest(monkeypatch, "backend", digest)
    with pytest.raises(ImageDigestError) as caught:
        synthesize("dev")
    registered = getattr(caught.value, "registered_before_failure", None)
    assert registered is not None, "the error did not come from the program run"
    # Nothing that runs our images was created (the API, the worker, the frontend after them, the
    # Jobs); what was (the namespace, the data services) runs none of them.
    objects = [r for r in registered if r.custom and r.type.startswith("kubernetes:")]
    assert [r.name for r in objects if r.type in ("kubernetes:apps/v1:Deployment", "kubernetes:batch/v1:Job")
            and r.name != "redis"] == []
    assert [r.name for r in objects if "localhost:5000/mbhealth/" in repr(r.outputs)] == []
    return str(caught.value)


def test_a_good_digest_of_the_pushed_repository_is_deployed(monkeypatch):
    with_repo_digest(monkeypatch, "backend", f"{REPOSITORY}@{GOOD}")
    result = synthesize("dev")
    assert result.exports["images"]["backend"] == f"{REPOSITORY}@{GOOD}"
    for kind, name in (("Deployment", "backend"), ("Deployment", "worker"), ("Job", "migrate")):
        (container,) = result.get(kind, name).manifest["spec"]["template"]["spec"]["containers"]
        assert container["image"] == f"{REPOSITORY}@{GOOD}"


@pytest.mark.parametrize(
    "digest, shown",
    [
        ("<none>@<none>", "'<none>@<none>'"),
        ("", "''"),
        (None, "None"),
        (f"localhost:5000/mbhealth/frontend@{GOOD}", f"'localhost:5000/mbhealth/frontend@{GOOD}'"),
        (f"ghcr.io/someone/backend@{GOOD}", f"'ghcr.io/someone/backend@{GOOD}'"),
        ("localhost:5000/mbhealth/backend:dev", "'localhost:5000/mbhealth/backend:dev'"),
        (f"{REPOSITORY}@sha256:{'ab' * 31}", f"'{REPOSITORY}@sha256:{'ab' * 31}'"),
        (f"{REPOSITORY}@sha256:{'AB' * 32}", f"'{REPOSITORY}@sha256:{'AB' * 32}'"),
    ],
    ids=["none-at-none", "empty", "missing", "another-image", "another-registry", "a-tag", "short", "upper-case"],
)
def test_a_digest_that_does_not_pin_the_pushed_image_fails_the_deploy(monkeypatch, digest, shown):
    message = fails_before_any_workload(monkeypatch, digest)
    assert message == (f"image backend: the build pushed to {REPOSITORY} returned repoDigest {shown}; expected "
                       f"{REPOSITORY}@sha256:<64 hex digits> (did the push to the registry succeed and report a "
                       "digest?)")


def test_the_check_itself():
    assert checked_repo_digest("frontend", "ghcr.io/acme/mbhealth/frontend",
                               f"ghcr.io/acme/mbhealth/frontend@{GOOD}") == f"ghcr.io/acme/mbhealth/frontend@{GOOD}"
    for bad in ("<none>@<none>", "", None, f"ghcr.io/acme/mbhealth/frontend2@{GOOD}",
                f"x/ghcr.io/acme/mbhealth/frontend@{GOOD}", f"ghcr.io/acme/mbhealth/frontend@{GOOD}\n"):
        with pytest.raises(ImageDigestError, match=r"^image frontend: the build pushed to ghcr.io/acme/mbhealth/frontend"):
            checked_repo_digest("frontend", "ghcr.io/acme/mbhealth/frontend", bad)
