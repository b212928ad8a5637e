"""The workflows' scripts (`python -m scripts.ci …`, what preview.yml and deploy.yml run) under the
real engine, against a local cluster and real registries of this module's own, from an empty state
(the first-ever run) and again (steady state).

Each script runs in a copy of the checkout with the environment GitHub gives a job step (event
name and payload, a 40-hex GITHUB_SHA, refs, the repository, GITHUB_OUTPUT and
GITHUB_STEP_SUMMARY files, RUNNER_TEMP, secrets as variables). The one stand-in is `gh` (the GitHub
API): it keeps the pull request's comments and the deploy runs' artifacts in a JSON file and
records every call. The tests run in file order, each building on the one before:

1. the PR preview of dev and prod before anything exists: each stack's comment says so;
2. the deploy on main: dev at the commit's SHA through the policy pack, its digests copied into
   prod's registry and recorded as the commit's release; then again (steady state: no change);
3. the PR preview again: dev's comment edited, no change (the deployed tag);
4. the tag: that commit's release found and promoted to prod, building nothing;
5. prod's PR preview: its comment edited, promoting dev's digests changes nothing;
6. every comment within GitHub's size, one per stack;
7. a re-run of the deploy on an emptied registry: every digest is served again.

Needs what the rest of tests/e2e needs (make tools, the Docker engine, tools/machine/system-deps.sh
images node services: docker-registry, skopeo, PostgreSQL, Redis).
"""

from __future__ import annotations

import json
import secrets
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.e2e import engine
from tests.e2e.test_promotion import _certificate, _drop_nulls
from tests.support.services import PostgresServer, RedisServer, ServiceUnavailable, free_port, free_port_block

SHA = "5d41402abc4b2a76b9719d911017c592ae7e1c0f"  # a 40-hex commit, as GitHub gives it
REPOSITORY = "acme/mbhealth"
PR_NUMBER = 42
COMMENT_LIMIT = 65536
PROD_NAMESPACE = "mbhealth"

# The stand-in GitHub API: comments of the pull request, deploy runs by commit (their artifact), every call.
FAKE_GH = r'''#!/usr/bin/env python3
import json, os, re, shutil, sys
path = os.environ["FAKE_GH_STATE"]
state = json.load(open(path))
args = sys.argv[1:]
stdin = "" if sys.stdin.isatty() else sys.stdin.read()
state["calls"].append(args)
out = ""
if args[:2] == ["run", "list"]:
    run = state["runs"].get(args[args.index("--commit") + 1])
    out = f"{run['id']}\n" if run else ""
elif args[:2] == ["run", "download"]:
    run = next(r for r in state["runs"].values() if str(r["id"]) == args[2])
    os.makedirs(args[args.index("--dir") + 1], exist_ok=True)
    shutil.copy(run["record"], args[args.index("--dir") + 1])
elif args[:2] == ["api", "--paginate"]:
    marker = re.search(r'startswith\("([^"]+)"\)', args[-1]).group(1)
    out = "".join(f"{i}\n" for i, body in state["comments"].items() if body.startswith(marker))
elif args[:3] == ["api", "--method", "POST"]:
    state["comments"][str(len(state["comments"]) + 1)] = json.loads(stdin)["body"]
elif args[:3] == ["api", "--method", "PATCH"]:
    state["comments"][args[3].rsplit("/", 1)[1]] = json.loads(stdin)["body"]
else:
    sys.exit(f"fake gh: no answer for {args}")
json.dump(state, open(path, "w"))
sys.stdout.write(out)
'''


@dataclass
class Step:
    """What a step left: the script's exit status and log, its summary and its outputs."""

    returncode: int
    stdout: str
    summary: str
    outputs: dict[str, str]


@dataclass
class CI:
    """The project copy, its registries and cluster, and a runner's environment for the scripts."""

    project: Path
    env: dict[str, str]
    root: Path
    cluster: engine.LocalCluster
    dev_registry: engine.Registry
    prod_registry: engine.Registry
    prod_secrets: dict[str, str]
    steps: int = 0
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def gh_state(self) -> dict:
        return json.loads((self.root / "gh.json").read_text())

    def comments(self) -> dict[str, str]:
        return self.gh_state["comments"]

    def step(self, command: list[str], event: str, ref: str, payload: dict, **env: str) -> Step:
        """One workflow step: `python -m scripts.ci <command>` with GitHub's environment for it."""
        self.steps += 1
        where = self.root / f"step-{self.steps}"
        where.mkdir()
        (where / "event.json").write_text(json.dumps(payload))
        github = {"GITHUB_EVENT_NAME": event, "GITHUB_SHA": SHA, "GITHUB_REF": ref, "GITHUB_REPOSITORY": REPOSITORY,
                  "GITHUB_ACTOR": "alice", "GITHUB_EVENT_PATH": str(where / "event.json"),
                  "GITHUB_OUTPUT": str(where / "output"), "GITHUB_STEP_SUMMARY": str(where / "summary"),
                  "RUNNER_TEMP": str(self.root / "runner-temp"), "GH_TOKEN": "ghs_fake"}
        proc = engine.run([str(self.project / ".venv" / "bin" / "python"), "-m", "scripts.ci", *command],
                          env={**self.env, **github, **env}, cwd=self.project, check=False, timeout=2400)
        read = {name: (where / name).read_text() if (where / name).exists() else "" for name in ("output", "summary")}
        outputs = dict(line.split("=", 1) for line in read["output"].splitlines() if "=" in line)
        self.outputs[command[0]] = outputs
        return Step(proc.returncode, proc.stdout + proc.stderr, read["summary"], outputs)

    def preview(self, stack: str) -> Step:
        payload = {"pull_request": {"number": PR_NUMBER, "head": {"repo": {"full_name": REPOSITORY}},
                                    "user": {"login": "alice"}}}
        extra = {"KUBECONFIG_DATA": self.cluster.kubeconfig.read_text(),
                 "PULUMI_CONFIG_PASSPHRASE": self.prod_secrets["passphrase"]} if stack == "prod" else {}
        return self.step(["preview", "--stack", stack], "pull_request", f"refs/pull/{PR_NUMBER}/merge", payload, **extra)

    def deploy_dev(self) -> Step:
        return self.step(["deploy-dev"], "push", "refs/heads/main", {"ref": "refs/heads/main", "after": SHA})


def passed(step: Step) -> None:
    assert step.returncode == 0, step.stdout[-6000:]


@pytest.fixture(scope="module")
def ci(engine_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[CI]:
    if shutil.which("skopeo") is None:
        pytest.fail("the workflow scripts need skopeo (tools/machine/system-deps.sh images)", pytrace=False)
    root = tmp_path_factory.mktemp("workflows")
    with engine.Registry(storage=root / "dev-registry", port=free_port()) as dev_registry, \
            engine.Registry(storage=root / "prod-registry", port=free_port()) as prod_registry, \
            engine.LocalCluster(state=root / "cluster", port=free_port_block(4), env=engine_env,
                                ingress_port=free_port(), ingress_tls_port=free_port(),
                                registries=[dev_registry, prod_registry]) as cluster:
        project = engine.copy_checkout(root / "project")
        engine.link_policy_venv(project, engine_env)
        engine.set_stack_value(project, "dev", "registry.server", dev_registry.address)
        node = cluster.show()
        try:
            postgres = PostgresServer(host=node["hostIP"], clients=(node["podCIDR"],)).start()
            redis = RedisServer(password=secrets.token_hex(12), host=node["hostIP"]).start()
        except ServiceUnavailable as missing:
            pytest.fail(f"prod's data services (tools/machine/system-deps.sh): {missing}", pytrace=False)
        prod_for_this_cluster(project, cluster, prod_registry, postgres, redis)
        bin_dir = root / "bin"
        bin_dir.mkdir()
        (bin_dir / "gh").write_text(FAKE_GH)
        (bin_dir / "gh").chmod(0o755)
        (root / "gh.json").write_text(json.dumps({"comments": {}, "runs": {}, "calls": []}))
        env = dict(cluster.make_env(root / "state"), PATH=f"{bin_dir}:{engine_env['PATH']}",
                   FAKE_GH_STATE=str(root / "gh.json"))
        prod_secrets = {"passphrase": "e2e-prod-" + secrets.token_hex(8),
                        "SECRET_KEY": secrets.token_hex(32), "DATABASE_URL": postgres.create_database("mbhealth"),
                        "REDIS_URL": redis.url(), "REGISTRY_PULL_PASSWORD": "e2e-read-token-" + secrets.token_hex(8)}
        ci = CI(project, env, root, cluster, dev_registry, prod_registry, prod_secrets)
        try:
            yield ci
        finally:
            # The stacks are not destroyed one by one: the module's cluster is stopped next, which
            # removes all it ran; the host's PostgreSQL and Redis go with their clean-up.
            redis.cleanup()
            postgres.cleanup()


def prod_for_this_cluster(project: Path, cluster: engine.LocalCluster, registry: engine.Registry,
                          postgres: PostgresServer, redis: RedisServer) -> None:
    """Pulumi.prod.yaml as committed, with what this machine needs changed (as test_promotion.py):
    its registry and data services here, fixed replicas, no cert-manager; and the local cluster's
    ingress settings (prod is deployed through a kubeconfig, as in CI, so scripts/stack.sh merges none)."""
    host = cluster.show()["hostIP"]
    for key, value in {
        "registry": {"server": registry.address, "pullUsername": "mbhealth-ci"},
        "dataServices": {"mode": "external", "postgres": {"cidrs": [f"{host}/32"], "port": postgres.port},
                         "redis": {"cidrs": [f"{host}/32"], "port": redis.port}},
    }.items():
        engine.set_stack_value(project, "prod", key, value)
    for service in ("backend", "worker", "frontend"):
        engine.set_stack_value(project, "prod", f"services.{service}.autoscaling", None)
        engine.set_stack_value(project, "prod", f"services.{service}.replicas", 2)
    for key in ("ingress.clusterIssuer", "ingress.tlsSecretName"):
        engine.set_stack_value(project, "prod", key, None)
    document = yaml.safe_load((project / "Pulumi.prod.yaml").read_text())
    for key, value in cluster.stack_settings("prod").items():
        current = document["config"].get(f"mbhealth:{key}")
        engine.set_stack_value(project, "prod", key, {**current, **value}
                               if isinstance(current, dict) and isinstance(value, dict) else value)
    _drop_nulls(project / "Pulumi.prod.yaml")


def test_first_ever_previews_say_each_stack_is_not_deployed_yet(ci: CI) -> None:
    for stack in ("dev", "prod"):
        proc = ci.preview(stack)
        passed(proc)
        assert f"Stack `{stack}` has never been deployed" in proc.summary
    bodies = list(ci.comments().values())
    assert [b.splitlines()[0] for b in bodies] == ["<!-- mbhealth-pulumi-preview:dev -->",
                                                  "<!-- mbhealth-pulumi-preview:prod -->"]


def test_the_deploy_on_main_deploys_dev_at_the_sha_and_records_its_release(ci: CI) -> None:
    proc = ci.deploy_dev()
    passed(proc)
    assert "mbhealth-guardrails" in proc.stdout, "the policy pack ran"
    backend = ci.cluster.get("deployment", "backend", namespace=engine.DEV_NAMESPACE)
    assert backend["metadata"]["labels"]["app.kubernetes.io/version"] == SHA
    images = json.loads(ci.outputs["deploy-dev"]["images"])
    assert ci.outputs["deploy-dev"]["registry"] == ci.prod_registry.address
    assert set(images) == {"backend", "frontend"} and all(ci.prod_registry.has(ref) for ref in images.values())
    record = json.loads((ci.root / "runner-temp" / "release" / "release-images.json").read_text())
    assert record == {"commit": SHA, "images": images}
    # What upload-artifact keeps as release-images-<SHA> of this run (the stand-in GitHub's run 7001).
    kept = ci.root / "artifact-release-images.json"
    shutil.copy(ci.root / "runner-temp" / "release" / "release-images.json", kept)
    state = ci.gh_state
    state["runs"][SHA] = {"id": 7001, "record": str(kept)}
    (ci.root / "gh.json").write_text(json.dumps(state))


def test_the_deploy_again_changes_nothing(ci: CI) -> None:
    before = json.loads(ci.outputs["deploy-dev"]["images"])
    passed(ci.deploy_dev())
    assert json.loads(ci.outputs["deploy-dev"]["images"]) == before


def test_dev_preview_after_the_deploy_edits_its_comment_and_changes_nothing(ci: CI) -> None:
    proc = ci.preview("dev")
    passed(proc)
    assert f"imageTag `{SHA}`" in proc.summary
    assert "to update" not in proc.stdout and "to replace" not in proc.stdout and "to create" not in proc.stdout
    dev = [b for b in ci.comments().values() if b.startswith("<!-- mbhealth-pulumi-preview:dev -->")]
    assert len(dev) == 1 and "succeeded" in dev[0].splitlines()[1]


def test_a_tag_promotes_that_commits_release_to_prod(ci: CI) -> None:
    tag = {"ref": "refs/tags/v1.0.0"}
    passed(ci.step(["release-images"], "push", "refs/tags/v1.0.0", tag))
    images = ci.outputs["release-images"]["images"]
    assert json.loads(images) == json.loads(ci.outputs["deploy-dev"]["images"])
    # The operator's certificate for prod's ingress host (no cert-manager here), as stack secrets.
    stack = engine.Stack(ci.project, "prod", dict(ci.env), passphrase=ci.prod_secrets["passphrase"])
    stack.init()
    certificate, key = _certificate(ci.root, yaml.safe_load((ci.project / "Pulumi.prod.yaml").read_text())
                                    ["config"]["mbhealth:ingress"]["host"])
    stack.config_set("mbhealth:tlsCertificate", certificate, secret=True)
    stack.config_set("mbhealth:tlsKey", key, secret=True)
    secrets_env = {k: v for k, v in ci.prod_secrets.items() if k != "passphrase"}
    proc = ci.step(["promote-prod"], "push", "refs/tags/v1.0.0", tag, IMAGES=images, VERSION="v1.0.0",
                   KUBECONFIG_DATA=ci.cluster.kubeconfig.read_text(),
                   PULUMI_CONFIG_PASSPHRASE=ci.prod_secrets["passphrase"], **secrets_env)
    passed(proc)
    assert "nothing to build" in proc.stdout
    assert not any(value in proc.stdout for value in secrets_env.values())
    released = json.loads(images)
    running = {d["metadata"]["name"]: d["spec"]["template"]["spec"]["containers"][0]["image"]
               for d in ci.cluster.get("deployments", namespace=PROD_NAMESPACE)["items"]}
    assert running == {"backend": released["backend"], "worker": released["backend"], "frontend": released["frontend"]}
    assert ci.cluster.get("deployment", "backend", namespace=PROD_NAMESPACE)["metadata"]["labels"][
        "app.kubernetes.io/version"] == "1.0.0"


def test_prods_preview_promotes_devs_digests_and_changes_nothing(ci: CI) -> None:
    proc = ci.preview("prod")
    passed(proc)
    assert "promoting dev's current release" in proc.summary
    assert "to update" not in proc.stdout and "to replace" not in proc.stdout
    prod = [b for b in ci.comments().values() if b.startswith("<!-- mbhealth-pulumi-preview:prod -->")]
    assert len(prod) == 1 and "succeeded" in prod[0].splitlines()[1]


def test_every_comment_is_within_githubs_size(ci: CI) -> None:
    assert ci.comments() and all(len(body) <= COMMENT_LIMIT for body in ci.comments().values())
    assert len(ci.comments()) == 2, "one comment per stack, edited"


def test_a_rerun_on_an_emptied_registry_pushes_every_image_again(ci: CI) -> None:
    images = json.loads(ci.outputs["deploy-dev"]["images"])
    ci.dev_registry.empty()
    passed(ci.deploy_dev())
    for d in ci.cluster.get("deployments", namespace=engine.DEV_NAMESPACE)["items"]:
        for container in d["spec"]["template"]["spec"]["containers"]:
            ref = container["image"]
            if ref.startswith(ci.dev_registry.address + "/"):
                assert ci.dev_registry.has(ref), f"{d['metadata']['name']} runs {ref}, which nobody serves"
    assert json.loads(ci.outputs["deploy-dev"]["images"]) == images, "the same commit, the same digests"
