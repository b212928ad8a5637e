"""`make diff`: the offline manifest diff a reviewer reads on a pull request."""

from __future__ import annotations

import shutil
import subprocess
import sys

from scripts.manifest_diff import diff
from scripts.synth import REPO_ROOT


def test_diff_pairs_objects_by_name_not_position():
    base = {"ns-configmap-a.yaml": "data: 1\n", "ns-deployment-web.yaml": "image: x@sha256:1\n"}
    head = {"ns-deployment-web.yaml": "image: x@sha256:2\n", "ns-configmap-b.yaml": "data: 2\n"}
    text = "".join(diff(base, head, "main"))
    assert "--- main/ns-configmap-a.yaml\n+++ /dev/null" in text
    assert "--- /dev/null\n+++ HEAD/ns-configmap-b.yaml" in text
    assert "-image: x@sha256:1\n+image: x@sha256:2" in text
    assert diff(base, base, "main") == []


def test_diff_against_a_ref_shows_a_config_change(tmp_path):
    """In a scratch clone: commit, change the dev log level, diff against HEAD."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "init", "-q", str(clone)], check=True)
    for item in ("Pulumi.yaml", "Pulumi.dev.yaml", "__main__.py", "components", "scripts"):
        source = REPO_ROOT / item
        (shutil.copytree if source.is_dir() else shutil.copy2)(source, clone / item)
    git = ["git", "-C", str(clone), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "base"], check=True)
    stack_file = clone / "Pulumi.dev.yaml"
    stack_file.write_text(stack_file.read_text().replace("logLevel: DEBUG", "logLevel: WARNING"))

    run = subprocess.run([sys.executable, "scripts/manifest_diff.py", "--stack", "dev", "--base", "HEAD"],
                         cwd=clone, capture_output=True, text=True, timeout=180)
    assert run.returncode == 1, run.stderr
    assert "-  LOG_LEVEL: DEBUG" in run.stdout and "+  LOG_LEVEL: WARNING" in run.stdout
    # The ConfigMap is replaced under a new name and the pods' checksum moves with it.
    assert "checksum/config" in run.stdout
    assert "object(s) differ from HEAD" in run.stdout

    subprocess.run([*git, "checkout", "-q", "--", "Pulumi.dev.yaml"], check=True)
    same = subprocess.run([sys.executable, "scripts/manifest_diff.py", "--stack", "dev", "--base", "HEAD"],
                          cwd=clone, capture_output=True, text=True, timeout=180)
    assert same.returncode == 0 and "no changes against HEAD" in same.stdout
