"""checkov on every stack's synthesized manifests and on the Dockerfiles: zero failures beyond policy/waivers.yaml.

hadolint (tests/apps/test_hadolint.py) and strict kubernetes-validate
(tests/unit/test_schema.py) run elsewhere; this file adds checkov. checkov runs
offline from its own pinned venv (policy/requirements-scan.txt), installed on
first use.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from policy.scan import (
    DOCKERFILES,
    REPO_ROOT,
    WAIVERS_FILE,
    Finding,
    ensure_checkov,
    load_waivers,
    run_checkov,
    unused_waivers,
    unwaived,
    write_stack_manifests,
)
from scripts.manifest_files import manifest_filename
from scripts.secret_markers import reveal
from tests.policy.conftest import synthesized


@pytest.fixture(scope="session")
def checkov() -> Path:
    return ensure_checkov()


@pytest.fixture(scope="session")
def manifests_dir(tmp_path_factory) -> Path:
    work = tmp_path_factory.mktemp("manifests")
    directories = write_stack_manifests(work)
    assert sorted(directories) == ["dev", "prod"]
    assert all(len(list(d.glob("*.yaml"))) > 15 for d in directories.values())
    return work


@pytest.fixture(scope="session")
def kubernetes_report(checkov, manifests_dir):
    return run_checkov([manifests_dir], "kubernetes", checkov)


@pytest.fixture(scope="session")
def dockerfile_report(checkov):
    return run_checkov([REPO_ROOT / path for path in DOCKERFILES], "dockerfile", checkov)


@pytest.fixture(scope="session")
def waivers():
    return load_waivers()


def describe(findings: list[Finding]) -> str:
    return "\n".join(str(f) for f in findings)


def test_checkov_is_the_pinned_version(checkov):
    import subprocess

    version = subprocess.run([str(checkov), "--version"], capture_output=True, text=True, timeout=120).stdout.strip()
    pinned = next(line for line in (REPO_ROOT / "policy" / "requirements-scan.txt").read_text().splitlines()
                  if line.startswith("checkov=="))
    assert pinned == f"checkov=={version}"


def test_manifests_of_every_stack_have_no_unwaived_checkov_failure(kubernetes_report, waivers):
    assert kubernetes_report.passed > 500  # it really looked at both stacks' objects
    files = {Path(f.file).parts[1] for f in kubernetes_report.findings if f.file}
    assert files <= {"dev", "prod"}
    open_findings = unwaived(kubernetes_report.findings, waivers)
    assert open_findings == [], f"fix these or waive them in {WAIVERS_FILE.name} with a reason:\n{describe(open_findings)}"


def test_dockerfiles_have_no_unwaived_checkov_failure(dockerfile_report, waivers):
    assert dockerfile_report.passed > 100
    open_findings = unwaived(dockerfile_report.findings, waivers)
    assert open_findings == [], f"fix these or waive them in {WAIVERS_FILE.name} with a reason:\n{describe(open_findings)}"


def test_every_waiver_is_still_needed(kubernetes_report, dockerfile_report, waivers):
    stale = unused_waivers(kubernetes_report.findings + dockerfile_report.findings, waivers)
    assert stale == [], f"remove from {WAIVERS_FILE.name}: {[w.check_id for w in stale]}"


def test_waivers_have_a_one_line_reason_per_check_id(waivers):
    document = yaml.safe_load(WAIVERS_FILE.read_text())
    assert set(document) == {"checkov"}
    assert waivers
    for check_id, waiver in waivers.items():
        assert re.fullmatch(r"CKV2?_[A-Z0-9]+_[0-9]+", check_id), check_id
        assert "\n" not in waiver.reason and 30 <= len(waiver.reason) <= 240, check_id
        if waiver.only is not None:
            assert waiver.only and all(isinstance(resource, str) for resource in waiver.only), check_id


def test_dev_only_waivers_never_cover_prod(waivers):
    for waiver in waivers.values():
        if waiver.reason.startswith("Dev only"):
            assert waiver.only and all(".mbhealth-dev." in resource for resource in waiver.only), waiver.check_id


def test_checkov_fails_a_broken_manifest_that_no_waiver_covers(checkov, waivers, tmp_path):
    """A privileged, root container with no limits in the prod backend: checkov reports it, unwaived."""
    obj = copy.deepcopy(reveal(synthesized("prod").get("Deployment", "backend").manifest))
    container = obj["spec"]["template"]["spec"]["containers"][0]
    container["securityContext"].update(privileged=True, allowPrivilegeEscalation=True, runAsNonRoot=False, runAsUser=0)
    del container["resources"]["limits"]
    (tmp_path / manifest_filename(0, obj)).write_text(yaml.safe_dump(obj))
    report = run_checkov([tmp_path], "kubernetes", checkov)
    failing = {f.check_id for f in unwaived(report.findings, waivers)}
    assert {"CKV_K8S_16", "CKV_K8S_20", "CKV_K8S_11", "CKV_K8S_13"} <= failing, describe(report.findings)
    assert {f.resource for f in report.findings if f.check_id in failing and f.check_id.startswith("CKV_K8S")} == {
        "Deployment.mbhealth.backend"}


def test_checkov_fails_a_broken_dockerfile(checkov, waivers, tmp_path):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM python:3.11-slim\nRUN apt-get update && apt-get install -y curl\nCMD [\"python\"]\n")
    report = run_checkov([dockerfile], "dockerfile", checkov)
    failing = {f.check_id for f in unwaived(report.findings, waivers)}
    assert {"CKV_DOCKER_2", "CKV_DOCKER_3"} <= failing, describe(report.findings)  # no HEALTHCHECK, no USER
