"""The application as each stack deploys it: images, env, migrations, ingress, network policy, outputs."""

from __future__ import annotations

import pytest

from components.build_specs import BACKEND_BUILD, FRONTEND_BUILD, IMAGE_BUILDS
from components.workload import CHECKSUM_ANNOTATION
from components.config import host_platform
from scripts.secret_markers import reveal
from scripts.synth import synthesize


def images(result):
    return {r.name: r for r in result.resources if r.type == "docker:index/image:Image"}


def container(result, kind, name):
    (only,) = result.get(kind, name).manifest["spec"]["template"]["spec"]["containers"]
    return only


# ---- images -------------------------------------------------------------------------------

def test_images_build_from_the_shared_build_specs(stack):
    built = images(stack)
    assert set(built) == set(IMAGE_BUILDS) == {"backend", "frontend"}
    for name, spec in IMAGE_BUILDS.items():
        build = reveal(built[name].inputs["build"])
        assert build["context"] == spec.context
        assert build["dockerfile"] == spec.dockerfile
        assert build["target"] == spec.target == "production"
        tag = stack.exports["images"][name].split("@")[0]
        assert build["args"] == {**spec.build_args(built[name].inputs["imageName"].rsplit(":", 1)[1]), "BUILDKIT_INLINE_CACHE": "1"}
        assert build["builderVersion"] == "BuilderBuildKit"
        # prod's nodes are amd64 (its stack file says so); dev builds for this machine.
        assert build["platform"] == ("linux/amd64" if stack.stack == "prod" else host_platform())
        # Issue 20 item 9: one stable cache image per build stage (pip install / npm ci stages
        # included), never the release tag about to be pushed (in no registry before the push).
        repository = tag
        assert build["cacheFrom"] == {"images": [f"{repository}:buildcache-{stage}" for stage in spec.stages]}
        assert built[name].inputs["imageName"] not in build["cacheFrom"]["images"]
        assert {"builder", "deps"} & set(spec.stages), spec.stages
        assert built[name].inputs["imageName"].startswith(tag + ":")


def test_images_push_to_the_stacks_registry_with_a_specific_tag(dev, prod):
    assert images(dev)["backend"].inputs["imageName"] == "localhost:5000/mbhealth/backend:dev"
    assert images(prod)["frontend"].inputs["imageName"] == "ghcr.io/mbhealth/mbhealth/frontend:1.0.0"
    assert "registry" not in images(dev)["backend"].inputs  # the local registry needs no login
    # prod holds no push credential (it promotes; a build pushes with the runner's docker login):
    # registry.username and registryPassword, when set, log in (tests/unit/test_registry_pull.py).
    assert "registry" not in images(prod)["backend"].inputs
    for image in images(prod).values():
        assert image.inputs.get("skipPush") is False


def test_deployments_reference_images_by_digest(stack):
    digests = stack.exports["images"]
    for kind, name, image in (("Deployment", "backend", "backend"), ("Deployment", "worker", "backend"),
                              ("Deployment", "frontend", "frontend"), ("Job", "migrate", "backend")):
        ref = container(stack, kind, name)["image"]
        assert ref == digests[image]
        assert "@sha256:" in ref and ":latest" not in ref


def test_api_and_worker_run_one_build():
    assert container(synthesize("dev"), "Deployment", "worker")["image"] == container(synthesize("dev"), "Deployment", "backend")["image"]


def test_unchanged_build_changes_nothing_and_a_new_build_rolls_the_pods(dev):
    again = synthesize("dev")
    assert again.manifests() == dev.manifests()
    bumped = synthesize("dev", overrides={"imageTag": "dev-2"})
    assert container(bumped, "Deployment", "backend")["image"] != container(dev, "Deployment", "backend")["image"]
    assert container(bumped, "Deployment", "worker")["image"] == container(bumped, "Deployment", "backend")["image"]


def test_base_images_are_build_args_defaulting_to_the_guides_tags():
    assert BACKEND_BUILD.build_args("1.0")["PYTHON_IMAGE"] == "python:3.11-slim"
    assert FRONTEND_BUILD.build_args("1.0") == {"NODE_IMAGE": "node:20-alpine", "NGINX_IMAGE": "nginx:1.25-alpine", "VERSION": "1.0"}
    swapped = BACKEND_BUILD.build_args("1.0", {"PYTHON_IMAGE": "localhost:5000/standin/python:3.11-slim"})
    assert swapped["PYTHON_IMAGE"].startswith("localhost:5000/")
    with pytest.raises(KeyError, match="NODE_IMAGE"):
        BACKEND_BUILD.build_args("1.0", {"NODE_IMAGE": "x"})


# ---- environment ------------------------------------------------------------------------------

def env_of(result, deployment):
    """The environment a container sees: ConfigMap data and Secret data through envFrom."""
    values, secret_keys = {}, set()
    for source in container(result, "Deployment", deployment)["envFrom"]:
        if "configMapRef" in source:
            values.update(result.get("ConfigMap", source["configMapRef"]["name"]).manifest["data"])
        else:
            data = reveal(result.get("Secret", source["secretRef"]["name"]).manifest["stringData"])
            values.update(data)
            secret_keys |= set(data)
    return values, secret_keys


@pytest.mark.parametrize("name", ["backend", "worker"])
def test_backend_and_worker_get_the_guides_env_vars(stack, name):
    env, secret = env_of(stack, name)
    assert set(env) == {"DATABASE_URL", "REDIS_URL", "SECRET_KEY", "LOG_LEVEL", "ENVIRONMENT"}
    assert secret == {"DATABASE_URL", "REDIS_URL", "SECRET_KEY"}
    assert "env" not in container(stack, "Deployment", name)  # no literals at all


def test_env_values_per_stack(dev, prod):
    env, _ = env_of(dev, "backend")
    assert env["ENVIRONMENT"] == "development" and env["LOG_LEVEL"] == "DEBUG"
    assert env["DATABASE_URL"].startswith("postgresql://mbhealth:") and env["DATABASE_URL"].endswith("@postgres:5432/mbhealth")
    assert env["REDIS_URL"].startswith("redis://:") and env["REDIS_URL"].endswith("@redis:6379/0")
    assert len(env["SECRET_KEY"]) >= 32
    env, _ = env_of(prod, "backend")
    assert env["ENVIRONMENT"] == "production" and env["LOG_LEVEL"] == "INFO"
    assert env["DATABASE_URL"] == "postgresql://mbhealth:synth-only-db-password@db.internal:5432/mbhealth"


def test_frontend_gets_backend_url_and_no_secrets(stack):
    env, secret = env_of(stack, "frontend")
    namespace = stack.exports["namespace"]
    assert env == {"BACKEND_URL": f"http://backend.{namespace}.svc.cluster.local:8000"}
    assert secret == set()


def test_config_change_rolls_pods_via_new_configmap_and_checksum(dev):
    changed = synthesize("dev", overrides={"logLevel": "WARNING"})
    for name in ("backend", "worker"):
        before = dev.get("Deployment", name).manifest["spec"]["template"]
        after = changed.get("Deployment", name).manifest["spec"]["template"]
        assert before["metadata"]["annotations"][CHECKSUM_ANNOTATION] != after["metadata"]["annotations"][CHECKSUM_ANNOTATION]
    frontend = lambda r: r.get("Deployment", "frontend").manifest["spec"]["template"]["metadata"]["annotations"]  # noqa: E731
    assert frontend(dev) == frontend(changed)


def test_secret_change_rolls_pods_through_the_checksum(prod):
    rotated = synthesize("prod", secrets={**_prod_secrets(), "secretKey": "rotated-secret-key-" + "x" * 40})
    annotation = lambda r: r.get("Deployment", "backend").manifest["spec"]["template"]["metadata"]["annotations"][CHECKSUM_ANNOTATION]  # noqa: E731
    assert annotation(rotated) != annotation(prod)
    # pulumi-kubernetes 4.25 replaces a Secret whose data changes (no enableSecretMutable): the
    # auto-named Secret gets a new name, which the pods reference too.
    secret_name = lambda r: container(r, "Deployment", "backend")["envFrom"][1]["secretRef"]["name"]  # noqa: E731
    assert secret_name(rotated) != secret_name(prod)
    assert secret_name(rotated) == rotated.get("Secret", "backend-env").object_name


def test_a_database_url_change_reruns_the_migrations_before_the_pods_roll(prod):
    """The migrate Job's pod template changes with the environment's checksum, so a new
    DATABASE_URL replaces (re-runs) it, and the Deployments wait for it."""
    moved = synthesize("prod", secrets={**_prod_secrets(),
                                        "databaseUrl": "postgresql://mbhealth:synth-only-db-password@db2.internal:5432/mbhealth"})
    template = lambda r, kind, name: r.get(kind, name).manifest["spec"]["template"]["metadata"]["annotations"]  # noqa: E731
    for result in (prod, moved):
        assert template(result, "Job", "migrate")[CHECKSUM_ANNOTATION] == template(result, "Deployment", "backend")[CHECKSUM_ANNOTATION]
        for name in ("backend", "worker"):
            assert result.depends_on(result.get("Deployment", name), result.get("Job", "migrate"))
    assert template(moved, "Job", "migrate")[CHECKSUM_ANNOTATION] != template(prod, "Job", "migrate")[CHECKSUM_ANNOTATION]
    assert moved.get("Job", "migrate").object_name != prod.get("Job", "migrate").object_name  # a new Job: it runs again


def _prod_secrets():
    from scripts.synth import SYNTH_SECRETS

    return dict(SYNTH_SECRETS["prod"])


# ---- migrations and ordering -------------------------------------------------------------------

def test_migration_job_runs_the_backend_image_once_per_release(stack):
    job = stack.get("Job", "migrate").manifest
    c = container(stack, "Job", "migrate")
    assert c["command"] == ["python", "-m", "mbhealth", "migrate"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] <= 3 and job["spec"]["activeDeadlineSeconds"] > 0
    assert "livenessProbe" not in c and "lifecycle" not in c
    assert c["envFrom"] == container(stack, "Deployment", "backend")["envFrom"]


def test_a_failed_migration_fails_its_job_at_once_and_a_drained_pod_does_not_count(stack):
    """`migrate` waits for the database itself; what fails after that fails again, so the Job has no
    second try (each cost a back-off of 10 s, then 20 s). A pod lost to a drain or a preemption is
    run again without counting. Both Jobs fail by exhausting the backoff limit, the one Failed
    reason (with DeadlineExceeded) pulumi-kubernetes 4.25's Job await reports as a failure."""
    disruptions = [{"action": "Ignore", "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}]}]
    for name in ("migrate", "smoke"):
        spec = stack.get("Job", name).manifest["spec"]
        assert spec["backoffLimit"] == 0, name
        assert spec["podFailurePolicy"]["rules"] == disruptions, name
        assert spec["template"]["spec"]["restartPolicy"] == "Never", name  # what podFailurePolicy needs


def test_new_release_gets_a_new_migration_job(dev):
    bumped = synthesize("dev", overrides={"imageTag": "dev-2"})
    assert bumped.get("Job", "migrate").object_name != dev.get("Job", "migrate").object_name


def test_deployments_wait_for_migrations_and_migrations_wait_for_the_database(stack):
    job = stack.get("Job", "migrate")
    for name in ("backend", "worker"):
        assert stack.depends_on(stack.get("Deployment", name), job), name
    if stack.stack == "dev":
        assert stack.depends_on(job, stack.get("StatefulSet", "postgres"))


# ---- data services per stack --------------------------------------------------------------------

def test_dev_runs_postgres_and_redis_in_cluster(dev):
    postgres = dev.get("StatefulSet", "postgres").manifest["spec"]
    assert postgres["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "1Gi"
    pod = postgres["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    (pg,) = pod["containers"]
    assert pg["readinessProbe"]["exec"]["command"][0] == "pg_isready"
    assert {e["name"] for e in pg["env"] if "valueFrom" in e} == {"POSTGRES_PASSWORD"}
    redis = dev.get("Deployment", "redis").manifest["spec"]["template"]["spec"]["containers"][0]
    assert "$(REDIS_PASSWORD)" in redis["args"]
    assert all("value" not in e for e in redis["env"])
    assert {s.object_name for s in dev.of_kind("Service")} == {"backend", "frontend", "postgres", "redis"}


def test_dev_postgres_claims_the_clusters_default_storage_class_unless_one_is_set(dev):
    (claim,) = dev.get("StatefulSet", "postgres").manifest["spec"]["volumeClaimTemplates"]
    assert "storageClassName" not in claim["spec"]  # no field: the cluster's default StorageClass
    for name in ("gp3-encrypted", "fast.storage.example.com", "a" * 63 + "." + "b" * 189):
        chosen = synthesize("dev", overrides={"dataServices": {"postgresStorageClass": name}})
        (claim,) = chosen.get("StatefulSet", "postgres").manifest["spec"]["volumeClaimTemplates"]
        assert claim["spec"]["storageClassName"] == name
        assert claim["spec"]["resources"]["requests"]["storage"] == "1Gi"  # postgresStorage still applies


def test_dev_postgres_liveness_waits_behind_a_startup_probe_during_initdb(dev):
    """initdb runs behind a unix-socket-only server: TCP liveness would restart it mid-init."""
    (pg,) = dev.get("StatefulSet", "postgres").manifest["spec"]["template"]["spec"]["containers"]
    startup, liveness = pg.get("startupProbe"), pg["livenessProbe"]
    assert startup, "postgres has no startupProbe: its liveness runs (and restarts the pod) during initdb"
    # The same action as liveness: once the real server accepts TCP, liveness takes over.
    assert startup["tcpSocket"] == liveness["tcpSocket"] == {"port": "postgres"}
    budget = startup["periodSeconds"] * startup["failureThreshold"]
    assert budget >= 300, f"first start (initdb + init scripts) gets only {budget}s"
    assert budget > liveness["periodSeconds"] * liveness["failureThreshold"]


def test_prod_uses_external_data_services(prod):
    assert prod.of_kind("StatefulSet") == []
    assert {s.object_name for s in prod.of_kind("Service")} == {"backend", "frontend"}


# ---- ingress, network policy, namespace, outputs -----------------------------------------------------

def test_ingress_routes_api_to_backend_and_the_rest_to_frontend(stack):
    spec = stack.get("Ingress", "public").manifest["spec"]
    (rule,) = spec["rules"]
    routes = {p["path"]: (p["backend"]["service"]["name"], p["backend"]["service"]["port"]["name"]) for p in rule["http"]["paths"]}
    assert routes == {"/api": ("backend", "http"), "/": ("frontend", "http")}
    assert spec["ingressClassName"] == "nginx"
    if stack.stack == "prod":
        assert spec["tls"] == [{"hosts": ["app.mbhealth.example"], "secretName": "mbhealth-tls"}]


def policies(result):
    return {p.object_name: p.manifest["spec"] for p in result.of_kind("NetworkPolicy")}


def test_default_deny_and_dns(stack):
    found = policies(stack)
    assert found["default-deny"] == {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}
    dns = found["allow-dns"]["egress"][0]
    assert {(p["protocol"], p["port"]) for p in dns["ports"]} == {("UDP", 53), ("TCP", 53)}


def allowed(result):
    """(source, target, port) triples the policies allow, both ends agreeing for in-cluster pods."""
    found = policies(result)
    name = lambda sel: sel["matchLabels"]["app.kubernetes.io/name"]  # noqa: E731
    egress, ingress = set(), set()
    for policy, spec in found.items():
        if policy in ("default-deny", "allow-dns", "allow-acme-http01-solver"):
            continue
        me = name(spec["podSelector"])
        for rule in spec.get("egress", []):
            for peer in rule["to"]:
                target = name(peer["podSelector"]) if "podSelector" in peer else f"cidr:{peer['ipBlock']['cidr']}"
                egress |= {(me, target, p["port"]) for p in rule["ports"]}
        for rule in spec.get("ingress", []):
            for peer in rule["from"]:
                source = name(peer["podSelector"]) if "podSelector" in peer else "ingress-controller"
                ingress |= {(source, me, p["port"]) for p in rule["ports"]}
    return egress, ingress


def test_dev_flows(dev):
    egress, ingress = allowed(dev)
    assert egress == {("frontend", "backend", 8000), ("backend", "postgres", 5432), ("backend", "redis", 6379),
                      ("worker", "postgres", 5432), ("worker", "redis", 6379), ("migrate", "postgres", 5432),
                      ("smoke", "backend", 8000), ("smoke", "frontend", 8080)}
    assert ingress == egress | {("ingress-controller", "frontend", 8080), ("ingress-controller", "backend", 8000)}


def test_prod_flows_reach_external_data_by_cidr(prod):
    """Each managed service at its own networks and port (prod's Redis is TLS on 6380), from config."""
    egress, ingress = allowed(prod)
    assert egress == {("frontend", "backend", 8000), ("backend", "cidr:10.0.1.0/24", 5432),
                      ("backend", "cidr:10.0.2.0/24", 6380), ("worker", "cidr:10.0.1.0/24", 5432),
                      ("worker", "cidr:10.0.2.0/24", 6380), ("migrate", "cidr:10.0.1.0/24", 5432),
                      ("smoke", "backend", 8000), ("smoke", "frontend", 8080)}
    assert ingress == {("frontend", "backend", 8000), ("ingress-controller", "frontend", 8080),
                       ("ingress-controller", "backend", 8000), ("smoke", "backend", 8000), ("smoke", "frontend", 8080)}


def test_namespace_enforces_restricted_pod_security(stack):
    labels = stack.get("Namespace", stack.exports["namespace"]).manifest["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_stack_outputs(dev, prod):
    for result, url in ((dev, "http://mbhealth.localtest.me"), (prod, "https://app.mbhealth.example")):
        assert result.exports["url"] == url
        assert set(result.exports["images"]) == {"backend", "frontend"}
        assert all("@sha256:" in ref for ref in result.exports["images"].values())
        assert result.exports["services"] == {"backend": "backend", "frontend": "frontend", "worker": "worker"}
    assert dev.exports["namespace"] == "mbhealth-dev" and prod.exports["namespace"] == "mbhealth"


def test_backend_variant_selects_the_distroless_target():
    from components.build_specs import BACKEND_DISTROLESS_BUILD

    result = synthesize("prod", overrides={"backendVariant": "distroless"})
    build = reveal(images(result)["backend"].inputs["build"])
    assert build["target"] == "production-distroless"
    assert build["args"] == {**BACKEND_DISTROLESS_BUILD.build_args("1.0.0"), "BUILDKIT_INLINE_CACHE": "1"}
    # No shell in that image: every probe and hook of the backend's pods runs without one.
    for name in ("backend", "worker"):
        c = container(result, "Deployment", name)
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            command = (c.get(probe) or {}).get("exec", {}).get("command", [])
            assert command[:1] in ([], ["python"]), (name, probe, command)
        assert set(c["lifecycle"]["preStop"]) == {"sleep"}
    assert reveal(images(result)["frontend"].inputs["build"])["target"] == "production"


def test_unknown_backend_variant_is_refused():
    from components.config import ConfigError

    with pytest.raises(ConfigError, match=r"mbhealth:backendVariant: got 'alpine'; expected one of slim, distroless"):
        synthesize("dev", overrides={"backendVariant": "alpine"})
