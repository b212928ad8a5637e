"""The CrossGuard pack itself: its policies' validate callbacks, fed the way the Pulumi engine feeds them.

There is no Pulumi CLI here, so no real `pulumi preview --policy-pack`: each test
builds `ResourceValidationArgs` from what the program registers under the mocks
(type, URN, name, and the wire-shaped input properties behind CrossGuard's
unknown-checking proxy, secrets unwrapped as the analyzer sees them) and collects
what `report_violation` receives.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import pytest
from pulumi_policy import EnforcementLevel, ResourceValidationArgs, ResourceValidationPolicy
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE, unknown_checking_proxy

import components.config.forms as config_module
import components.image as image_module
import components.workload as workload
from components.config import ConfigError
from policy.rules import DOCKER_IMAGE_TYPE, RULES
from scripts.secret_markers import reveal
from scripts.synth import synthesize
from scripts.synth_result import SynthResult
from tests.policy.conftest import synthesized

REPO_ROOT = Path(__file__).resolve().parents[2]


def load_pack():
    """policy/__main__.py as a module: under any name but __main__ it builds the policies without serving them."""
    spec = importlib.util.spec_from_file_location("mbhealth_policy_pack", REPO_ROOT / "policy" / "__main__.py")
    module = importlib.util.module_from_spec(spec)
    assert spec.loader is not None
    spec.loader.exec_module(module)
    return module


PACK = load_pack()


@dataclass
class Reported:
    policy: str
    level: EnforcementLevel
    message: str
    urn: Optional[str]


@dataclass
class Collector:
    reported: list[Reported] = field(default_factory=list)

    def run(self, policy: ResourceValidationPolicy, args: ResourceValidationArgs) -> None:
        def report_violation(message: str, urn: Optional[str] = None) -> None:
            self.reported.append(Reported(policy.name, policy.enforcement_level, message, urn))

        assert policy.validate(args, report_violation) is None  # synchronous validators

    @property
    def mandatory(self) -> list[Reported]:
        return [r for r in self.reported if r.level == EnforcementLevel.MANDATORY]

    @property
    def advisory(self) -> list[Reported]:
        return [r for r in self.reported if r.level == EnforcementLevel.ADVISORY]


def args_for(resource_type: str, props: dict[str, Any], urn: str, name: str) -> ResourceValidationArgs:
    return ResourceValidationArgs(resource_type, unknown_checking_proxy(props), urn, name, None, None)


def analyze(result: SynthResult) -> Collector:
    """Every pack policy on every resource the program registered (what `pulumi preview --policy-pack policy` does)."""
    collector = Collector()
    for resource in result.resources:
        if not resource.custom:
            continue
        args = args_for(resource.type, reveal(resource.inputs), resource.urn, resource.name)
        for policy in PACK.POLICIES:
            collector.run(policy, args)
    return collector


def test_the_pack_has_one_mandatory_policy_per_rule_and_an_advisory_one_for_dev_exceptions():
    levels = {policy.name: policy.enforcement_level for policy in PACK.POLICIES}
    assert levels == {**{rule.id: EnforcementLevel.MANDATORY for rule in RULES},
                      PACK.DEV_EXCEPTIONS: EnforcementLevel.ADVISORY}
    assert all(isinstance(policy, ResourceValidationPolicy) for policy in PACK.POLICIES)
    assert {policy.description for policy in PACK.POLICIES if policy.name in {r.id for r in RULES}} == {r.description for r in RULES}


def test_policy_pack_metadata():
    import yaml

    document = yaml.safe_load((REPO_ROOT / "policy" / "PulumiPolicy.yaml").read_text())
    assert document["runtime"]["name"] == "python" and document["version"]
    # The pack's venv and the test venv (which runs the same pack in the tests) pin the same versions.
    pack_pins = [line for line in (REPO_ROOT / "policy" / "requirements.txt").read_text().splitlines()
                 if line and not line.startswith("#")]
    test_pins = {line for name in ("requirements.txt", "requirements-dev.txt")
                 for line in (REPO_ROOT / name).read_text().splitlines()}
    # pydantic: the rules read the stack config through components/ (found by running the pack under the engine).
    assert {pin.split("==")[0] for pin in pack_pins} == {"pulumi-policy", "pulumi", "protobuf", "PyYAML", "pydantic"}
    for pin in pack_pins:
        assert pin in test_pins, f"{pin} (policy/requirements.txt) differs from the root requirements"


def test_prod_passes_the_pack_with_no_findings_at_all():
    collector = analyze(synthesized("prod"))
    assert collector.reported == [], "\n".join(r.message for r in collector.reported)


def test_dev_passes_the_pack_with_only_the_documented_advisory_exceptions():
    collector = analyze(synthesized("dev"))
    assert collector.mandatory == [], "\n".join(r.message for r in collector.mandatory)
    assert {r.policy for r in collector.advisory} == {PACK.DEV_EXCEPTIONS}
    assert sorted(r.message.split(":")[0] for r in collector.advisory) == [
        "[image-pinning] Deployment/mbhealth-dev/redis, container 'redis'",
        "[image-pinning] StatefulSet/mbhealth-dev/postgres, container 'postgres'",
    ]
    assert all(r.urn and r.urn.startswith("urn:pulumi:dev::") for r in collector.advisory)


def test_a_preview_with_an_unknown_image_digest_still_checks_everything_else():
    """During a dev preview the image is not built yet (build_on_preview is off): its digest is unknown."""
    resource = synthesized("prod").get("Deployment", "backend")
    props = reveal(resource.inputs)
    container = props["spec"]["template"]["spec"]["containers"][0]
    container["image"] = UNKNOWN_STRING_VALUE
    del container["resources"]["limits"]
    collector = Collector()
    for policy in PACK.POLICIES:
        collector.run(policy, args_for(resource.type, props, resource.urn, resource.name))
    assert [(r.policy, r.level) for r in collector.reported] == [("resources", EnforcementLevel.MANDATORY)]
    assert "Deployment/mbhealth/backend, container 'backend': resources.limits has no cpu, memory" in collector.reported[0].message


def test_a_stack_without_a_stack_file_is_a_mandatory_violation_naming_the_file():
    resource = synthesized("prod").get("ConfigMap", "backend-env")
    urn = resource.urn.replace("urn:pulumi:prod::", "urn:pulumi:qa::")
    collector = Collector()
    collector.run(next(p for p in PACK.POLICIES if p.name == "standard-labels"),
                  args_for(resource.type, reveal(resource.inputs), urn, resource.name))
    (reported,) = collector.reported
    assert reported.level == EnforcementLevel.MANDATORY and "Pulumi.qa.yaml" in reported.message


def test_resources_other_than_kubernetes_and_images_are_ignored():
    collector = Collector()
    for policy in PACK.POLICIES:
        collector.run(policy, args_for("random:index/randomPassword:RandomPassword", {"length": 32},
                                       "urn:pulumi:dev::mbhealth::random:index/randomPassword:RandomPassword::x", "x"))
    assert collector.reported == []


# ── a deliberately broken component fails the unit tests and the policy pack ──


@pytest.fixture
def without_limits(monkeypatch):
    """components/workload.py gives app containers requests only (a broken component)."""
    original = workload.container_resources

    def requests_only(sizing):
        resources = original(sizing)
        resources.limits = None
        return resources

    monkeypatch.setattr(workload, "container_resources", requests_only)
    return synthesize("prod")


@pytest.fixture
def tagged_latest(monkeypatch):
    """components/workload.py deploys `<registry>/mbhealth/<name>:latest` instead of the built digest."""
    original = workload.app_container

    def latest(name, image, *args, **kwargs):
        return original(name, f"ghcr.io/mbhealth/mbhealth/{name}:latest", *args, **kwargs)

    monkeypatch.setattr(workload, "app_container", latest)
    return synthesize("prod")


def test_a_component_without_limits_fails_the_pack_naming_resource_and_fix(without_limits):
    collector = analyze(without_limits)
    assert {r.policy for r in collector.reported} == {"resources"}
    messages = sorted(r.message for r in collector.mandatory)
    assert any("Job/mbhealth/migrate (auto-named), container 'migrate': resources.limits has no" in m for m in messages)
    for name in ("backend", "worker", "frontend"):
        assert any(f"Deployment/mbhealth/{name}, container '{name}': resources.limits has no cpu, memory, "
                   "ephemeral-storage. Fix: set requests and limits" in m for m in messages), messages
    assert all("components/workload.py container_resources" in m for m in messages)


def test_a_component_without_limits_fails_the_unit_suite(without_limits):
    from tests.unit.test_workloads import test_every_pod_is_hardened

    with pytest.raises((AssertionError, KeyError)):  # today a KeyError on resources["limits"]
        test_every_pod_is_hardened(without_limits)


@pytest.mark.parametrize("broken, resource, problem", [
    ("without_limits", "Deployment/mbhealth/worker, container 'worker'", "resources.limits has no cpu, memory"),
    ("tagged_latest", "Deployment/mbhealth/frontend, container 'frontend'", "image 'ghcr.io/mbhealth/mbhealth/frontend:latest' uses `latest`"),
])
def test_a_broken_component_fails_the_suites_rule_check_with_resource_and_fix(request, broken, resource, problem):
    """The suite's own gate (tests/policy/test_stacks_pass.py) fails on it, quoting the rule's message."""
    from policy.stack_context import load_context
    from tests.policy.test_stacks_pass import test_no_mandatory_violation

    with pytest.raises(AssertionError) as failure:
        test_no_mandatory_violation(request.getfixturevalue(broken), load_context("prod"))
    assert f"{resource}: {problem}" in str(failure.value) and "Fix: " in str(failure.value)


def test_a_component_deploying_latest_fails_the_pack_naming_resource_and_fix(tagged_latest):
    collector = analyze(tagged_latest)
    assert {r.policy for r in collector.reported} == {"image-pinning"}
    messages = [r.message for r in collector.mandatory]
    for name in ("backend", "worker", "frontend"):
        assert any(f"Deployment/mbhealth/{name}, container '{name}': image 'ghcr.io/mbhealth/mbhealth/{name}:latest' "
                   "uses `latest`" in m and "Fix: deploy the image the stack built or promoted, by digest" in m
                   for m in messages), messages


def test_a_component_deploying_latest_fails_the_unit_suite(tagged_latest):
    from tests.unit.test_application import test_deployments_reference_images_by_digest

    with pytest.raises(AssertionError):
        test_deployments_reference_images_by_digest(tagged_latest)


def test_a_latest_data_service_image_in_dev_config_fails_the_pack(monkeypatch):
    """`dataServices.postgresImage: postgres:latest` is refused by the config reader first; should that
    check ever be lost, the pack still blocks it as mandatory, even under dev's exception."""
    overrides = {"dataServices": {"postgresImage": "postgres:latest"}}
    with pytest.raises(ConfigError, match="dataServices.postgresImage"):
        synthesize("dev", overrides=overrides)
    monkeypatch.setattr(config_module, "versioned_image", lambda ref: True)  # the lost check
    collector = analyze(synthesize("dev", overrides=overrides))
    (reported,) = collector.mandatory
    assert reported.policy == "image-pinning"
    assert "StatefulSet/mbhealth-dev/postgres, container 'postgres': image 'postgres:latest' uses `latest`" in reported.message
    assert "Fix: name a specific version tag" in reported.message


def test_the_image_build_resource_is_checked_by_the_pack():
    resource = next(r for r in synthesized("dev").resources if r.type == DOCKER_IMAGE_TYPE and r.name == "backend")
    props = reveal(resource.inputs)
    props["imageName"] = "localhost:5000/mbhealth/backend:latest"
    props["build"]["args"]["PYTHON_IMAGE"] = "python"
    collector = Collector()
    for policy in PACK.POLICIES:
        collector.run(policy, args_for(resource.type, props, resource.urn, resource.name))
    assert [r.policy for r in collector.reported] == ["image-pinning", "image-pinning"]
    assert all(r.message.count("docker Image backend (localhost:5000/mbhealth/backend:latest)") == 1 for r in collector.reported)


# ── promotion: prod deploys digests it did not build ──────────────────────────

def promoted(registry: str) -> dict[str, str]:
    return {name: f"{registry}/mbhealth/{name}@sha256:{digit * 64}" for name, digit in (("backend", "a"), ("frontend", "b"))}


def test_prod_promoting_digests_copied_to_its_registry_passes_the_pack():
    result = synthesize("prod", overrides={"images": {"source": "digests", "digests": promoted("ghcr.io/mbhealth")}})
    assert not [r for r in result.resources if r.type == DOCKER_IMAGE_TYPE]  # nothing built
    collector = analyze(result)
    assert collector.reported == [], "\n".join(r.message for r in collector.reported)


def test_prod_promoting_devs_local_registry_refs_fails_the_pack(monkeypatch):
    """Dev pushes to localhost:5000, which prod's nodes cannot pull from: the config reader refuses such
    digests, promotion from a stack re-homes them to prod's registry — and if a bug ever skipped that,
    the pack blocks the deploy."""
    with pytest.raises(ConfigError, match="images.digests.backend"):
        synthesize("prod", overrides={"images": {"source": "digests", "digests": promoted("localhost:5000")}})
    monkeypatch.setattr(image_module, "_promoted", lambda refs, name, stack, registry: refs[name])  # the bug
    result = synthesize("prod", overrides={"images": {"source": "stack", "stack": "org/mbhealth/dev"}},
                        stack_outputs={"org/mbhealth/dev": {"images": promoted("localhost:5000")}})
    collector = analyze(result)
    assert {r.policy for r in collector.reported} == {"image-pinning"}
    assert any("Deployment/mbhealth/backend, container 'backend': image 'localhost:5000/mbhealth/backend@sha256:"
               in r.message and "is not from the stack's registry (ghcr.io/mbhealth/mbhealth/...)" in r.message
               for r in collector.mandatory), [r.message for r in collector.mandatory]
