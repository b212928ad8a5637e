"""deploy.yml's own scripts, run here against stand-in tools (tests/unit/workflow_steps.py).

Issue 12, item 4: the prod job sets its secrets from the CI secret store, and what its
`pulumi config set` steps leave in the stack passes the program's real config rules (replayed
into `load_stack_config` under the mocks, with only the secrets the workflow set).
Item 5: a `v*` tag promotes the digests dev deployed and signed for the tagged commit (the
release record the dev deploy keeps by commit SHA), never whatever dev deployed last.
Schema, actionlint and pins: tests/policy/test_workflows.py.
"""

from __future__ import annotations

import json
import re

import pytest

from scripts.synth import REPO_ROOT, synthesize
from tests.unit.workflow_steps import Runner, config_sets, load, require_tools, steps_running

DIGEST = {name: f"sha256:{char * 64}" for name, char in (("backend", "a"), ("frontend", "b"))}
PROD_REGISTRY = "ghcr.io/mbhealth"
TAGGED, LATER = "1" * 40, "2" * 40
# What the production environment's secret store holds (fake values of the right form).
CI_SECRETS = {
    "PROD_SECRET_KEY": "ci-secret-key-" + "k" * 40,
    "PROD_DATABASE_URL": "postgresql://mbhealth:ci-db-password@10.0.1.20:5432/mbhealth",
    "PROD_REDIS_URL": "rediss://:ci-redis-password@10.0.2.20:6380/0",
    "PROD_REGISTRY_PULL_PASSWORD": "ci-registry-read-token",
    "PROD_KUBECONFIG": "apiVersion: v1\nkind: Config\n",
}


@pytest.fixture(scope="module")
def deploy():
    require_tools()
    return load("deploy.yml")


def released(commit: str, seed: str) -> dict[str, str]:
    return {name: f"{PROD_REGISTRY}/mbhealth/{name}@sha256:{seed * 64}" for name in ("backend", "frontend")}


def runner(tmp_path, sha: str, **expressions) -> Runner:
    table = {"github.sha": sha, "github.token": "ghs_fake", "github.repository": "acme/mbhealth",
             "github.actor": "ci-bot", "secrets.GITHUB_TOKEN": "ghs_fake",
             **{f"secrets.{k}": v for k, v in CI_SECRETS.items()}, **expressions}
    return Runner(tmp_path, table)


# ---- item 5: the dev deploy records its release by commit; a tag promotes exactly that ---------


def dev_records_its_release(tmp_path, deploy, commit: str, seed: str) -> tuple[dict, str, Runner]:
    """Run the dev job's copy step for `commit` (dev's stack exports digests of `seed`); return the
    release record the upload step uploads, its path, and the runner."""
    run = runner(tmp_path / f"dev-{commit[:4]}", commit)
    dev_images = {name: f"localhost:5000/mbhealth/{name}@sha256:{seed * 64}" for name in ("backend", "frontend")}
    run.answer(["pulumi", "config", "get"], PROD_REGISTRY + "\n")
    run.answer(["pulumi", "stack", "output"], json.dumps(dev_images) + "\n")
    (copy,) = steps_running(deploy["jobs"]["dev"], "skopeo copy")
    result = run.run(copy)
    assert result.returncode == 0, result.stderr
    assert json.loads(run.step_outputs()["images"]) == released(commit, seed)
    (upload,) = [s for s in deploy["jobs"]["dev"]["steps"] if s.get("uses", "").startswith("actions/upload-artifact@")]
    record = run.evaluate(upload["with"]["path"])
    assert run.evaluate(upload["with"]["name"]) == f"release-images-{commit}"
    assert upload["with"]["if-no-files-found"] == "error"
    return json.loads(open(record).read()), record, run


def test_the_dev_deploy_records_the_digests_it_released_by_commit(tmp_path, deploy):
    record, _, run = dev_records_its_release(tmp_path, deploy, TAGGED, "c")
    assert record == {"commit": TAGGED, "images": released(TAGGED, "c")}
    # The copy keeps each digest and lands it in prod's registry under the commit's tag.
    copies = [c["args"] for c in run.calls("skopeo") if c["args"][0] == "copy"]
    assert {a[-1] for a in copies} == {f"docker://{PROD_REGISTRY}/mbhealth/{n}:sha-{TAGGED}" for n in ("backend", "frontend")}
    assert all("--preserve-digests" in a for a in copies)


def prod_images(tmp_path, deploy, sha: str, runs: dict[str, tuple[int, str]]) -> tuple[object, Runner]:
    """Run prod-images for a tag of `sha`; `runs` are the successful dev deploys on main, by commit."""
    run = runner(tmp_path / f"prod-{sha[:4]}", sha)
    for commit, (run_id, record) in runs.items():
        # `gh run download <run> --name release-images-<commit>` gets that run's record ...
        run.answer(["gh", "run", "download", str(run_id), "--repo", "acme/mbhealth", "--name",
                    f"release-images-{commit}"], "", 0, copy=record)
        # ... and `gh run list ... --commit <commit>` finds only that commit's run (argv prefix match).
        run.answer(["gh", "run", "list", "--repo", "acme/mbhealth", "--workflow", "deploy.yml", "--branch", "main",
                    "--event", "push", "--commit", commit], f"{run_id}\n")
    (step,) = steps_running(deploy["jobs"]["prod-images"], "release-images")
    return run.run(step), run


def test_a_tag_promotes_the_tagged_commits_release_not_devs_latest(tmp_path, deploy):
    tagged, tagged_file, _ = dev_records_its_release(tmp_path, deploy, TAGGED, "c")
    later, later_file, _ = dev_records_its_release(tmp_path, deploy, LATER, "d")  # dev moved on since
    result, run = prod_images(tmp_path, deploy, TAGGED, {TAGGED: (101, tagged_file), LATER: (102, later_file)})
    assert result.returncode == 0, result.stderr
    outputs = run.step_outputs()
    assert json.loads(outputs["images"]) == tagged["images"] != later["images"]
    assert outputs["registry"] == "ghcr.io"
    (listing,) = [c["args"] for c in run.calls("gh") if c["args"][:2] == ["run", "list"]]
    for flag, value in (("--workflow", "deploy.yml"), ("--branch", "main"), ("--event", "push"),
                        ("--commit", TAGGED), ("--status", "success")):
        assert listing[listing.index(flag) + 1] == value, flag
    assert not run.calls("pulumi")  # dev's stack outputs (its latest deploy) are never read


def test_a_commit_dev_never_deployed_cannot_be_promoted(tmp_path, deploy):
    _, later_file, _ = dev_records_its_release(tmp_path, deploy, LATER, "d")
    result, run = prod_images(tmp_path, deploy, TAGGED, {LATER: (102, later_file)})
    assert result.returncode == 1
    assert f"commit {TAGGED} has no successful dev deploy on main" in result.stdout
    assert "images" not in run.step_outputs()


def test_a_release_record_of_another_commit_is_refused(tmp_path, deploy):
    _, later_file, _ = dev_records_its_release(tmp_path, deploy, LATER, "d")
    result, run = prod_images(tmp_path, deploy, TAGGED, {TAGGED: (101, later_file)})  # wrong record under its name
    assert result.returncode == 1 and "is not commit" in result.stdout
    assert "images" not in run.step_outputs()


def test_verify_accepts_only_signatures_made_for_the_promoted_commit(tmp_path, deploy):
    verify = deploy["jobs"]["verify"]
    assert verify["with"]["signer-sha"] == "${{ github.sha }}"
    assert verify["with"]["images"] == "${{ needs.prod-images.outputs.images }}"
    chain = load("supply-chain.yml")
    assert chain["on"]["workflow_call"]["inputs"]["signer-sha"]["default"] == ""
    (step,) = steps_running(chain["jobs"]["verify"], "cosign verify")
    ref = released(TAGGED, "c")["backend"]
    for sha, expected in ((TAGGED, ["--certificate-github-workflow-sha", TAGGED]), ("", [])):
        run = Runner(tmp_path / f"verify-{sha[:4] or 'any'}", {
            "matrix.image.ref": ref, "github.repository": "acme/mbhealth", "inputs.signer-workflow": "deploy",
            "inputs.signer-ref": "refs/heads/main", "inputs.signer-trigger": "push", "inputs.signer-sha": sha})
        result = run.run(step)
        assert result.returncode == 0, result.stderr
        for call in run.calls("cosign"):
            args = call["args"]
            found = args[args.index("--certificate-github-workflow-sha"):][:2] if expected else []
            assert found == expected and args[-1] == ref, args


# ---- item 4: the prod job's config passes the program's rules ---------------------------------


def prod_job_config(tmp_path, deploy, secrets=None):
    """Run every step of the prod job that talks to pulumi, as the runner would; replay its config."""
    table = {f"secrets.{k}": v for k, v in (secrets or CI_SECRETS).items()}
    run = runner(tmp_path, TAGGED, **table, **{
        "needs.prod-images.outputs.images": json.dumps(released(TAGGED, "c")),
        "github.event_name": "push", "inputs.version": "", "github.ref_name": "v1.4.2",
        "github.event_name == 'workflow_dispatch' && inputs.version || github.ref_name": "v1.4.2"})
    results = [run.run(step) for step in steps_running(deploy["jobs"]["prod"], "pulumi ", "KUBECONFIG")]
    return results, run


def test_the_prod_job_sets_its_secrets_and_the_config_passes_the_programs_rules(tmp_path, deploy):
    results, run = prod_job_config(tmp_path, deploy)
    assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
    config = config_sets(run.calls("pulumi"))
    assert config.stacks == {"prod"}
    assert config.secrets == {"secretKey": CI_SECRETS["PROD_SECRET_KEY"], "databaseUrl": CI_SECRETS["PROD_DATABASE_URL"],
                              "redisUrl": CI_SECRETS["PROD_REDIS_URL"],
                              "registryPullPassword": CI_SECRETS["PROD_REGISTRY_PULL_PASSWORD"]}
    # No secret value ever appears on a command line (where process listings and logs show it).
    argv = json.dumps([c["args"] for c in run.calls("pulumi")])
    assert not any(value in argv for value in CI_SECRETS.values())
    # Pulumi.prod.yaml plus exactly what the job set, with only the secrets it set: the program's
    # own config rules (load_stack_config under the mocks) accept it, and it promotes the digests.
    result = synthesize("prod", overrides=config.plain, secrets=config.secrets)
    assert [r for r in result.resources if r.type == "docker:index/image:Image"] == []
    assert result.exports["images"] == released(TAGGED, "c")
    assert result.get("Deployment", "backend").manifest["metadata"]["labels"]["app.kubernetes.io/version"] == "1.4.2"


@pytest.mark.parametrize("missing", ["PROD_SECRET_KEY", "PROD_DATABASE_URL", "PROD_REDIS_URL",
                                     "PROD_REGISTRY_PULL_PASSWORD"])
def test_a_missing_ci_secret_stops_the_job_naming_the_config_key(tmp_path, deploy, missing):
    results, run = prod_job_config(tmp_path, deploy, secrets={**CI_SECRETS, missing: ""})
    failed = [r for r in results if r.returncode != 0]
    assert failed, "the job went on without " + missing
    key = {"PROD_SECRET_KEY": "secretKey", "PROD_DATABASE_URL": "databaseUrl", "PROD_REDIS_URL": "redisUrl",
           "PROD_REGISTRY_PULL_PASSWORD": "registryPullPassword"}[missing]
    assert f"::error::the secret for mbhealth:{key} is empty" in failed[0].stdout


def test_the_secrets_are_set_before_pulumi_up_and_documented(deploy):
    steps = deploy["jobs"]["prod"]["steps"]
    names = [s.get("name", s.get("uses", "")) for s in steps]
    secrets_at = next(i for i, s in enumerate(steps) if "set --secret" in s.get("run", ""))
    up_at = next(i for i, s in enumerate(steps) if s.get("with", {}).get("command") == "up")
    assert secrets_at < up_at, names
    used = set(re.findall(r"secrets\.(PROD_[A-Z_]+)", (REPO_ROOT / ".github/workflows/deploy.yml").read_text()))
    assert used == set(CI_SECRETS)
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("### Secrets in CI", 1)[1].split("\n## ", 1)[0]
    for name in used:
        assert f"`{name}`" in section, name
    assert deploy["env"]["PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER"] == "true"
