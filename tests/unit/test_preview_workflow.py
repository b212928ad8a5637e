"""preview.yml's steps, run here as the runner would: its scripts (`python -m scripts.ci …`) against
stand-in tools (tests/unit/workflow_steps.py).

Issue 20: the prod preview runs with the `preview` environment's preview-only credentials and
previews what the deploy does, promoting dev's digests (3, 16); dev previews with the tag its last
deploy ran, and a stack never deployed is reported, not failed (6); Dependabot's pull requests skip
the Pulumi preview with a summary line (7); each stack's comment is posted once, then edited, and
stays under GitHub's comment size.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from scripts.ci.comments import LIMIT
from scripts.synth import REPO_ROOT
from tests.unit.workflow_steps import Runner, load, require_tools, script_step

SHA = "3" * 40
DEPLOYED_TAG = "4" * 40  # what main's last dev deploy set
PR = {"number": 7, "head": {"repo": {"full_name": "acme/mbhealth"}}, "user": {"login": "alice"}}
PREVIEW_SECRETS = {
    "PULUMI_PREVIEW_ACCESS_TOKEN": "pul-preview-only",
    "PROD_PREVIEW_KUBECONFIG": "apiVersion: v1\nkind: Config\ncontexts:\n- name: prod-readonly\n  context: {cluster: prod, user: viewer}\n",
    "PROD_PREVIEW_PULUMI_CONFIG_PASSPHRASE": "",
    "PREVIEW_STATE_AWS_ACCESS_KEY_ID": "", "PREVIEW_STATE_AWS_SECRET_ACCESS_KEY": "",
}
SECURE = {"secure": "v1:c2VjcmV0LWNpcGhlcnRleHQ="}  # a ciphertext, as the backend keeps it


@pytest.fixture(scope="module")
def preview():
    require_tools()
    return load("preview.yml")


@pytest.fixture(autouse=True)
def stack_files_unchanged():
    """The scripts edit the checkout's stack files only while a preview runs; they are left as they were."""
    before = {path: path.read_text() for path in REPO_ROOT.glob("Pulumi.*.yaml")}
    yield
    after = {path: path.read_text() for path in before}
    for path, text in before.items():
        path.write_text(text)
    assert after == before, "a stack file of the checkout was left changed"


def runner(tmp_path, stack: str, event=PR) -> Runner:
    prod = stack == "prod"
    table = {"github.token": "ghs_fake", "github.repository": "acme/mbhealth", "github.sha": SHA, "matrix.stack": stack,
             # prod on Pulumi Cloud (the preview token), dev in a file backend
             "vars.PULUMI_BACKEND_URL": "" if prod else f"file://{tmp_path / 'state'}", "vars.STATE_AWS_REGION": "",
             "github.base_ref": "main",
             **{f"secrets.{k}": v for k, v in PREVIEW_SECRETS.items()},
             "matrix.stack == 'prod' && secrets.PROD_PREVIEW_PULUMI_CONFIG_PASSPHRASE || ''":
                 "prod-preview-passphrase" if prod else "",
             "matrix.stack == 'dev' && 'kind-mbhealth' || ''": "" if prod else "kind-mbhealth",
             "matrix.stack == 'prod' && secrets.PROD_PREVIEW_KUBECONFIG || ''":
                 PREVIEW_SECRETS["PROD_PREVIEW_KUBECONFIG"] if prod else ""}
    run = Runner(tmp_path, table)
    run.event({"pull_request": event})
    return run


def deployed_file(tmp_path, stack: str, **config) -> str:
    """The stack file as its last update ran it (what `pulumi config refresh` writes)."""
    text = yaml.safe_load((REPO_ROOT / f"Pulumi.{stack}.yaml").read_text())
    text["config"].update({f"mbhealth:{k}": v for k, v in config.items()})
    path = tmp_path / f"deployed-{stack}.yaml"
    path.write_text(yaml.safe_dump(text))
    return path


def preview_stack(tmp_path, preview, stack: str, *, exists=True, deployed=None, dev_images=None, comment_id="",
                  output="Previewing update (prod):\n  pulumi:pulumi:Stack mbhealth-prod\nResources: 20 unchanged\n",
                  event=PR):
    run = runner(tmp_path, stack, event)
    run.answer(["pulumi", "stack", "ls"], json.dumps([{"name": stack}] if exists else []))
    if deployed:
        run.answer(["pulumi", "config", "refresh"], "", 0, copy=deployed, to=REPO_ROOT / f"Pulumi.{stack}.yaml")
    if dev_images:
        run.answer(["pulumi", "stack", "output", "--stack", "dev"], json.dumps(dev_images))
    run.answer(["pulumi", "preview"], output)
    run.answer(["gh", "api", "--paginate"], f"{comment_id}\n" if comment_id else "")
    job = preview["jobs"]["pulumi-preview"]
    result = run.run(script_step(job, "preview"), job=job, workflow=preview,
                     env={"FAKE_SNAPSHOT": str(REPO_ROOT / f"Pulumi.{stack}.yaml")})
    return result, run


def previewed(run: Runner) -> tuple[dict, dict]:
    (call,) = [c for c in run.calls("pulumi") if c["args"][:1] == ["preview"]]
    return call, yaml.safe_load(call["snapshot"])


def test_prod_previews_the_promotion_of_devs_digests_with_preview_only_credentials(tmp_path, preview):
    """Items 3 and 16: prod's preview has the read-only kubeconfig and the preview token, and the
    stack it previews promotes dev's release (digests in prod's registry), with prod's deployed
    secrets (their ciphertext) and release name: no build, no secret value given to the job."""
    deployed = deployed_file(tmp_path, "prod", imageTag="1.4.2", secretKey=SECURE, databaseUrl=SECURE)
    dev = {"backend": f"localhost:5000/mbhealth/backend@sha256:{'c' * 64}",
           "frontend": f"localhost:5000/mbhealth/frontend@sha256:{'d' * 64}"}
    result, run = preview_stack(tmp_path, preview, "prod", deployed=deployed, dev_images=dev)
    assert result.returncode == 0, result.stdout + result.stderr
    call, stack_file = previewed(run)
    assert call["args"][:3] == ["preview", "--stack", "prod"] and "--policy-pack" in call["args"]
    assert call["env"]["KUBE_CONTEXT"] == "prod-readonly" and call["env"]["KUBECONFIG"].startswith(str(tmp_path))
    assert call["env"]["PULUMI_ACCESS_TOKEN"] == "pul-preview-only"
    assert call["env"]["PULUMI_BACKEND_URL"] == "https://api.pulumi.com"
    config = stack_file["config"]
    assert config["mbhealth:images"] == {"source": "digests", "digests": {
        "backend": f"ghcr.io/mbhealth/mbhealth/backend@sha256:{'c' * 64}",
        "frontend": f"ghcr.io/mbhealth/mbhealth/frontend@sha256:{'d' * 64}"}}
    assert config["mbhealth:secretKey"] == SECURE and config["mbhealth:databaseUrl"] == SECURE
    assert config["mbhealth:imageTag"] == "1.4.2"
    assert not run.calls("docker")
    # dev's outputs are read with dev's own (public) passphrase, prod's with prod's.
    (outputs,) = [c for c in run.calls("pulumi") if c["args"][:4] == ["stack", "output", "--stack", "dev"]]
    assert outputs["env"]["PULUMI_CONFIG_PASSPHRASE"] == "mbhealth-dev-local"
    assert call["env"]["PULUMI_CONFIG_PASSPHRASE"] == "prod-preview-passphrase"


def test_prods_preview_without_its_kubeconfig_stops_naming_the_secret(tmp_path, preview):
    run = runner(tmp_path, "prod")
    run.expressions["matrix.stack == 'prod' && secrets.PROD_PREVIEW_KUBECONFIG || ''"] = ""
    job = preview["jobs"]["pulumi-preview"]
    result = run.run(script_step(job, "preview"), job=job, workflow=preview)
    assert result.returncode == 1 and "::error::KUBECONFIG_DATA is empty: set PROD_PREVIEW_KUBECONFIG" in result.stdout
    assert not run.calls("pulumi")


def test_the_preview_job_has_only_preview_credentials(preview):
    """Item 16: any same-repository pull request can edit preview.yml; no secret it could name
    deploys. The job's secrets are the `preview` environment's, none of deploy.yml's."""
    job = preview["jobs"]["pulumi-preview"]
    assert job["environment"] == "preview"
    text = (REPO_ROOT / ".github/workflows/preview.yml").read_text()
    used = set(re.findall(r"secrets\.([A-Z_]+)", text))
    assert used == set(PREVIEW_SECRETS)
    deploying = set(re.findall(r"secrets\.([A-Z_]+)", (REPO_ROOT / ".github/workflows/deploy.yml").read_text()))
    assert not used & deploying
    section = (REPO_ROOT / "README.md").read_text().split("### Secrets in CI", 1)[1].split("\n## ", 1)[0]
    for name in used:
        assert f"`{name}`" in section, name


def test_dev_previews_with_the_tag_its_last_deploy_ran(tmp_path, preview):
    """Item 6: main deploys dev with imageTag = its commit; a preview with the file's `dev` would
    show every image and workload changed."""
    deployed = deployed_file(tmp_path, "dev", imageTag=DEPLOYED_TAG)
    result, run = preview_stack(tmp_path, preview, "dev", deployed=deployed)
    assert result.returncode == 0, result.stdout + result.stderr
    call, stack_file = previewed(run)
    assert stack_file["config"]["mbhealth:imageTag"] == DEPLOYED_TAG
    assert call["env"]["KUBE_CONTEXT"] == "kind-mbhealth"
    assert call["env"]["PULUMI_CONFIG_PASSPHRASE"] == "mbhealth-dev-local"
    assert "mbhealth:images" not in stack_file["config"]  # dev builds, as its deploy does
    assert f"imageTag `{DEPLOYED_TAG}`" in run.summary_text()


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_a_stack_never_deployed_is_reported_not_failed(tmp_path, preview, stack):
    """Item 6: a preview's credentials cannot create a stack; its comment says so."""
    result, run = preview_stack(tmp_path, preview, stack, exists=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert [c["args"][:2] for c in run.calls("pulumi")] == [["stack", "ls"]]
    assert f"Stack `{stack}` has never been deployed" in run.summary_text()
    (post,) = [c for c in run.calls("gh") if "POST" in c["args"]]
    assert json.loads(post["stdin"])["body"].startswith(f"<!-- mbhealth-pulumi-preview:{stack} -->\n")


def test_dependabots_pull_requests_skip_the_pulumi_preview_with_a_summary_line(tmp_path, preview):
    """Item 7: Dependabot's pull requests get no Actions secrets; the preview would fail."""
    result, run = preview_stack(tmp_path, preview, "dev", event={**PR, "user": {"login": "dependabot[bot]"}})
    assert result.returncode == 0, result.stdout + result.stderr
    assert not run.calls("pulumi") and not run.calls("gh")
    assert "skipped: Dependabot's pull requests get no Actions secrets" in run.summary_text()


def test_one_comment_per_stack_posted_then_edited_and_within_githubs_size(tmp_path, preview):
    huge = "  ~ kubernetes:apps/v1:Deployment backend update [diff: ~spec]\n" * 5000  # 300k characters
    deployed = deployed_file(tmp_path, "dev", imageTag=DEPLOYED_TAG)
    first, run = preview_stack(tmp_path / "first", preview, "dev", deployed=deployed, output=huge)
    assert first.returncode == 0, first.stdout + first.stderr
    (post,) = [c for c in run.calls("gh") if "POST" in c["args"]]
    assert post["args"][-3:] == ["repos/acme/mbhealth/issues/7/comments", "--input", "-"]
    body = json.loads(post["stdin"])["body"]
    assert body.startswith("<!-- mbhealth-pulumi-preview:dev -->\n") and len(body) <= 65536 and LIMIT <= 65536
    assert body.count("```") % 2 == 0 and "cut to fit a GitHub comment" in body
    again, run = preview_stack(tmp_path / "again", preview, "dev", deployed=deployed, output=huge, comment_id="991")
    assert again.returncode == 0, again.stdout + again.stderr
    (listing,) = [c["args"] for c in run.calls("gh") if "--paginate" in c["args"]]
    assert 'startswith("<!-- mbhealth-pulumi-preview:dev -->")' in listing[-1]
    assert [c["args"][:4] for c in run.calls("gh") if "--method" in c["args"]] == [
        ["api", "--method", "PATCH", "repos/acme/mbhealth/issues/comments/991"]]


def test_a_failed_preview_is_commented_and_fails_the_job(tmp_path, preview):
    deployed = deployed_file(tmp_path, "dev", imageTag=DEPLOYED_TAG)
    run = runner(tmp_path, "dev")
    run.answer(["pulumi", "stack", "ls"], json.dumps([{"name": "dev"}]))
    run.answer(["pulumi", "config", "refresh"], "", 0, copy=deployed, to=REPO_ROOT / "Pulumi.dev.yaml")
    run.answer(["pulumi", "preview"], "error: mandatory policy violation: container-hardening\n", 255)
    job = preview["jobs"]["pulumi-preview"]
    result = run.run(script_step(job, "preview"), job=job, workflow=preview)
    assert result.returncode == 1 and "::error::pulumi preview of dev failed" in result.stdout
    assert "failed (exit 255)" in run.summary_text() and "container-hardening" in run.summary_text()


def manifest_diff(tmp_path, preview, diff: str, status: int, comment_id: str = ""):
    run = runner(tmp_path, "prod")
    run.answer(["make", "-s", "diff", "STACK=prod", "BASE=origin/main", "EXIT_CODE=1"], diff, status)
    run.answer(["gh", "api", "--paginate"], f"{comment_id}\n" if comment_id else "")
    job = preview["jobs"]["manifest-diff"]
    return run.run(script_step(job, "manifest-diff"), job=job, workflow=preview), run


def test_the_manifest_diff_is_the_stacks_comment_and_summary(tmp_path, preview):
    diff = "--- a/Deployment/mbhealth/backend\n+++ b/Deployment/mbhealth/backend\n-  replicas: 2\n+  replicas: 3\n" * 3000
    result, run = manifest_diff(tmp_path, preview, diff, 1)
    assert result.returncode == 0, result.stdout + result.stderr
    (post,) = [c for c in run.calls("gh") if "POST" in c["args"]]
    body = json.loads(post["stdin"])["body"]
    assert body.startswith("<!-- mbhealth-manifest-diff:prod -->\n### Manifest diff: `prod` vs `origin/main`")
    assert len(body) <= 65536 and "+  replicas: 3" in body
    assert run.summary_text().count("+  replicas: 3") == 3000  # the whole diff, in the summary
    result, run = manifest_diff(tmp_path / "none", preview, "", 0, comment_id="5")
    assert "No change to any Kubernetes object." in run.summary_text()
    assert [c["args"][2] for c in run.calls("gh") if "--method" in c["args"]] == ["PATCH"]


def test_a_broken_manifest_diff_fails_the_job(tmp_path, preview):
    result, run = manifest_diff(tmp_path, preview, "synth: mbhealth:registry.server is missing\n", 2)
    assert result.returncode == 1 and "registry.server is missing" in result.stdout
    assert not run.calls("gh")
