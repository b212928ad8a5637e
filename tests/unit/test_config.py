"""Bad stack config fails before any resource registers, naming the key and the accepted form."""

from __future__ import annotations

from decimal import Decimal

import pytest

from components.config import ConfigError, ExternalDataConfig, InClusterDataConfig
from components.quantity import parse_quantity
from scripts.synth import synthesize


def fails(stack: str, expected_key: str, *fragments: str, overrides=None, secrets=None, remove=()) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        synthesize(stack, overrides=overrides, secrets=secrets, remove=remove)
    error = caught.value
    # Nothing was created: the program stopped at the config read.
    assert caught.value.registered_before_failure == []
    matching = [p for p in error.problems if p.startswith(f"mbhealth:{expected_key}:")]
    assert matching, f"no problem names mbhealth:{expected_key}: {error.problems}"
    for fragment in fragments:
        assert fragment in matching[0], matching[0]
    assert "expected" in matching[0]
    return error


@pytest.mark.parametrize("replicas", [0, -2, 1.5, "three"])
def test_replicas_must_be_a_positive_whole_number(replicas):
    fails("dev", "services.backend.replicas", repr(replicas), "a whole number of at least 1",
          overrides={"services": {"backend": {"replicas": replicas}}})


def test_malformed_quantity_names_the_field_and_the_form():
    fails("dev", "services.worker.limits.memory", "'2 gigs'", "Kubernetes quantity", "512Mi",
          overrides={"services": {"worker": {"limits": {"memory": "2 gigs"}}}})


def test_limit_below_request():
    fails("prod", "services.backend.limits.cpu", "'200m' is below its request '250m'", "at or above the request",
          overrides={"services": {"backend": {"limits": {"cpu": "200m"}}}})


def test_unknown_resource_name():
    fails("dev", "services.backend.requests.gpu", "unknown resource", "cpu, memory, ephemeral-storage",
          overrides={"services": {"backend": {"requests": {"gpu": "1"}}}})


@pytest.mark.parametrize("stack", ["dev", "prod"])
@pytest.mark.parametrize("tag", ["", "latest"])
def test_empty_or_latest_tag_is_refused(stack, tag):
    fails(stack, "imageTag", "expected", overrides={"imageTag": tag})


def test_tag_with_illegal_characters():
    fails("prod", "imageTag", "'v1 final'", "a Docker tag", overrides={"imageTag": "v1 final"})


@pytest.mark.parametrize("missing", ["databaseUrl", "redisUrl", "secretKey", "registryPullPassword"])
def test_missing_prod_secret(missing):
    from scripts.synth import SYNTH_SECRETS

    secrets = {k: v for k, v in SYNTH_SECRETS["prod"].items() if k != missing}
    error = fails("prod", missing, "missing", "pulumi config set --secret", secrets=secrets)
    assert len(error.problems) == 1


def test_unknown_service_in_per_service_map():
    fails("dev", "services.api", "unknown service", "one of backend, worker, frontend",
          overrides={"services": {"api": {"replicas": 2}}})


def test_min_replicas_above_max():
    fails("prod", "services.frontend.autoscaling.minReplicas", "minReplicas 5 is above maxReplicas 3",
          overrides={"services": {"frontend": {"autoscaling": {"minReplicas": 5, "maxReplicas": 3}}}})


def test_pdb_that_would_block_every_eviction_is_refused():
    fails("prod", "services.backend.minAvailable", "below the replica count",
          overrides={"services": {"backend": {"minAvailable": 2}}})


def test_tmp_size_must_fit_ephemeral_storage_limit():
    fails("dev", "services.frontend.tmpSize", "exceeds the ephemeral-storage limit",
          overrides={"services": {"frontend": {"tmpSize": "1Gi"}}})


@pytest.mark.parametrize(
    "key, value, fragment",
    [
        ("environment", "qa", "one of development, production"),
        ("logLevel", "LOUD", "one of DEBUG, INFO"),
        ("namespace", "MBHealth_Dev", "a DNS label"),
        ("platform", "windows/amd64", "linux/amd64"),
        ("registry", {"server": "https://registry.example"}, "a registry host"),
        ("ingress", {"host": "Not A Host"}, "a lower-case DNS name"),
        ("dataServices", {"mode": "sidecar"}, "one of in-cluster, external"),
    ],
)
def test_scalar_and_object_keys(key, value, fragment):
    problem_key = {"registry": "registry.server", "ingress": "ingress.host", "dataServices": "dataServices.mode"}.get(key, key)
    fails("dev", problem_key, fragment, overrides={key: value})


def test_every_problem_is_reported_at_once():
    with pytest.raises(ConfigError) as caught:
        synthesize("dev", overrides={"imageTag": "latest", "logLevel": "LOUD",
                                     "services": {"worker": {"replicas": 0}, "cache": {}}})
    keys = sorted(p.split(":", 2)[1] for p in caught.value.problems)
    assert keys == ["imageTag", "logLevel", "services.cache", "services.worker.replicas"]
    assert str(caught.value).startswith("invalid stack configuration:")


def test_registry_username_needs_a_password():
    fails("dev", "registryPassword", "registry.username is set",
          overrides={"registry": {"server": "localhost:5000", "username": "ci"}})


def test_stack_files_load_into_typed_values(dev, prod):
    from components.config import load_stack_config  # noqa: F401  (the program's only reader)

    # The typed values the program saw are visible through what it created.
    assert dev.get("Namespace", "mbhealth-dev")
    assert prod.get("Namespace", "mbhealth")


def test_typed_config_is_frozen():
    from pydantic import ValidationError  # a frozen model refuses assignment ("frozen_instance")

    from components.config import RawConfig, read_stack_config

    raw = {"environment": "development", "namespace": "demo", "imageTag": "1.2.3",
           "registry": {"server": "localhost:5000"}, "ingress": {"host": "demo.local"}}
    config = read_stack_config(RawConfig(stack="dev", values=raw))
    assert isinstance(config.data, InClusterDataConfig)
    assert config.services["backend"].replicas == 1
    with pytest.raises(ValidationError, match="frozen"):
        config.namespace = "other"  # type: ignore[misc]
    secrets = {"databaseUrl": "postgresql://u:p@db:5432/x", "redisUrl": "redis://:p@cache:6379/0", "secretKey": "k" * 32}
    external = read_stack_config(RawConfig(
        stack="prod", values={**raw, "environment": "production", "dataServices": {
            "mode": "external", "postgres": {"cidrs": ["10.0.1.0/24"]}, "redis": {"cidrs": ["10.0.2.0/24"], "port": 6380}}},
        secrets=secrets))
    assert isinstance(external.data, ExternalDataConfig)
    assert (external.data.postgres.cidrs, external.data.postgres.port) == (("10.0.1.0/24",), 5432)
    assert (external.data.redis.cidrs, external.data.redis.port) == (("10.0.2.0/24",), 6380)


@pytest.mark.parametrize(
    "text, value",
    [("250m", Decimal("0.25")), ("1", Decimal(1)), ("1.5", Decimal("1.5")), ("512Mi", Decimal(512 * 2**20)),
     ("2Gi", Decimal(2 * 2**30)), ("500M", Decimal(500 * 10**6)), ("1e3", Decimal(1000)), ("64Ki", Decimal(65536))],
)
def test_quantities_parse_exactly(text, value):
    assert parse_quantity(text) == value


@pytest.mark.parametrize("text", ["2 gigs", "512MB", "", "1.2.3", "Mi", "1 Gi", "fast"])
def test_non_quantities_are_refused(text):
    with pytest.raises(ValueError, match="Kubernetes quantity"):
        parse_quantity(text)


@pytest.mark.parametrize("image", ["postgres", "postgres:latest", "Postgres:15", "postgres:15@sha256:short"])
def test_dev_data_service_images_must_name_a_version(image):
    fails("dev", "dataServices.postgresImage", "specific version tag or digest",
          overrides={"dataServices": {"postgresImage": image}})
