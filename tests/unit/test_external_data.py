"""Managed data services (issue 12, item 1): the NetworkPolicies' egress comes from config naming
each service's networks and port, and a secret URL outside it fails the deploy before anything
reaches the cluster, without ever showing the URL, its host or its password."""

from __future__ import annotations

import logging

import pytest

from components import external_data
from components.config import ConfigError, ExternalEndpoint, SecretConfigError
from components.external_data import check_url
from scripts.synth import SYNTH_SECRETS, synthesize
from tests.unit.test_application import allowed

PASSWORD = "pw-canary-5e1d"
HOST = "redis.private.example"


def prod_secrets(**urls) -> dict[str, str]:
    return {**SYNTH_SECRETS["prod"], **urls}


PROD_SERVICES = {"postgres": {"cidrs": ["10.0.1.0/24"], "port": 5432}, "redis": {"cidrs": ["10.0.2.0/24"], "port": 6380}}


def data_services(**services) -> dict:
    """synthesize() arguments: prod's dataServices with these services replaced whole."""
    return {"overrides": {"dataServices": {"mode": "external", **PROD_SERVICES, **services}}, "remove": ["dataServices"]}


def fails_before_deploying(**kwargs) -> SecretConfigError:
    with pytest.raises(SecretConfigError) as caught:
        synthesize("prod", **kwargs)
    created = [r for r in caught.value.registered_before_failure if r.custom and r.type.startswith("kubernetes:")]
    assert created == []  # nothing reaches the cluster
    text = str(caught.value)
    assert PASSWORD not in text and HOST not in text and "://" not in text  # never the URL, host or password
    return caught.value


def test_egress_ports_and_networks_come_from_each_services_config():
    redis_url = f"rediss://:{PASSWORD}@10.20.0.7:6390/0"
    result = synthesize("prod", **data_services(redis={"cidrs": ["10.20.0.0/24", "10.21.0.0/24"], "port": 6390}),
                        secrets=prod_secrets(redisUrl=redis_url))
    egress, _ = allowed(result)
    assert {flow for flow in egress if flow[0] == "worker"} == {
        ("worker", "cidr:10.0.1.0/24", 5432), ("worker", "cidr:10.20.0.0/24", 6390), ("worker", "cidr:10.21.0.0/24", 6390)}


def test_the_port_defaults_to_the_services_standard_one():
    url = f"redis://:{PASSWORD}@10.0.2.9/0"  # no port in the URL: redis connects to 6379
    result = synthesize("prod", **data_services(redis={"cidrs": ["10.0.2.0/24"]}), secrets=prod_secrets(redisUrl=url))
    egress, _ = allowed(result)
    assert ("backend", "cidr:10.0.2.0/24", 6379) in egress


def test_a_url_on_another_port_fails_before_anything_is_deployed():
    """The README's own TLS Redis on 6380 behind a policy for 6379: never ready. Now refused."""
    error = fails_before_deploying(**data_services(redis={"cidrs": ["10.0.2.0/24"], "port": 6379}),
                                   secrets=prod_secrets(redisUrl=f"rediss://:{PASSWORD}@10.0.2.5:6380/0"))
    (line,) = error.problems
    assert line.startswith("mbhealth:redisUrl: the URL's port 6380 is not dataServices.redis.port 6379")
    assert "expected the URL on port 6379, or dataServices.redis.port: 6380" in line


def test_a_host_outside_the_networks_fails_and_both_urls_are_reported_at_once():
    error = fails_before_deploying(secrets=prod_secrets(
        databaseUrl=f"postgresql://app:{PASSWORD}@192.0.2.10:5432/mbhealth",
        redisUrl=f"rediss://:{PASSWORD}@10.0.3.4:6380/0"))
    assert [p.split(":")[1] for p in error.problems] == ["databaseUrl", "redisUrl"]
    assert "is at 192.0.2.10, outside dataServices.postgres.cidrs (10.0.1.0/24)" in error.problems[0]
    assert "is at 10.0.3.4, outside dataServices.redis.cidrs (10.0.2.0/24)" in error.problems[1]


def test_a_host_name_is_resolved_and_checked(monkeypatch):
    monkeypatch.setattr(external_data, "system_resolver", lambda host: None)
    answers = {HOST: ["10.0.9.9"]}
    # synth swaps in its offline resolver; put a resolving one behind it for this run.
    import scripts.synth as synth

    monkeypatch.setattr(synth, "offline_resolver", lambda host: answers.get(host))
    error = fails_before_deploying(secrets=prod_secrets(redisUrl=f"rediss://:{PASSWORD}@{HOST}:6380/0"))
    (line,) = error.problems
    assert "the URL's host (hidden) is at 10.0.9.9, outside dataServices.redis.cidrs" in line
    answers[HOST] = ["10.0.2.40"]
    synthesize("prod", secrets=prod_secrets(redisUrl=f"rediss://:{PASSWORD}@{HOST}:6380/0"))


def test_a_host_name_that_does_not_resolve_here_is_a_warning_not_an_error():
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record):
            records.append(record)

    engine_log = logging.getLogger("mbhealth.synth.engine")
    handler = Keep()
    engine_log.addHandler(handler)
    try:
        synthesize("prod", secrets=prod_secrets(redisUrl=f"rediss://:{PASSWORD}@{HOST}:6380/0"))
    finally:
        engine_log.removeHandler(handler)
    warnings = [r.getMessage() for r in records if "does not resolve from this machine" in r.getMessage()]
    assert all(HOST not in w and PASSWORD not in w for w in warnings)
    (redis,) = [w for w in warnings if w.startswith("mbhealth:redisUrl:")]
    assert "not checked against dataServices.redis.cidrs (10.0.2.0/24)" in redis


@pytest.mark.parametrize(
    "service, url, endpoint, problem",
    [
        ("postgres", "postgresql://u:p@10.0.1.5/db", ExternalEndpoint(("10.0.1.0/24",), 5432), None),
        ("postgres", "postgresql://u:p@10.0.1.5/db", ExternalEndpoint(("10.0.1.0/24",), 6432), "port 5432"),
        ("redis", "rediss://:p@[fd00::5]:6380/0", ExternalEndpoint(("fd00::/64",), 6380), None),
        ("redis", "rediss://:p@[fd01::5]:6380/0", ExternalEndpoint(("fd00::/64",), 6380), "is at fd01::5"),
        ("redis", "rediss://:p@cache:6380/0", ExternalEndpoint(("10.0.0.0/8",), 6380), None),  # resolves inside
        ("redis", "rediss://:p@cache:6380/0", ExternalEndpoint(("10.1.0.0/16",), 6380), "is at 10.0.2.5"),
    ],
)
def test_check_url(service, url, endpoint, problem):
    finding = check_url(service, url, endpoint, resolve=lambda host: {"cache": ["10.0.2.5"]}.get(host))
    if problem is None:
        assert finding.problems == ()
    else:
        (line,) = finding.problems
        assert problem in line and ":p@" not in line


def test_external_mode_needs_each_services_networks():
    with pytest.raises(ConfigError) as caught:
        synthesize("prod", overrides={"dataServices": {"mode": "external", "postgres": {"cidrs": ["10.0.1.0/24"]}}},
                   remove=["dataServices"])
    (line,) = caught.value.problems
    assert line.startswith("mbhealth:dataServices.redis: missing while mode is external")
    assert "expected {cidrs: [<network in CIDR notation>], port: <TCP port, default 6379>}" in line


def test_the_single_egress_cidr_is_refused_with_what_replaces_it():
    with pytest.raises(ConfigError) as caught:
        synthesize("prod", overrides={"dataServices": {"egressCidr": "10.0.0.0/8"}})
    (line,) = caught.value.problems
    assert line.startswith("mbhealth:dataServices.egressCidr: replaced by each service's own networks and port")
    assert "dataServices.redis: {cidrs: [<network>], port: 6380}" in line
