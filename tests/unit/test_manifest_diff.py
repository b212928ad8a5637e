"""`make diff`: the offline manifest diff a reviewer reads on a pull request."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from scripts.manifest_diff import SynthObject, diff
from scripts.synth import REPO_ROOT


def test_diff_pairs_objects_by_name_not_position():
    base = {"ns-configmap-a.yaml": "data: 1\n", "ns-deployment-web.yaml": "image: x@sha256:1\n"}
    head = {"ns-deployment-web.yaml": "image: x@sha256:2\n", "ns-configmap-b.yaml": "data: 2\n"}
    text = "".join(diff(base, head, "main"))
    assert "--- main/ns-configmap-a.yaml\n+++ /dev/null" in text
    assert "--- /dev/null\n+++ working tree/ns-configmap-b.yaml" in text
    assert "-image: x@sha256:1\n+image: x@sha256:2" in text
    assert diff(base, base, "main") == []


def test_diff_pairs_objects_by_logical_identity_and_shows_a_rename_as_one_line():
    before = "kind: Job\nmetadata:\n  name: migrate-1111aaaa\nspec:\n  cpu: '1'\n"
    after = "kind: Job\nmetadata:\n  name: migrate-2222bbbb\nspec:\n  cpu: '2'\n"
    logical = "Job/mbhealth/MigrationJob:migrate/migrate"
    lines = diff({logical: SynthObject(logical, "07-mbhealth-job-migrate-1111aaaa.yaml", "migrate-1111aaaa", before)},
                 {logical: SynthObject(logical, "07-mbhealth-job-migrate-2222bbbb.yaml", "migrate-2222bbbb", after)},
                 "HEAD")
    text = "".join(lines)
    assert f"# {logical}: renamed migrate-1111aaaa -> migrate-2222bbbb" in text
    assert "--- HEAD/07-mbhealth-job-migrate-1111aaaa.yaml\n+++ working tree/07-mbhealth-job-migrate-2222bbbb.yaml" in text
    changed = [line for line in lines if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert changed == ["-  name: migrate-1111aaaa\n", "+  name: migrate-2222bbbb\n", "-  cpu: '1'\n", "+  cpu: '2'\n"]


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    """A scratch git clone of the program (committed), for diffs against HEAD."""
    clone = tmp_path_factory.mktemp("diff") / "clone"
    subprocess.run(["git", "init", "-q", str(clone)], check=True)
    for item in ("Pulumi.yaml", "Pulumi.dev.yaml", "Pulumi.prod.yaml", "__main__.py", "components", "scripts", "apps/backend",
                 "apps/frontend"):
        source = REPO_ROOT / item
        target = clone / item
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=shutil.ignore_patterns("node_modules", "dist", "__pycache__", ".venv"))
        else:
            shutil.copy2(source, target)
    git(clone, "add", "-A")
    git(clone, "commit", "-qm", "base")
    return clone


def git(clone, *args):
    return subprocess.run(["git", "-C", str(clone), "-c", "user.name=t", "-c", "user.email=t@example.invalid", *args],
                          check=True, capture_output=True, text=True)


def run_diff(clone, stack, *extra):
    return subprocess.run([sys.executable, "scripts/manifest_diff.py", "--stack", stack, "--base", "HEAD", *extra],
                          cwd=clone, capture_output=True, text=True, timeout=300)


def edit(path, old, new):
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_diff_against_a_ref_shows_a_config_change(clone):
    """Change the dev log level in the working tree, diff against HEAD."""
    edit(clone / "Pulumi.dev.yaml", "logLevel: DEBUG", "logLevel: WARNING")
    try:
        run = run_diff(clone, "dev")
    finally:
        git(clone, "checkout", "-q", "--", "Pulumi.dev.yaml")
    assert run.returncode == 0, run.stderr  # changes are not an error (as `git diff`)
    assert "-  LOG_LEVEL: DEBUG" in run.stdout and "+  LOG_LEVEL: WARNING" in run.stdout
    # The ConfigMap is replaced under a new name and the pods' checksum moves with it.
    assert "checksum/config" in run.stdout
    assert "object(s) differ between HEAD and the working tree" in run.stdout
    # The new side is the working tree (uncommitted), not HEAD.
    assert "+++ working tree/" in run.stdout and "+++ HEAD/" not in run.stdout
    assert run.stdout.startswith("# dev: HEAD -> working tree")
    assert "image digests are stand-ins" in run.stdout

    same = run_diff(clone, "dev", "--exit-code")
    assert same.returncode == 0 and "no changes against HEAD" in same.stdout


def test_exit_code_only_when_asked(clone):
    edit(clone / "Pulumi.dev.yaml", "logLevel: DEBUG", "logLevel: ERROR")
    try:
        asked = run_diff(clone, "dev", "--exit-code")
    finally:
        git(clone, "checkout", "-q", "--", "Pulumi.dev.yaml")
    assert asked.returncode == 1, asked.stderr


def test_a_one_line_config_change_reads_as_a_small_diff(clone):
    """prod's backend CPU limit: the Deployment's line, and each Job's line plus its new name — not 351 lines."""
    edit(clone / "Pulumi.prod.yaml", 'limits: {cpu: "1", memory: 512Mi', 'limits: {cpu: "2", memory: 512Mi')
    try:
        run = run_diff(clone, "prod")
    finally:
        git(clone, "checkout", "-q", "--", "Pulumi.prod.yaml")
    assert run.returncode == 0, run.stderr
    changed = [line for line in run.stdout.splitlines() if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert len(changed) <= 12, run.stdout
    assert "renamed migrate-" in run.stdout and "renamed smoke-" in run.stdout
    assert "+++ /dev/null" not in run.stdout and "--- /dev/null" not in run.stdout
    assert sum(1 for line in changed if "cpu: '2'" in line or 'cpu: "2"' in line) >= 3


def test_a_dockerfile_change_shows_in_the_diff(clone):
    """The Dockerfile is excluded from the build context by .dockerignore, yet it decides the image."""
    edit(clone / "apps/backend/Dockerfile", "USER 10001:10001", "USER 0:0")
    try:
        run = run_diff(clone, "dev")
    finally:
        git(clone, "checkout", "-q", "--", "apps/backend/Dockerfile")
    assert run.returncode == 0, run.stderr
    assert "no changes" not in run.stdout
    assert "image: localhost:5000/mbhealth/backend@sha256:" in run.stdout


def test_a_mode_the_umask_decides_is_no_rebuild_but_a_note_and_the_executable_bit_is_one(clone):
    """pulumi-docker hashes each context file's full mode: a group-writable file (a checkout under umask 002)
    rebuilds under `pulumi up` from that tree, never in CI; the diff shows no image change and says so."""
    path = clone / "apps/backend/requirements.txt"
    try:
        path.chmod(0o664)
        umask = run_diff(clone, "dev", "--exit-code")
        path.chmod(0o755)
        executable = run_diff(clone, "dev", "--exit-code")
    finally:
        path.chmod(0o644)
    assert umask.returncode == 0, umask.stdout + umask.stderr
    assert "no changes against HEAD" in umask.stdout
    # Only the working tree's file, never the base's (exported as a checkout under umask 022 has it).
    assert "# image backend: 1 build context file(s) have a mode a checkout under umask 022 does not give " \
           "(apps/backend/requirements.txt: -rw-rw-r--)" in umask.stdout
    assert executable.returncode == 1, executable.stdout + executable.stderr
    assert "image: localhost:5000/mbhealth/backend@sha256:" in executable.stdout


def test_a_base_synthesized_before_objects_json_pairs_by_name_without_the_auto_name_suffix(tmp_path):
    from scripts.manifest_diff import read_synth

    old = tmp_path / "old"
    old.mkdir()
    (old / "07-mbhealth-job-migrate-1111aaaa.yaml").write_text(
        "kind: Job\nmetadata:\n  name: migrate-1111aaaa\n  namespace: mbhealth\n")
    (old / "08-mbhealth-deployment-backend.yaml").write_text(
        "kind: Deployment\nmetadata:\n  name: backend\n  namespace: mbhealth\n")
    synth = read_synth(old)
    assert not synth.indexed
    assert sorted(synth.objects) == ["Deployment/mbhealth/backend", "Job/mbhealth/migrate"]
    assert sorted(synth.by_name()) == sorted(synth.objects)
