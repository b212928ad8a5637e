"""Promotion under the real engine: the prod stack deploys what dev released, through a real
StackReference, against managed-style data services outside the cluster, on the real node.

The session's dev stack (conftest `deployed`) has released images. The prod stack of the same
project and state backend, as Pulumi.prod.yaml is committed, with what the local cluster needs
changed (no cert-manager: the certificate from the stack's secrets; fixed replicas, so that dev
and prod fit on one 2-core node; the local cluster's ingress class and host come from its
generated settings): `images: {source: stack}` takes dev's `images` output and builds nothing.
Its external PostgreSQL and Redis are real servers on this machine, on the host's end of the
node's link, on non-default ports (the URLs are checked against the policy's egress before
anything deploys); the NetworkPolicies must allow exactly those ports, and the pods really use
them (prod's migrate and smoke Jobs run against them).
"""

from __future__ import annotations

import json
import secrets
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest

from tests.e2e import engine
from tests.e2e.engine import Deployed, make
from tests.support.services import PostgresServer, RedisServer, ServiceUnavailable

PROD_NAMESPACE = "mbhealth"  # Pulumi.prod.yaml


@dataclass
class Prod:
    project: Path
    env: dict[str, str]
    stack: engine.Stack
    cluster: engine.LocalCluster
    postgres: PostgresServer
    redis: RedisServer
    canaries: dict[str, str]
    first_up: str

    def get(self, kind: str, name: str | None = None) -> dict:
        return self.cluster.get(kind, name, namespace=PROD_NAMESPACE)


def _certificate(where: Path, host: str) -> tuple[str, str]:
    """A self-signed certificate for the ingress host (what an operator would import)."""
    key, crt = where / "tls.key", where / "tls.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                    f"/CN={host}", "-addext", f"subjectAltName=DNS:{host}", "-keyout", str(key), "-out", str(crt)],
                   check=True, capture_output=True)
    return crt.read_text(), key.read_text()


@pytest.fixture(scope="module")
def prod(deployed: Deployed, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prod]:
    where = tmp_path_factory.mktemp("prod")
    node = deployed.cluster.show()
    host = node["hostIP"]  # the host's end of the node's link: on this machine, reachable from pods
    try:
        postgres = PostgresServer(host=host, clients=(node["podCIDR"],)).start()
        redis = RedisServer(password=secrets.token_hex(12), host=host).start()
    except ServiceUnavailable as missing:
        pytest.fail(f"promotion needs PostgreSQL and Redis (tools/machine/system-deps.sh): {missing}", pytrace=False)
    passphrase = "e2e-prod-" + secrets.token_hex(8)
    env = dict(deployed.env, STACK="prod", PULUMI_CONFIG_PASSPHRASE=passphrase)
    stack = engine.Stack(deployed.project, "prod", dict(env), passphrase=passphrase)
    try:
        stack.init()  # writes the stack's encryptionsalt into the copy's Pulumi.prod.yaml
        for key, value in {
            "registry": {"server": "localhost:5000", "pullUsername": "mbhealth-ci"},  # where dev pushed; pull only
            "dataServices": {"mode": "external",
                             "postgres": {"cidrs": [f"{host}/32"], "port": postgres.port},
                             "redis": {"cidrs": [f"{host}/32"], "port": redis.port}},
            "images": {"source": "stack", "stack": "organization/mbhealth/dev"},
        }.items():
            engine.set_stack_value(deployed.project, "prod", key, value)
        for service in ("backend", "worker", "frontend"):
            engine.set_stack_value(deployed.project, "prod", f"services.{service}.autoscaling", None)
            engine.set_stack_value(deployed.project, "prod", f"services.{service}.replicas", 2)
        # The certificate comes from the stack's secrets (an operator's import): no cert-manager here.
        for key in ("ingress.clusterIssuer", "ingress.tlsSecretName"):
            engine.set_stack_value(deployed.project, "prod", key, None)
        _drop_nulls(deployed.project / "Pulumi.prod.yaml")
        certificate, key = _certificate(where, deployed.cluster.stack_settings("prod")["ingress"]["host"])
        canaries = {"secretKey": "canary-key-" + secrets.token_hex(24),
                    "registryPullPassword": "canary-token-" + secrets.token_hex(16)}
        settings = {**canaries, "databaseUrl": postgres.create_database("mbhealth"), "redisUrl": redis.url(),
                    "tlsCertificate": certificate, "tlsKey": key}
        for name, value in settings.items():
            stack.config_set(f"mbhealth:{name}", value, secret=True)
        first_up = make("up", deployed.project, env)
        yield Prod(deployed.project, env, stack, deployed.cluster, postgres, redis, canaries,
                   first_up.stdout + first_up.stderr)
    finally:
        make("down", deployed.project, env, check=False)
        stack.pulumi("stack", "rm", "prod", "--yes", check=False)
        redis.cleanup()
        postgres.cleanup()


def _drop_nulls(path: Path) -> None:
    import yaml

    def clean(node):
        if isinstance(node, dict):
            return {k: clean(v) for k, v in node.items() if v is not None}
        return node

    path.write_text(yaml.safe_dump(clean(yaml.safe_load(path.read_text())), sort_keys=False))


def test_prod_deploys_devs_digests_through_a_stack_reference_and_builds_nothing(prod: Prod, deployed: Deployed) -> None:
    released = deployed.images()
    assert "nothing to build" in prod.first_up and "prebuilt-images: building" not in prod.first_up
    assert prod.stack.outputs()["images"] == released, "prod's images output is dev's release"
    running = {d["metadata"]["name"]: [c["image"] for c in d["spec"]["template"]["spec"]["containers"]]
               for d in prod.get("deployments")["items"]}
    assert running == {"backend": [released["backend"]], "worker": [released["backend"]],
                       "frontend": [released["frontend"]]}
    types = [r["type"] for r in prod.stack.resources()]
    assert "docker:index/image:Image" not in types
    # The release gate ran against the promoted images.
    assert all(j["status"].get("succeeded") == 1 for j in prod.get("jobs")["items"])
    make("preview", prod.project, prod.env, "PULUMI_ARGS=--expect-no-changes")


def test_prods_network_policies_allow_exactly_the_data_services_ports(prod: Prod) -> None:
    blocks = set()
    for policy in prod.get("networkpolicies")["items"]:
        for rule in policy["spec"].get("egress") or []:
            for peer in rule.get("to") or []:
                if "ipBlock" in peer:
                    for port in rule.get("ports") or [{}]:
                        blocks.add((policy["metadata"]["name"], peer["ipBlock"]["cidr"], port.get("port")))
    wanted_ports = {prod.postgres.port, prod.redis.port}
    assert {port for _, _, port in blocks} == wanted_ports, blocks
    assert {cidr for _, cidr, _ in blocks} == {f"{prod.postgres.host}/32"}, blocks
    backend = {port for name, _, port in blocks if name == "allow-backend"}
    assert backend == wanted_ports, "the API reaches both data services, on their ports"


def test_prods_pull_and_tls_secrets_exist_and_no_secret_is_in_plaintext(prod: Prod) -> None:
    secrets_ = prod.get("secrets")["items"]
    pull = [s["metadata"]["name"] for s in secrets_ if s["type"] == "kubernetes.io/dockerconfigjson"]
    tls = [s["metadata"]["name"] for s in secrets_ if s["type"] == "kubernetes.io/tls"]
    assert len(pull) == 1 and len(tls) == 1, [(s["metadata"]["name"], s["type"]) for s in secrets_]
    for d in prod.get("deployments")["items"]:
        assert d["spec"]["template"]["spec"].get("imagePullSecrets") == [{"name": pull[0]}], d["metadata"]["name"]
    ingress = prod.get("ingress", "public")
    assert ingress["spec"]["tls"][0]["secretName"] == tls[0]
    state = prod.stack.state_files_text()
    for key, canary in prod.canaries.items():
        assert canary not in state, f"{key}'s plaintext is in the state backend's files"
        assert canary not in prod.first_up, f"{key}'s plaintext is in the output of make up"


def test_the_policy_pack_passes_the_prod_stack_through_the_engine(prod: Prod) -> None:
    """Scenario 10 on prod: `make preview-policy STACK=prod` (the dev stack: test_policy_pack.py)."""
    engine.link_policy_venv(prod.project, prod.env)
    out = make("preview-policy", prod.project, prod.env)
    assert "mbhealth-guardrails" in out.stdout, "the engine ran the pack"
    assert "mandatory" not in out.stdout.lower()


def _time(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def test_a_new_database_url_replaces_the_secret_and_migrates_before_the_pods_roll(prod: Prod) -> None:
    """Issue 12 item 11 under the engine: the Secret is replaced (a new name; README "Secrets"),
    the migrate Job runs again against the new database, and only then do the Deployments roll."""
    def env_secret() -> str:
        backend = prod.get("deployment", "backend")["spec"]["template"]["spec"]["containers"][0]
        return next(e["secretRef"]["name"] for e in backend["envFrom"] if "secretRef" in e)

    before_secret = env_secret()
    migrations = {j["metadata"]["name"] for j in prod.get("jobs")["items"]
                  if j["metadata"]["labels"]["app.kubernetes.io/name"] == "migrate"}
    sets = {rs["metadata"]["name"] for rs in prod.get("replicasets")["items"]}

    prod.stack.config_set("mbhealth:databaseUrl", prod.postgres.create_database("mbhealth_moved"), secret=True)
    make("up", prod.project, prod.env)

    after_secret = env_secret()
    assert after_secret != before_secret, "a changed Secret is replaced under a new name"
    names = {s["metadata"]["name"] for s in prod.get("secrets")["items"]}
    assert before_secret not in names, "the replaced Secret is deleted"
    new_migrations = [j for j in prod.get("jobs")["items"]
                      if j["metadata"]["labels"]["app.kubernetes.io/name"] == "migrate"
                      and j["metadata"]["name"] not in migrations]
    assert len(new_migrations) == 1 and new_migrations[0]["status"].get("succeeded") == 1
    migrated = _time(new_migrations[0]["status"]["completionTime"])
    rolled = [rs for rs in prod.get("replicasets")["items"] if rs["metadata"]["name"] not in sets]
    assert {rs["metadata"]["labels"]["app.kubernetes.io/name"] for rs in rolled} >= {"backend", "worker"}
    for rs in rolled:
        assert _time(rs["metadata"]["creationTimestamp"]) >= migrated, f"{rs['metadata']['name']} rolled first"
    assert json.dumps(prod.get("deployment", "backend")).count(after_secret) >= 1
