"""Releases under the real engine: what a second `make up` does to what the first one deployed.

The session's dev stack (conftest `deployed`: a fresh copy of the checkout, the suite's local
control plane); each test changes the copy the way a developer would and runs `make up` again,
then reads the API server, the state and the stack's outputs.
"""

from __future__ import annotations

import json
import secrets
from datetime import datetime

import yaml

from tests.e2e.engine import Deployed
from tests.e2e.engine import DEV_NAMESPACE as NAMESPACE
from tests.e2e.engine import make, set_stack_value

def _time(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_a_backend_change_migrates_first_and_leaves_the_data_services_alone(deployed: Deployed) -> None:
    before = deployed.images()
    postgres = deployed.get("statefulset", "postgres")["metadata"]["uid"]
    claim = deployed.get("pvc", "data-postgres-0")["metadata"]["uid"]
    redis_pods = {p["metadata"]["uid"] for p in deployed.pods("redis")}
    migrations = {j["metadata"]["name"] for j in deployed.jobs("migrate")}
    smokes = {j["metadata"]["name"] for j in deployed.jobs("smoke")}

    deployed.change_backend_code("a backend change")
    deployed.up()

    after = deployed.images()
    assert after["backend"] != before["backend"], "a backend change builds a new backend digest"
    assert after["frontend"] == before["frontend"], "and nothing else"
    # The release's migrate Job ran (a new Job) and completed before the Deployments rolled.
    new_migrations = [j for j in deployed.jobs("migrate") if j["metadata"]["name"] not in migrations]
    assert len(new_migrations) == 1 and new_migrations[0]["status"].get("succeeded") == 1
    migrated_at = _time(new_migrations[0]["status"]["completionTime"])
    for name in ("backend", "worker"):
        sets = [rs for rs in deployed.cluster.get("replicasets", namespace=NAMESPACE)["items"]
                if rs["metadata"]["name"].startswith(name + "-")
                and rs["spec"]["template"]["spec"]["containers"][0]["image"] == after["backend"]]
        assert sets, f"{name} runs the new digest"
        assert _time(sets[0]["metadata"]["creationTimestamp"]) >= migrated_at, f"{name} rolled before the migration"
    # The smoke test ran again, and the data services were not touched.
    assert {j["metadata"]["name"] for j in deployed.jobs("smoke")} - smokes
    assert deployed.get("statefulset", "postgres")["metadata"]["uid"] == postgres, "PostgreSQL was replaced"
    assert deployed.get("pvc", "data-postgres-0")["metadata"]["uid"] == claim, "the database volume was replaced"
    assert {p["metadata"]["uid"] for p in deployed.pods("redis")} == redis_pods, "Redis restarted"
    make("preview", deployed.project, deployed.env, "PULUMI_ARGS=--expect-no-changes")


def test_a_failing_smoke_test_fails_the_update_and_keeps_the_last_good_images(deployed: Deployed) -> None:
    """The smoke Job's flow to the frontend cut from the NetworkPolicies: kube-router drops its
    requests, the smoke test fails for real, and so does the update."""
    good = deployed.images()
    deployed.change_backend_code("a release whose smoke test fails")
    deployed.cut_flow("smoke", "frontend", True)
    deployed.smoke_timeout(30)

    failed = deployed.up(check=False)
    assert failed.returncode != 0, "a failed smoke test fails `make up`"
    assert "smoke" in failed.stdout + failed.stderr
    assert deployed.images() == good, "the images output must stay the last known good release"

    # The cause removed, the next `make up` succeeds with no manual clean-up (the failed Job is replaced).
    deployed.cut_flow("smoke", "frontend", False)
    deployed.smoke_timeout(180)
    deployed.up()
    released = deployed.images()
    assert released["backend"] != good["backend"]
    latest = max(deployed.jobs("smoke"), key=lambda j: j["metadata"]["creationTimestamp"])
    assert latest["status"].get("succeeded") == 1


def test_a_failing_migration_keeps_the_previous_pods_and_recovers(deployed: Deployed) -> None:
    """A release with a migration that raises against the real PostgreSQL: its migrate Job fails,
    `make up` fails, and the previous pods keep running (and serving) the previous image."""
    good = deployed.images()
    deployed.break_migration(True)

    failed = deployed.up(check=False)
    assert failed.returncode != 0, "a failed migration fails `make up`"
    # The database refuses the step: the pod exits 4 (migrate_refused), the Job fails on it, no retry.
    job = max(deployed.jobs("migrate"), key=lambda j: j["metadata"]["creationTimestamp"])
    reasons = {c["type"]: c.get("reason") for c in job["status"].get("conditions", [])}
    assert reasons.get("Failed") == "BackoffLimitExceeded" and job["status"].get("failed") == 1, job["status"]
    (pod,) = [p for p in deployed.pods("migrate") if p["metadata"]["labels"].get("job-name") == job["metadata"]["name"]]
    assert pod["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 4
    running = deployed.get("deployment", "backend")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert running == good["backend"], "the Deployments must keep the previous image when the migration fails"

    deployed.break_migration(False)
    deployed.change_backend_code("the migration fixed")
    deployed.up()
    assert deployed.images()["backend"] != good["backend"]
    running = deployed.get("deployment", "backend")["spec"]["template"]["spec"]["containers"][0]["image"]
    assert running == deployed.images()["backend"]


def test_a_changed_secret_rolls_the_pods_and_its_plaintext_is_nowhere(deployed: Deployed) -> None:
    canary = "canary-" + secrets.token_hex(20)
    checksum = deployed.get("deployment", "backend")["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    deployed.stack.config_set("mbhealth:secretKey", canary, secret=True)

    preview = make("preview", deployed.project, deployed.env)
    deployed.up()

    rolled = deployed.get("deployment", "backend")["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    assert rolled != checksum, "a changed secret rolls the pods (checksum annotation)"
    for where, text in {
        "the preview": preview.stdout + preview.stderr,
        "the state backend's files": deployed.stack.state_files_text(),
        "the stack outputs": json.dumps(deployed.stack.outputs()),
        "the tracked stack file": (deployed.project / "Pulumi.dev.yaml").read_text(),
        "the generated stack config": (deployed.project / ".pulumi-state" / "config" / "Pulumi.dev.yaml").read_text(),
    }.items():
        assert canary not in text, f"the secret's plaintext is in {where}"
    # The API server holds it only in the Secret the pods read.
    holders = [s["metadata"]["name"] for s in deployed.cluster.get("secrets", namespace=NAMESPACE)["items"]
               if canary in json.dumps(s)]
    configmaps = [c["metadata"]["name"] for c in deployed.cluster.get("configmaps", namespace=NAMESPACE)["items"]
                  if canary in json.dumps(c)]
    assert configmaps == [] and holders == [], "Secret data is base64: the plaintext must not appear anywhere"


def test_a_scale_by_another_field_manager_lasts_until_the_next_change_of_that_workload(deployed: Deployed) -> None:
    """A `kubectl scale` on a bad day: another field manager sets spec.replicas; a `make up` with
    nothing to change neither fights it nor reports a change, and the next release that changes the
    worker wins the field back (components/field_ownership.py) instead of failing on a conflict."""
    deployed.cluster.kubectl("scale", "deployment", "worker", "-n", NAMESPACE, "--replicas", "3")
    preview = make("preview", deployed.project, deployed.env, "PULUMI_ARGS=--expect-no-changes")
    assert "unchanged" in preview.stdout
    deployed.up()
    worker = deployed.get("deployment", "worker")
    assert worker["spec"]["replicas"] == 3, "pulumi up took the replicas back from the other manager"
    shown = json.loads(deployed.cluster.kubectl("get", "deployment", "worker", "-n", NAMESPACE, "-o", "json",
                                                "--show-managed-fields").stdout)
    replicas_owners = [f["manager"] for f in shown["metadata"]["managedFields"]
                       if '"f:replicas"' in json.dumps(f.get("fieldsV1", {}).get("f:spec", {}))]
    assert replicas_owners and all(m.startswith("kubectl") for m in replicas_owners), replicas_owners

    # The next `up` that changes the worker (here its /tmp size, so only the worker rolls; the
    # session's stack keeps that size): the stack file's count wins, no conflict.
    stack_file = yaml.safe_load((deployed.project / "Pulumi.dev.yaml").read_text())
    declared = stack_file["config"]["mbhealth:services"]["worker"]["replicas"]
    assert declared != 3
    set_stack_value(deployed.project, "dev", "services.worker.tmpSize", "96Mi")
    deployed.up()
    worker = deployed.get("deployment", "worker")
    (tmp,) = [v for v in worker["spec"]["template"]["spec"]["volumes"] if "emptyDir" in v]
    assert tmp["emptyDir"]["sizeLimit"] == "96Mi", "the change did not reach the worker"
    assert worker["spec"]["replicas"] == declared, "the stack file's count did not win"
