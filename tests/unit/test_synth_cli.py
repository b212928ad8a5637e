"""`make synth` works with no Pulumi CLI, no Docker and no cluster, for every stack."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
import yaml

from scripts.synth import REPO_ROOT


@pytest.mark.parametrize("stack, expected", [("dev", 26), ("prod", 25)])
def test_synth_cli_writes_every_object(stack, expected, tmp_path):
    # A PATH without pulumi, docker or kubectl proves none of them is needed.
    bare = tmp_path / "bin"
    bare.mkdir()
    env = {"PATH": str(bare), "HOME": str(tmp_path)}
    for tool in ("pulumi", "docker", "kubectl"):
        assert shutil.which(tool, path=env["PATH"]) is None
    out = tmp_path / "manifests"
    run = subprocess.run([sys.executable, "scripts/synth.py", "--stack", stack, "--out", str(out)],
                         cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    files = sorted(out.glob("*.yaml"))
    assert len(files) == expected
    kinds = {yaml.safe_load(f.read_text())["kind"] for f in files}
    assert {"Namespace", "Deployment", "Service", "Job", "Ingress", "NetworkPolicy", "ConfigMap", "Secret"} <= kinds
    assert f"{expected} Kubernetes objects" in run.stdout


def test_synth_cli_reports_bad_config_without_writing(tmp_path):
    stack_file = REPO_ROOT / "Pulumi.dev.yaml"
    env = dict(os.environ)
    code = (
        "import sys; sys.argv=['synth','--stack','dev','--out',sys.argv[1]];"
        "import scripts.synth as s;"
        "orig=s.stack_config;"
        "s.stack_config=lambda st, path=None: {**orig(st), 'mbhealth:imageTag': 'latest'};"
        "sys.exit(s.main())"
    )
    run = subprocess.run([sys.executable, "-c", code, str(tmp_path / "out")], cwd=REPO_ROOT, env=env,
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 2
    assert "mbhealth:imageTag: 'latest' is not allowed" in run.stderr
    assert not (tmp_path / "out").exists()
    assert stack_file.exists()
