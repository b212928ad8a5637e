"""`make synth` works with no Pulumi CLI, no Docker and no cluster, for every stack."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest
import yaml

from scripts.synth import REPO_ROOT


@pytest.mark.parametrize("stack, expected", [("dev", 26), ("prod", 27)])
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


def synth_cli(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "scripts/synth.py", *args], cwd=REPO_ROOT, capture_output=True, text=True,
                          timeout=timeout)


def edited_stack_file(tmp_path, stack: str, old: str, new: str):
    text = (REPO_ROOT / f"Pulumi.{stack}.yaml").read_text()
    assert old in text
    path = tmp_path / f"Pulumi.{stack}.yaml"
    path.write_text(text.replace(old, new))
    return path


def test_synth_cli_reports_bad_config_without_writing(tmp_path):
    stack_file = edited_stack_file(tmp_path, "dev", "imageTag: dev", "imageTag: latest")
    run = synth_cli("--stack", "dev", "--stack-file", str(stack_file), "--out", str(tmp_path / "out"))
    assert run.returncode == 2
    assert "mbhealth:imageTag: 'latest' is not allowed" in run.stderr
    assert "Traceback" not in run.stderr
    assert not (tmp_path / "out").exists()


def test_a_yaml_syntax_error_is_one_line_with_file_line_and_column(tmp_path):
    stack_file = edited_stack_file(tmp_path, "dev", "  mbhealth:logLevel: DEBUG\n", "  mbhealth:logLevel: DEBUG\n   bad: [\n")
    run = synth_cli("--stack", "dev", "--stack-file", str(stack_file), "--out", str(tmp_path / "out"))
    assert run.returncode == 2
    assert "Traceback" not in run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert re.search(r"Pulumi\.dev\.yaml:\d+:\d+: .+ \(YAML syntax\)", lines[0]), lines[0]


def test_a_duplicate_key_is_refused_not_silently_overwritten(tmp_path):
    stack_file = edited_stack_file(tmp_path, "dev", "  mbhealth:logLevel: DEBUG\n",
                                   "  mbhealth:logLevel: DEBUG\n  mbhealth:logLevel: INFO\n")
    run = synth_cli("--stack", "dev", "--stack-file", str(stack_file), "--out", str(tmp_path / "out"))
    assert run.returncode == 2
    assert "key 'mbhealth:logLevel' is already defined at line" in run.stderr


def test_a_failed_synth_leaves_no_stale_manifests(tmp_path):
    out = tmp_path / "out"
    good = synth_cli("--stack", "dev", "--out", str(out))
    assert good.returncode == 0, good.stderr
    assert len(list(out.glob("*.yaml"))) == 26
    stack_file = edited_stack_file(tmp_path, "dev", "imageTag: dev", "imageTag: latest")
    bad = synth_cli("--stack", "dev", "--stack-file", str(stack_file), "--out", str(out))
    assert bad.returncode == 2
    assert "removed" in bad.stderr and "no longer matches" in bad.stderr
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Pulumi.dev.yaml"]  # nothing half-written aside


def test_manifests_are_written_aside_and_swapped_in_whole(tmp_path):
    from scripts.manifest_files import write_manifests
    from scripts.synth import synthesize

    out = tmp_path / "out"
    out.mkdir()
    (out / "99-stale-object.yaml").write_text("kind: Stale\n")
    result = synthesize("dev")

    class Boom(RuntimeError):
        pass

    def broken_manifests(redacted=True):
        yield from []
        raise Boom("disk full")

    original = result.manifests
    result.manifests = broken_manifests  # type: ignore[method-assign]
    with pytest.raises(Boom):
        write_manifests(result, out)
    assert sorted(p.name for p in out.iterdir()) == ["99-stale-object.yaml"]  # untouched by the failed write
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # the aside directory is gone
    result.manifests = original  # type: ignore[method-assign]
    write_manifests(result, out)
    assert not (out / "99-stale-object.yaml").exists()
    assert len(list(out.glob("*.yaml"))) == 26


def test_synth_says_its_digests_are_stand_ins(tmp_path):
    run = synth_cli("--stack", "prod", "--out", str(tmp_path / "out"))
    assert run.returncode == 0, run.stderr
    assert "image digests are stand-ins" in run.stdout
    assert "not registry digests" in (tmp_path / "out" / "NOTES.txt").read_text()
