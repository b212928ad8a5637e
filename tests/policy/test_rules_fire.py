"""Each rule fires on a violating resource (a synthesized object, mutated) with a message naming it and the fix."""

from __future__ import annotations

import copy
from typing import Any, Callable, Optional

import pytest

from policy.image_rules import split_image
from policy.objects import UNKNOWN
from policy.rules import DOCKER_IMAGE_TYPE, evaluate, evaluate_manifest
from policy.secret_detection import key_looks_secret, value_secret_reason
from policy.stack_context import load_context, stack_from_urn
from policy.violation import Violation
from scripts.secret_markers import reveal
from tests.policy.conftest import manifest, synthesized

Mutation = Callable[[dict[str, Any]], Any]


def pod(obj: dict[str, Any]) -> dict[str, Any]:
    return obj["spec"]["template"]["spec"]


def first(obj: dict[str, Any]) -> dict[str, Any]:
    return pod(obj)["containers"][0]


def fired(obj: dict[str, Any], stack: str, rule: str) -> list[Violation]:
    return [v for v in evaluate_manifest(obj, load_context(stack)) if v.rule == rule]


def assert_fires(found: list[Violation], resource: str, problem: str, fix: str, container: Optional[str] = None,
                 mandatory: bool = True) -> Violation:
    matching = [v for v in found if problem in v.problem]
    assert matching, f"no violation about {problem!r} in {[v.message for v in found]}"
    violation = matching[0]
    assert violation.resource == resource
    assert violation.container == container
    assert violation.mandatory is mandatory
    message = violation.message
    assert message.startswith(f"[{violation.rule}] {resource}")
    if container:
        assert f"container {container!r}" in message
    assert "Fix: " in message and fix in message
    return violation


def set_in(path: tuple[str, ...], value: Any) -> Mutation:
    def mutate(obj: dict[str, Any]) -> None:
        target = first(obj)
        for key in path[:-1]:
            target = target.setdefault(key, {})
        target[path[-1]] = value
    return mutate


def delete_in(path: tuple[str, ...]) -> Mutation:
    def mutate(obj: dict[str, Any]) -> None:
        target = first(obj)
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]
    return mutate


# ── container-hardening ─────────────────────────────────────────────────────

def run_as_root_allowed(obj):
    first(obj)["securityContext"]["runAsNonRoot"] = False
    pod(obj)["securityContext"]["runAsNonRoot"] = False


HARDENING_CASES = {
    "runAsNonRoot false": (run_as_root_allowed, "runAsNonRoot is not true"),
    "runAsUser 0": (set_in(("securityContext", "runAsUser"), 0), "runAsUser is 0"),
    "writable root fs": (set_in(("securityContext", "readOnlyRootFilesystem"), False), "readOnlyRootFilesystem is not true"),
    "privilege escalation": (set_in(("securityContext", "allowPrivilegeEscalation"), True), "allowPrivilegeEscalation is not false"),
    "no drop ALL": (delete_in(("securityContext", "capabilities")), "capabilities.drop does not include ALL"),
    "added capability": (set_in(("securityContext", "capabilities", "add"), ["NET_ADMIN"]), "capabilities.add grants ['NET_ADMIN']"),
    "privileged": (set_in(("securityContext", "privileged"), True), "privileged is true"),
    "no securityContext": (delete_in(("securityContext",)), "readOnlyRootFilesystem is not true"),
}


@pytest.mark.parametrize("case", sorted(HARDENING_CASES))
@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_container_hardening_fires(stack, case):
    mutate, problem = HARDENING_CASES[case]
    obj = manifest(stack, "Deployment", "backend", mutate)
    namespace = obj["metadata"]["namespace"]
    assert_fires(fired(obj, stack, "container-hardening"), f"Deployment/{namespace}/backend", problem,
                 "components/security.py", container="backend")


def test_host_namespaces_fire():
    obj = manifest("prod", "Deployment", "frontend", lambda o: pod(o).update(hostNetwork=True))
    assert_fires(fired(obj, "prod", "container-hardening"), "Deployment/mbhealth/frontend", "host namespace", "hostNetwork")


def test_hardening_checks_init_containers_too():
    def add_init(obj):
        init = copy.deepcopy(first(obj))
        init["name"] = "init-perms"
        init["securityContext"] = {"runAsUser": 0}
        pod(obj)["initContainers"] = [init]

    obj = manifest("prod", "Job", "migrate", add_init)
    found = fired(obj, "prod", "container-hardening")
    assert {v.container for v in found} == {"init-perms"}
    assert_fires(found, f"Job/mbhealth/{obj['metadata']['name']}", "runAsUser is 0", "components/security.py", container="init-perms")


# ── resources ────────────────────────────────────────────────────────────────

@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_missing_limits_fire(stack):
    obj = manifest(stack, "Deployment", "worker", delete_in(("resources", "limits")))
    namespace = obj["metadata"]["namespace"]
    assert_fires(fired(obj, stack, "resources"), f"Deployment/{namespace}/worker",
                 "resources.limits has no cpu, memory, ephemeral-storage", "requests and limits", container="worker")


def test_missing_memory_request_fires_on_a_job():
    obj = manifest("prod", "Job", "migrate", delete_in(("resources", "requests", "memory")))
    assert_fires(fired(obj, "prod", "resources"), f"Job/mbhealth/{obj['metadata']['name']}",
                 "resources.requests has no memory", "mbhealth:services", container="migrate")


def test_no_resources_at_all_fires_twice():
    obj = manifest("dev", "StatefulSet", "postgres", delete_in(("resources",)))
    found = fired(obj, "dev", "resources")
    assert {v.problem for v in found} == {
        "resources.requests has no cpu, memory, ephemeral-storage",
        "resources.limits has no cpu, memory, ephemeral-storage",
    }
    assert all(v.mandatory for v in found)  # no dev exception for limits


# ── probes ───────────────────────────────────────────────────────────────────

@pytest.mark.parametrize("stack", ["dev", "prod"])
@pytest.mark.parametrize("probe", ["livenessProbe", "readinessProbe"])
def test_missing_probe_fires_on_deployments(stack, probe):
    obj = manifest(stack, "Deployment", "frontend", delete_in((probe,)))
    namespace = obj["metadata"]["namespace"]
    assert_fires(fired(obj, stack, "probes"), f"Deployment/{namespace}/frontend", f"no {probe}",
                 "components/build_specs.py", container="frontend")


def test_missing_probes_fire_on_statefulsets():
    def strip(obj):
        del first(obj)["livenessProbe"], first(obj)["readinessProbe"]

    obj = manifest("dev", "StatefulSet", "postgres", strip)
    assert_fires(fired(obj, "dev", "probes"), "StatefulSet/mbhealth-dev/postgres", "no livenessProbe and no readinessProbe",
                 "readinessProbe", container="postgres")


def test_jobs_need_no_probes():
    obj = manifest("prod", "Job", "migrate")
    assert "livenessProbe" not in first(obj) and "readinessProbe" not in first(obj)
    assert fired(obj, "prod", "probes") == []
    # ... while the same container in a Deployment would need them.
    as_deployment = {**obj, "kind": "Deployment", "apiVersion": "apps/v1"}
    assert len(fired(as_deployment, "prod", "probes")) == 1


# ── image-pinning ────────────────────────────────────────────────────────────

PROD_REPO = "ghcr.io/mbhealth/mbhealth/backend"
DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize("image, problem", [
    (f"{PROD_REPO}:latest", "uses `latest`"),
    (PROD_REPO, "uses `latest`"),
    (f"{PROD_REPO}:1.0.0", "not pinned by digest"),
    (f"docker.io/library/python@{DIGEST}", "not from the stack's registry (ghcr.io/mbhealth/mbhealth/...)"),
    (f"localhost:5000/mbhealth/backend@{DIGEST}", "not from the stack's registry"),
    (f"{PROD_REPO}@sha256:abc", "not pinned by digest"),
])
def test_unpinned_or_foreign_images_fire_in_prod(image, problem):
    obj = manifest("prod", "Deployment", "backend", set_in(("image",), image))
    violation = assert_fires(fired(obj, "prod", "image-pinning"), "Deployment/mbhealth/backend", problem,
                             "", container="backend")
    assert "never a tag, never `latest`" in violation.fix or "version tag" in violation.fix


def test_dev_data_services_public_tags_are_advisory_with_the_reason():
    obj = manifest("dev", "Deployment", "redis")
    violation = assert_fires(fired(obj, "dev", "image-pinning"), "Deployment/mbhealth-dev/redis",
                             "not from the stack's registry", "mbhealth:dataServices", container="redis", mandatory=False)
    assert "dev exception" in violation.message


def test_latest_is_mandatory_even_for_devs_data_services():
    obj = manifest("dev", "StatefulSet", "postgres", set_in(("image",), "postgres:latest"))
    assert_fires(fired(obj, "dev", "image-pinning"), "StatefulSet/mbhealth-dev/postgres", "uses `latest`",
                 "specific version tag", container="postgres", mandatory=True)
    untagged = manifest("dev", "Deployment", "redis", set_in(("image",), "redis"))
    assert_fires(fired(untagged, "dev", "image-pinning"), "Deployment/mbhealth-dev/redis", "uses `latest`",
                 "specific version tag", container="redis", mandatory=True)


def test_the_dev_exception_does_not_cover_app_images_or_other_environments():
    app = manifest("dev", "Deployment", "backend", set_in(("image",), "python:3.11-slim"))
    assert_fires(fired(app, "dev", "image-pinning"), "Deployment/mbhealth-dev/backend", "not from the stack's registry",
                 "repo_digest", container="backend", mandatory=True)
    # dev's redis Deployment checked as prod (a production stack running an in-cluster Redis): mandatory.
    redis = manifest("dev", "Deployment", "redis")
    found = [v for v in evaluate_manifest(redis, load_context("prod")) if v.rule == "image-pinning"]
    assert found and all(v.mandatory for v in found)


def test_unknown_images_during_preview_are_skipped_not_failed():
    obj = manifest("prod", "Deployment", "backend", set_in(("image",), UNKNOWN))
    assert fired(obj, "prod", "image-pinning") == []


# ── image builds (docker:index/image:Image) ─────────────────────────────────

def image_build(stack: str, name: str = "backend") -> dict[str, Any]:
    (resource,) = [r for r in synthesized(stack).resources if r.type == DOCKER_IMAGE_TYPE and r.name == name]
    return copy.deepcopy(reveal(resource.inputs))


def build_violations(props, stack="dev", name="backend"):
    return evaluate(DOCKER_IMAGE_TYPE, props, load_context(stack), name=name)


@pytest.mark.parametrize("mutate, rule, problem", [
    (lambda p: p.update(imageName="localhost:5000/mbhealth/backend:latest"), "image-pinning", "imageName has no release tag"),
    (lambda p: p.update(imageName="localhost:5000/mbhealth/backend"), "image-pinning", "imageName has no release tag"),
    (lambda p: p.update(imageName="docker.io/someone/backend:1.0"), "image-pinning", "imageName is not in the stack's registry"),
    (lambda p: p["build"]["args"].update(PYTHON_IMAGE="python:latest"), "image-pinning", "base image build arg PYTHON_IMAGE uses `latest`"),
    (lambda p: p["build"]["args"].update(PYTHON_IMAGE="python"), "image-pinning", "base image build arg PYTHON_IMAGE uses `latest`"),
    (lambda p: p["build"]["args"].update(NPM_TOKEN="abc"), "no-plaintext-secrets", "build arg 'NPM_TOKEN' looks like a secret"),
    (lambda p: p["build"]["args"].update(PIP_INDEX="https://ci:hunter2secret@pypi.internal/simple"), "no-plaintext-secrets",
     "build arg 'PIP_INDEX' looks like a secret (a URL with embedded credentials)"),
])
def test_image_build_rules_fire(mutate, rule, problem):
    props = image_build("dev")
    assert build_violations(props) == []
    mutate(props)
    found = [v for v in build_violations(props) if v.rule == rule]
    assert any(problem in v.problem for v in found), [v.message for v in found]
    violation = next(v for v in found if problem in v.problem)
    assert violation.resource.startswith("docker Image backend (")
    assert violation.mandatory and "Fix: build through ContainerImage (components/image.py)" in violation.message
    assert "hunter2secret" not in violation.message


# The deploy on main tags the release with the commit SHA (deploy.yml: imageTag "$GITHUB_SHA"); it
# becomes the VERSION build arg. Random-looking, but a release name: under a version key it passes.
GIT_SHA = "8c45af4e1b2d3c4f5a6b7c8d9e0f1a2b3c4d5e6f"


@pytest.mark.parametrize("version", [GIT_SHA, GIT_SHA[:7], GIT_SHA[:12]])
@pytest.mark.parametrize("stack", ["dev", "prod"])
@pytest.mark.parametrize("name", ["backend", "frontend"])
def test_a_git_sha_as_the_version_build_arg_is_not_a_secret(stack, name, version):
    props = image_build(stack, name)
    props["build"]["args"]["VERSION"] = version
    assert build_violations(props, stack, name) == []


@pytest.mark.parametrize("where", ["configmap", "env"])
def test_a_git_sha_under_a_version_key_is_not_a_secret(where):
    def add(key: str, value: str) -> dict[str, Any]:
        if where == "configmap":
            return manifest("prod", "ConfigMap", "backend-env", lambda o: o["data"].update({key: value}))
        return manifest("prod", "Deployment", "backend",
                        lambda o: first(o).setdefault("env", []).append({"name": key, "value": value}))

    for key in ("VERSION", "APP_VERSION", "GIT_COMMIT", "gitSha", "SOURCE_REVISION"):
        assert fired(add(key, GIT_SHA), "prod", "no-plaintext-secrets") == [], key
    # The same 40 hex under any other key is what a classic GitHub token or an API key looks like.
    found = fired(add("UPSTREAM_AUTH", GIT_SHA), "prod", "no-plaintext-secrets")
    assert [v for v in found if "its value looks like a high-entropy string" in v.problem], [v.message for v in found]


RANDOM_40 = "q8Zp3LmW7xR2vN9tKc4YhB6sJ1dF5gQeT0uWy3Ab"  # 40 random letters and digits: a token
RANDOM_B64 = "h4Jk+9Qz/Lw2Xr8Tn1Vb6Ym3Pc0Fs5Gd7Ha2Ke+U"  # 40 characters of base64


@pytest.mark.parametrize("key, value", [
    ("VERSION", RANDOM_40),                              # not a git SHA, whatever the key says
    ("VERSION", RANDOM_B64),
    ("VERSION", "a91c0bf133129816e1fa7c02afc79e355ac5fff0a066dedab965d40794e5055d"),  # openssl rand -hex 32
    ("VERSION", GIT_SHA.upper()),                        # git never prints a SHA in upper case
    ("VERSION", GIT_SHA + "0"),                          # 41 hex
    ("UPSTREAM", GIT_SHA),                               # 40 hex under a key that is no version
    ("SESSION_SALT_VALUE", GIT_SHA),
    ("SIGNATURE", GIT_SHA[:32] + "0123456789abcdef"[:8]),
])
def test_random_looking_values_stay_secrets_under_a_version_key_or_as_hex_elsewhere(key, value):
    assert value_secret_reason(value, key=key) == value_secret_reason(value) is not None, (key, value)
    props = image_build("dev")
    props["build"]["args"][key] = value
    found = [v for v in build_violations(props) if v.rule == "no-plaintext-secrets"]
    assert [v for v in found if f"build arg {key!r} looks like a secret (a high-entropy string" in v.problem], \
        [v.message for v in found]


@pytest.mark.parametrize("key", ["SECRET_VERSION", "TOKEN_SHA", "PASSWORD_REVISION", "API_KEY"])
def test_a_secret_looking_key_is_never_a_version_key(key):
    props = image_build("dev")
    props["build"]["args"][key] = GIT_SHA
    found = [v for v in build_violations(props) if v.rule == "no-plaintext-secrets"]
    assert found and all(f"build arg {key!r} looks like a secret" in v.problem for v in found)
    assert value_secret_reason(GIT_SHA, key=key) is not None


# ── service-exposure ─────────────────────────────────────────────────────────

@pytest.mark.parametrize("service_type", ["LoadBalancer", "NodePort"])
@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_public_service_types_fire(stack, service_type):
    obj = manifest(stack, "Service", "frontend", lambda o: o["spec"].update(type=service_type))
    namespace = obj["metadata"]["namespace"]
    assert_fires(fired(obj, stack, "service-exposure"), f"Service/{namespace}/frontend", f"Service type is {service_type}",
                 "ClusterIP and expose the app through the Ingress")


def test_the_ingress_controllers_load_balancer_is_allowed():
    def controller(obj):
        obj["metadata"].update(name="ingress-nginx-controller", namespace="ingress-nginx")
        obj["metadata"]["labels"]["app.kubernetes.io/component"] = "controller"
        obj["spec"]["type"] = "LoadBalancer"

    obj = manifest("prod", "Service", "frontend", controller)
    assert fired(obj, "prod", "service-exposure") == []
    elsewhere = copy.deepcopy(obj)
    elsewhere["metadata"]["namespace"] = "mbhealth"
    assert len(fired(elsewhere, "prod", "service-exposure")) == 1


# ── no-plaintext-secrets ─────────────────────────────────────────────────────

PEM = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n"


@pytest.mark.parametrize("key, value, problem", [
    ("DB_PASSWORD", "changeme", "its name says it holds a secret"),
    ("SECRET_KEY", "not-so-secret", "its name says it holds a secret"),
    ("apiToken", "tok-9f3k", "its name says it holds a secret"),
    ("DATABASE_URL", "postgresql://mbhealth:s3cr3t-pw@db.internal:5432/mbhealth", "a URL with embedded credentials"),
    ("REDIS_URL", "rediss://:s3cr3t-pw@cache.internal:6380/0", "a URL with embedded credentials"),
    ("TLS", PEM, "a PEM block"),
    ("UPSTREAM", "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8", "a well-known token format"),
    ("SESSION_SALT_VALUE", "q8Zp3LmW7xR2vN9tKc4YhB6sJ1dF5gQe", "a high-entropy string"),
])
@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_secret_looking_configmap_data_fires(stack, key, value, problem):
    obj = manifest(stack, "ConfigMap", "backend-env", lambda o: o["data"].update({key: value}))
    namespace, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
    violation = assert_fires(fired(obj, stack, "no-plaintext-secrets"), f"ConfigMap/{namespace}/{name}", problem,
                             "Kubernetes Secret")
    assert repr(key) in violation.problem
    assert value.strip() not in violation.message  # the message never quotes the value


@pytest.mark.parametrize("name, value, problem", [
    ("SECRET_KEY", "dev-secret", "its name says it holds a secret"),
    ("DATABASE_URL", "postgresql://u:pw-in-plain-text@postgres:5432/mbhealth", "a URL with embedded credentials"),
])
def test_secret_env_literals_fire(name, value, problem):
    obj = manifest("prod", "Deployment", "backend", lambda o: first(o).setdefault("env", []).append({"name": name, "value": value}))
    violation = assert_fires(fired(obj, "prod", "no-plaintext-secrets"), "Deployment/mbhealth/backend", problem,
                             "secretKeyRef", container="backend")
    assert f"env var {name!r}" in violation.problem and value not in violation.message


def test_env_from_a_secret_is_fine():
    obj = manifest("dev", "StatefulSet", "postgres")
    env = {e["name"]: e for e in first(obj)["env"]}
    assert "secretKeyRef" in env["POSTGRES_PASSWORD"]["valueFrom"]  # a PASSWORD name, but from a Secret
    assert fired(obj, "dev", "no-plaintext-secrets") == []


@pytest.mark.parametrize("key", ["PASSWORD", "DB_PASS", "dbPassword", "SECRET_KEY", "API_KEY", "APIKey", "GITHUB_TOKEN",
                                 "aws_secret_access_key", "PRIVATE_KEY", "credentials", "ENCRYPTION_KEY"])
def test_secret_key_names(key):
    assert key_looks_secret(key)


@pytest.mark.parametrize("key", ["LOG_LEVEL", "ENVIRONMENT", "BACKEND_URL", "POSTGRES_USER", "PGDATA", "CACHE_KEY_PREFIX",
                                 "BYPASS_CACHE", "PASSENGER_COUNT", "KEYBOARD_LAYOUT"])
def test_ordinary_key_names(key):
    assert not key_looks_secret(key)


@pytest.mark.parametrize("value", ["development", "DEBUG", "http://backend.mbhealth.svc.cluster.local:8000",
                                   "/var/lib/postgresql/data/pgdata", "https://app.mbhealth.example/api/v1",
                                   "a sentence with several ordinary words in it", "1.4.2", "mbhealth"])
def test_ordinary_values(value):
    assert value_secret_reason(value) is None


# ── standard-labels ──────────────────────────────────────────────────────────

@pytest.mark.parametrize("kind, name", [("ConfigMap", "frontend-env"), ("Namespace", None), ("Service", "backend"),
                                        ("Ingress", "public"), ("NetworkPolicy", "default-deny")])
@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_missing_standard_labels_fire_on_any_object(stack, kind, name):
    result = synthesized(stack)
    target = result.of_kind(kind)[0] if name is None else result.get(kind, name)
    obj = copy.deepcopy(reveal(target.manifest))
    del obj["metadata"]["labels"]["app.kubernetes.io/part-of"]
    namespace = obj["metadata"].get("namespace")
    resource = f"{kind}/{namespace}/{obj['metadata']['name']}" if namespace else f"{kind}/{obj['metadata']['name']}"
    assert_fires(fired(obj, stack, "standard-labels"), resource, "metadata.labels lacks app.kubernetes.io/part-of",
                 "components/labels.py standard_labels")


def test_missing_pod_template_labels_fire():
    obj = manifest("prod", "Deployment", "worker", lambda o: o["spec"]["template"]["metadata"].update(labels={}))
    violation = assert_fires(fired(obj, "prod", "standard-labels"), "Deployment/mbhealth/worker",
                             "spec.template.metadata.labels lacks", "standard_labels")
    assert "app.kubernetes.io/managed-by" in violation.problem


# ── context helpers ──────────────────────────────────────────────────────────

def test_stack_from_urn():
    assert stack_from_urn("urn:pulumi:prod::mbhealth::mbhealth:app:Workload$kubernetes:apps/v1:Deployment::backend") == "prod"
    assert stack_from_urn("urn:pulumi:dev::mbhealth::docker:index/image:Image::backend") == "dev"
    with pytest.raises(ValueError):
        stack_from_urn("backend")


def test_load_context_names_the_missing_stack_file(tmp_path):
    with pytest.raises(LookupError, match="Pulumi.staging.yaml"):
        load_context("staging", root=tmp_path)


@pytest.mark.parametrize("ref, parts", [
    ("localhost:5000/mbhealth/backend@sha256:abc", ("localhost:5000/mbhealth/backend", None, "sha256:abc")),
    ("localhost:5000/mbhealth/backend:dev", ("localhost:5000/mbhealth/backend", "dev", None)),
    ("localhost:5000/mbhealth/backend", ("localhost:5000/mbhealth/backend", None, None)),
    ("postgres:15.10-alpine", ("postgres", "15.10-alpine", None)),
])
def test_split_image(ref, parts):
    assert split_image(ref) == parts


def test_binary_data_is_decoded_and_not_judged_by_entropy():
    import base64
    import os

    def binary(key: str, raw: bytes):
        return lambda o: o.setdefault("binaryData", {}).update({key: base64.b64encode(raw).decode()})

    noise = manifest("prod", "ConfigMap", "frontend-env", binary("favicon.ico", os.urandom(256)))
    assert fired(noise, "prod", "no-plaintext-secrets") == []
    pem = manifest("prod", "ConfigMap", "frontend-env", binary("tls.bin", PEM.encode()))
    assert_fires(fired(pem, "prod", "no-plaintext-secrets"), f"ConfigMap/mbhealth/{pem['metadata']['name']}",
                 "ConfigMap binaryData key 'tls.bin' is in plain text and its value looks like a PEM block", "Kubernetes Secret")
