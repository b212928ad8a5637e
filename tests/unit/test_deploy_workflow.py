"""deploy.yml's steps, run here as the runner would: its scripts (`python -m scripts.ci …`) against
stand-in tools (tests/unit/workflow_steps.py).

Issue 12, item 4: the prod job sets its secrets from the CI secret store, and what its
`pulumi config set` calls leave in the stack passes the program's real config rules (replayed
into `load_stack_config` under the mocks, with only the secrets the job set).
Item 5: a `v*` tag promotes the digests dev deployed and signed for the tagged commit (the
release record the dev deploy keeps by commit SHA), never whatever dev deployed last.
Issue 20: dev's and prod's passphrases are their own (4); a digest in dev's state that its registry
no longer serves is rebuilt and pushed (5); the first-ever dev deploy reads prod's registry from
Pulumi.prod.yaml (8); the build stages' cache images are carried between runners (9); a
self-managed state backend gets its cloud's credentials (13).
Schema, actionlint and pins: tests/policy/test_workflows.py; the YAML's shape: test_workflow_shape.py.
"""

from __future__ import annotations

import json
import re

import pytest

from components.build_specs import IMAGE_BUILDS
from scripts.synth import REPO_ROOT, synthesize
from tests.unit.workflow_steps import Runner, config_sets, load, require_tools, script_step

DIGEST = {name: f"sha256:{char * 64}" for name, char in (("backend", "a"), ("frontend", "b"))}
PROD_REGISTRY = "ghcr.io/mbhealth"  # Pulumi.prod.yaml's registry.server
TAGGED, LATER = "1" * 40, "2" * 40
DEV_PASSPHRASE = "mbhealth-dev-local"  # scripts/stack.sh: public, its salt committed in Pulumi.dev.yaml
# What the production environment's secret store holds (fake values of the right form).
CI_SECRETS = {
    "PROD_SECRET_KEY": "ci-secret-key-" + "k" * 40,
    "PROD_DATABASE_URL": "postgresql://mbhealth:ci-db-password@10.0.1.20:5432/mbhealth",
    "PROD_REDIS_URL": "rediss://:ci-redis-password@10.0.2.20:6380/0",
    "PROD_REGISTRY_PULL_PASSWORD": "ci-registry-read-token",
    "PROD_KUBECONFIG": "apiVersion: v1\nkind: Config\ncontexts:\n- name: prod-admin\n  context: {cluster: prod, user: ci}\n",
    "PROD_PULUMI_CONFIG_PASSPHRASE": "prod-passphrase-from-the-production-environment",
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
             "vars.PULUMI_BACKEND_URL": f"file://{tmp_path / 'state'}", "vars.STATE_AWS_REGION": "",
             "secrets.PULUMI_ACCESS_TOKEN": "", "secrets.STATE_AWS_ACCESS_KEY_ID": "",
             "secrets.STATE_AWS_SECRET_ACCESS_KEY": "",
             "secrets.PULUMI_CONFIG_PASSPHRASE": "one-passphrase-for-both",  # what no job may be given
             **{f"secrets.{k}": v for k, v in CI_SECRETS.items()}, **expressions}
    return Runner(tmp_path, table)


def run_step(run: Runner, deploy, job: str, command: str):
    return run.run(script_step(deploy["jobs"][job], command), job=deploy["jobs"][job], workflow=deploy)


def dev_images(seed: str) -> dict[str, str]:
    return {name: f"localhost:5000/mbhealth/{name}@sha256:{seed * 64}" for name in ("backend", "frontend")}


# ---- item 5: the dev deploy records its release by commit; a tag promotes exactly that ---------


def deploy_dev(tmp_path, deploy, commit: str, seed: str, state: list | None = None, **expressions):
    """Run the dev job's deploy step for `commit` (dev's stack then exports digests of `seed`;
    `state`: the resources dev's state holds before it)."""
    run = runner(tmp_path / f"dev-{commit[:4]}", commit, **expressions)
    run.answer(["pulumi", "stack", "output"], json.dumps(dev_images(seed)) + "\n")
    run.answer(["pulumi", "stack", "export"], json.dumps({"deployment": {"resources": state or []}}))
    return run_step(run, deploy, "dev", "deploy-dev"), run


def dev_records_its_release(tmp_path, deploy, commit: str, seed: str) -> tuple[dict, str, Runner]:
    """The release record the upload step uploads after the dev deploy of `commit`, its path, the runner."""
    result, run = deploy_dev(tmp_path, deploy, commit, seed)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(run.step_outputs()["images"]) == released(commit, seed)
    (upload,) = [s for s in deploy["jobs"]["dev"]["steps"] if s.get("uses", "").startswith("actions/upload-artifact@")]
    record = run.evaluate(upload["with"]["path"])
    assert run.evaluate(upload["with"]["name"]) == f"release-images-{commit}"
    assert upload["with"]["if-no-files-found"] == "error"
    return json.loads(open(record).read()), record, run


def release_copies(run: Runner) -> list[list[str]]:
    return [c["args"] for c in run.calls("skopeo") if c["args"][0] == "copy" and ":sha-" in c["args"][-1]]


def test_the_dev_deploy_records_the_digests_it_released_by_commit(tmp_path, deploy):
    record, _, run = dev_records_its_release(tmp_path, deploy, TAGGED, "c")
    assert record == {"commit": TAGGED, "images": released(TAGGED, "c")}
    # The copy keeps each digest and lands it in prod's registry under the commit's tag.
    copies = release_copies(run)
    assert {a[-1] for a in copies} == {f"docker://{PROD_REGISTRY}/mbhealth/{n}:sha-{TAGGED}" for n in ("backend", "frontend")}
    assert all("--preserve-digests" in a for a in copies)
    # Deployed at the commit's tag, through the policy pack, after the tag was set.
    pulumi = [c["args"] for c in run.calls("pulumi")]
    tag_at = pulumi.index(["config", "set", "--stack", "dev", "imageTag", TAGGED])
    (up_at,) = [i for i, a in enumerate(pulumi) if a[:1] == ["up"]]
    assert tag_at < up_at and "--policy-pack" in pulumi[up_at] and "--refresh" in pulumi[up_at]
    # The registry token reached skopeo on stdin only.
    (login,) = [c for c in run.calls("skopeo") if c["args"][0] == "login"]
    assert login["stdin"] == "ghs_fake" and "ghs_fake" not in json.dumps([c["args"] for c in run.calls("skopeo")])


def test_the_first_ever_dev_deploy_reads_prods_registry_from_its_committed_file(tmp_path, deploy):
    """Item 8: prod's stack does not exist before prod's first deploy; nothing asks its config."""
    record, _, run = dev_records_its_release(tmp_path, deploy, TAGGED, "c")
    assert not [c["args"] for c in run.calls("pulumi") if "prod" in c["args"]]
    assert all(ref.startswith(PROD_REGISTRY + "/") for ref in record["images"].values())


def built_image(name: str, seed: str) -> dict:
    return {"type": "docker:index/image:Image", "urn": f"urn:pulumi:dev::mbhealth::mbhealth:image:ContainerImage$docker:index/image:Image::{name}",
            "outputs": {"repoDigest": f"localhost:5000/mbhealth/{name}@sha256:{seed * 64}"}}


def test_an_image_its_registry_no_longer_serves_is_rebuilt_and_pushed(tmp_path, deploy):
    """Item 5: a new or emptied registry lacks the digests in state; only the missing one is replaced."""
    state = [built_image("backend", "e"), built_image("frontend", "f")]
    run = runner(tmp_path, TAGGED)
    run.answer(["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://localhost:5000/mbhealth/backend@sha256:{'e' * 64}"],
               "", 1)  # the registry answers 404: the backend's digest is gone
    run.answer(["pulumi", "stack", "output"], json.dumps(dev_images("c")))
    run.answer(["pulumi", "stack", "export"], json.dumps({"deployment": {"resources": state}}))
    result = run_step(run, deploy, "dev", "deploy-dev")
    assert result.returncode == 0, result.stdout + result.stderr
    (up,) = [c["args"] for c in run.calls("pulumi") if c["args"][:1] == ["up"]]
    assert [a for a in up if a.startswith("--replace")] == [f"--replace={state[0]['urn']}"]
    assert "is not served by its registry" in result.stdout


def test_the_build_stages_cache_images_are_kept_between_runners(tmp_path, deploy):
    """Item 9: pulumi-docker's cacheFrom reads `<repo>:buildcache-<stage>` (components/image.py);
    the deploy brings them from prod's registry before the build and keeps the new ones after."""
    state = [built_image("backend", "e"), built_image("frontend", "f")]
    run = runner(tmp_path, TAGGED)
    run.answer(["pulumi", "stack", "output"], json.dumps(dev_images("c")))
    run.answer(["pulumi", "stack", "export"], json.dumps({"deployment": {"resources": state}}))
    result = run_step(run, deploy, "dev", "deploy-dev")
    assert result.returncode == 0, result.stdout + result.stderr
    stages = {(name, stage) for name, spec in IMAGE_BUILDS.items() for stage in spec.stages}
    assert ("backend", "builder") in stages and ("frontend", "deps") in stages  # pip install, npm ci
    copies = [c["args"][-2:] for c in run.calls("skopeo") if c["args"][0] == "copy" and "buildcache-" in c["args"][-1]]
    pairs = {(f"docker://{PROD_REGISTRY}/mbhealth/{n}:buildcache-{s}", f"docker://localhost:5000/mbhealth/{n}:buildcache-{s}")
             for n, s in stages}
    assert {tuple(c) for c in copies} == pairs | {(b, a) for a, b in pairs}
    log = [(c["tool"], c["args"]) for c in map(json.loads, run.log.read_text().splitlines())]
    up_at = next(i for i, (tool, args) in enumerate(log) if tool == "pulumi" and args[:1] == ["up"])
    seeds = [i for i, (tool, args) in enumerate(log) if tool == "skopeo" and "docker://localhost:5000" in args[-1]
             and "buildcache-" in args[-1]]
    builds = [args for tool, args in log[up_at:] if tool == "docker" and args[0] == "build"]
    assert max(seeds) < up_at, "the cache is in dev's registry before the build"
    built = {(args[args.index("--tag") + 1], args[args.index("--target") + 1]) for args in builds}
    assert {(tag.split("/")[2].split(":")[0], target) for tag, target in built} == stages
    pushed = {args[-1] for tool, args in log[up_at:] if tool == "docker" and args[0] == "push"}
    assert pushed == {tag for tag, _ in built}

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
    return run_step(run, deploy, "prod-images", "release-images"), run


def test_a_tag_promotes_the_tagged_commits_release_not_devs_latest(tmp_path, deploy):
    tagged, tagged_file, _ = dev_records_its_release(tmp_path, deploy, TAGGED, "c")
    later, later_file, _ = dev_records_its_release(tmp_path, deploy, LATER, "d")  # dev moved on since
    result, run = prod_images(tmp_path, deploy, TAGGED, {TAGGED: (101, tagged_file), LATER: (102, later_file)})
    assert result.returncode == 0, result.stdout + result.stderr
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
    assert f"::error::commit {TAGGED} has no successful dev deploy on main" in result.stdout
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
    (step,) = [s for s in chain["jobs"]["verify"]["steps"] if "cosign verify" in s.get("run", "")]
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

VERSION_EXPRESSION = "github.event_name == 'workflow_dispatch' && inputs.version || github.ref_name"


def prod_job(tmp_path, deploy, secrets=None):
    """Run the prod job's promote step as the runner would; the result and the runner."""
    table = {f"secrets.{k}": v for k, v in (secrets or CI_SECRETS).items()}
    run = runner(tmp_path, TAGGED, **table, **{
        "needs.prod-images.outputs.images": json.dumps(released(TAGGED, "c")),
        "github.event_name": "push", "inputs.version": "", "github.ref_name": "v1.4.2", VERSION_EXPRESSION: "v1.4.2"})
    return run_step(run, deploy, "prod", "promote-prod"), run


def test_the_prod_job_sets_its_secrets_and_the_config_passes_the_programs_rules(tmp_path, deploy):
    result, run = prod_job(tmp_path, deploy)
    assert result.returncode == 0, result.stdout + result.stderr
    config = config_sets(run.calls("pulumi"))
    assert config.stacks == {"prod"}
    assert config.secrets == {"secretKey": CI_SECRETS["PROD_SECRET_KEY"], "databaseUrl": CI_SECRETS["PROD_DATABASE_URL"],
                              "redisUrl": CI_SECRETS["PROD_REDIS_URL"],
                              "registryPullPassword": CI_SECRETS["PROD_REGISTRY_PULL_PASSWORD"]}
    # No secret value ever appears on a command line (where process listings and logs show it), nor in the log.
    argv = json.dumps([c["args"] for tool in ("pulumi", "kubectl") for c in run.calls(tool)])
    assert not any(value in argv or value in result.stdout for value in CI_SECRETS.values())
    # `pulumi up` of prod through the policy pack, on the cluster of PROD_KUBECONFIG (its one context).
    (up,) = [c for c in run.calls("pulumi") if c["args"][:1] == ["up"]]
    assert up["args"][:3] == ["up", "--stack", "prod"] and "--policy-pack" in up["args"]
    assert up["env"]["KUBECONFIG"].startswith(str(tmp_path)) and up["env"]["KUBE_CONTEXT"] == "prod-admin"
    # Pulumi.prod.yaml plus exactly what the job set, with only the secrets it set: the program's
    # own config rules (load_stack_config under the mocks) accept it, and it promotes the digests.
    result = synthesize("prod", overrides=config.plain, secrets=config.secrets)
    assert [r for r in result.resources if r.type == "docker:index/image:Image"] == []
    assert result.exports["images"] == released(TAGGED, "c")
    assert result.get("Deployment", "backend").manifest["metadata"]["labels"]["app.kubernetes.io/version"] == "1.4.2"


@pytest.mark.parametrize("missing", ["PROD_SECRET_KEY", "PROD_DATABASE_URL", "PROD_REDIS_URL",
                                     "PROD_REGISTRY_PULL_PASSWORD"])
def test_a_missing_ci_secret_stops_the_job_naming_the_config_key(tmp_path, deploy, missing):
    result, run = prod_job(tmp_path, deploy, secrets={**CI_SECRETS, missing: ""})
    assert result.returncode == 1, "the job went on without " + missing
    key = {"PROD_SECRET_KEY": "secretKey", "PROD_DATABASE_URL": "databaseUrl", "PROD_REDIS_URL": "redisUrl",
           "PROD_REGISTRY_PULL_PASSWORD": "registryPullPassword"}[missing]
    assert f"::error::the secret for mbhealth:{key} is empty: set {missing} in the production environment" in result.stdout
    assert not [c for c in run.calls("pulumi") if c["args"][:1] == ["up"]]


def test_a_kubeconfig_of_several_contexts_stops_the_job_before_any_change(tmp_path, deploy):
    """The deploy names its one context explicitly; which of several is meant is not guessed."""
    two = CI_SECRETS["PROD_KUBECONFIG"] + "- name: staging-admin\n  context: {cluster: staging, user: ci}\n"
    result, run = prod_job(tmp_path, deploy, secrets={**CI_SECRETS, "PROD_KUBECONFIG": two})
    assert result.returncode == 1 and "::error::KUBECONFIG_DATA: the kubeconfig names 2 contexts" in result.stdout
    assert not run.calls("pulumi")


def test_the_secrets_are_set_before_pulumi_up_and_documented(tmp_path, deploy):
    result, run = prod_job(tmp_path, deploy)
    assert result.returncode == 0, result.stdout + result.stderr
    calls = [c["args"] for c in run.calls("pulumi")]
    secrets_at = max(i for i, a in enumerate(calls) if a[:3] == ["config", "set", "--secret"])
    up_at = next(i for i, a in enumerate(calls) if a[:1] == ["up"])
    assert secrets_at < up_at, calls
    used = set(re.findall(r"secrets\.(PROD_[A-Z_]+)", (REPO_ROOT / ".github/workflows/deploy.yml").read_text()))
    assert used == set(CI_SECRETS)
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("### Secrets in CI", 1)[1].split("\n## ", 1)[0]
    for name in used:
        assert f"`{name}`" in section, name
    assert deploy["env"]["PULUMI_FALLBACK_TO_STATE_SECRETS_MANAGER"] == "true"


# ---- issue 20 item 4: each stack its own passphrase -------------------------------------------


def test_dev_uses_its_public_passphrase_and_prod_its_own_secret_one(tmp_path, deploy):
    _, _, dev = dev_records_its_release(tmp_path, deploy, TAGGED, "c")
    assert {c["env"].get("PULUMI_CONFIG_PASSPHRASE") for c in dev.calls("pulumi")} == {DEV_PASSPHRASE}
    result, prod = prod_job(tmp_path / "prod", deploy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert {c["env"].get("PULUMI_CONFIG_PASSPHRASE") for c in prod.calls("pulumi")} == {
        CI_SECRETS["PROD_PULUMI_CONFIG_PASSPHRASE"]}
    # No job is given a passphrase shared by both stacks.
    for name in ("deploy.yml", "preview.yml"):
        assert "secrets.PULUMI_CONFIG_PASSPHRASE" not in (REPO_ROOT / ".github/workflows" / name).read_text(), name


# ---- issue 20 item 13: a self-managed state backend gets its cloud's credentials --------------


def test_an_s3_state_backend_needs_and_gets_the_jobs_cloud_credentials(tmp_path, deploy):
    s3 = {"vars.PULUMI_BACKEND_URL": "s3://mbhealth-state?region=eu-west-1", "vars.STATE_AWS_REGION": "eu-west-1"}
    result, run = deploy_dev(tmp_path / "none", deploy, TAGGED, "c", **s3)
    assert result.returncode == 1 and not run.calls("pulumi")
    assert "::error::PULUMI_BACKEND_URL is s3://…: the job has no credentials for it" in result.stdout
    assert "AWS_ACCESS_KEY_ID" in result.stdout
    keys = {"secrets.STATE_AWS_ACCESS_KEY_ID": "AKIAFAKE", "secrets.STATE_AWS_SECRET_ACCESS_KEY": "fake-secret"}
    result, run = deploy_dev(tmp_path / "given", deploy, TAGGED, "c", **s3, **keys)
    assert result.returncode == 0, result.stdout + result.stderr
    assert {c["env"].get("AWS_ACCESS_KEY_ID") for c in run.calls("pulumi")} == {"AKIAFAKE"}
    assert {c["env"]["PULUMI_BACKEND_URL"] for c in run.calls("pulumi")} == {s3["vars.PULUMI_BACKEND_URL"]}
