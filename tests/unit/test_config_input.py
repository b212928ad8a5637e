"""Nothing a user writes in a stack file is silently ignored or changed (issue 13, "the first hour").

Each test writes a stack file the way a user would and runs the program on it, as
`make synth` and `pulumi up` do; the program must refuse it before creating anything,
with one line per problem naming the key and the accepted form.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pulumi
import pytest

from components.config import ConfigError, host_platform
from components.stack_file import engine_strings, load_stack_file
from scripts.mock_engine import SynthMocks
from scripts.synth import REPO_ROOT, SYNTH_SECRETS, synthesize


def stack_file(tmp_path: Path, stack: str, *edits: tuple[str, str], append: str = "") -> Path:
    """The stack's real file with text replaced (each `old` must be there) and lines appended."""
    text = (REPO_ROOT / f"Pulumi.{stack}.yaml").read_text()
    for old, new in edits:
        assert old in text, old
        text = text.replace(old, new, 1)
    path = tmp_path / f"Pulumi.{stack}.yaml"
    path.write_text(text + append)
    return path


def problems(stack: str, path: Path, **kwargs) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        synthesize(stack, stack_file=path, **kwargs)
    assert caught.value.registered_before_failure == []  # nothing was created
    return caught.value.problems


def problem(stack: str, path: Path, key: str, **kwargs) -> str:
    found = [p for p in problems(stack, path, **kwargs) if p.startswith(f"mbhealth:{key}: ")]
    assert len(found) == 1, found
    assert "; expected " in found[0]
    return found[0]


# --- Unknown keys are errors, at every level, with the closest valid key ------------------


@pytest.mark.parametrize(
    "stack, edit, key, guess",
    [
        ("dev", ("mbhealth:logLevel: DEBUG", "mbhealth:loglevel: DEBUG"), "loglevel", "logLevel"),
        ("dev", ("    backend:\n      replicas: 1", "    backend:\n      replica: 2"), "services.backend.replica", "replicas"),
        ("dev", ("    className: nginx", "    classname: nginx"), "ingress.classname", "className"),
        # This one silently removed the prod backend's HPA.
        ("prod", ("      autoscaling: {minReplicas: 2, maxReplicas: 8", "      autoScaling: {minReplicas: 2, maxReplicas: 8"),
         "services.backend.autoScaling", "autoscaling"),
        ("prod", ("    postgres:\n      cidrs", "    postgress:\n      cidrs"), "dataServices.postgress", "postgres"),
        ("prod", ("      cidrs: [10.0.2.0/24]", "      cidr: [10.0.2.0/24]"), "dataServices.redis.cidr", "cidrs"),
        ("dev", ("    worker:", "    workers:"), "services.workers", "worker"),
    ],
)
def test_unknown_keys_name_the_closest_valid_one(tmp_path, stack, edit, key, guess):
    text = problem(stack, stack_file(tmp_path, stack, edit), key)
    assert f"(did you mean `{guess}`?)" in text
    assert "expected one of " in text and guess in text.split("expected one of ", 1)[1]


def test_keys_of_other_namespaces_are_left_alone(tmp_path):
    path = stack_file(tmp_path, "dev", append="  kubernetes:context: kind-mbhealth\n  pulumi:disable-default-providers: ['*']\n")
    assert synthesize("dev", stack_file=path).get("Namespace", "mbhealth-dev")


def test_a_misspelt_project_namespace_is_not_left_alone(tmp_path):
    path = stack_file(tmp_path, "dev", append="  mbhealh:imageTag: v2\n")
    (text,) = [p for p in problems("dev", path) if p.startswith("mbhealh:imageTag")]
    assert "did you mean `mbhealth:imageTag`?" in text


# --- Scalars are not reinterpreted ----------------------------------------------------------


@pytest.mark.parametrize(
    "written, shown",
    [
        ("", "got nothing (YAML reads an empty value as null)"),
        ("1.10", "got 1.10, which YAML reads as the number 1.1"),
        ("0123456", "got 0123456, which YAML reads as the octal number 42798"),
        ("true", "got true, which YAML reads as the boolean true"),
    ],
)
def test_a_tag_written_as_a_yaml_number_or_null_is_refused_with_quote_it(tmp_path, written, shown):
    path = stack_file(tmp_path, "prod", ("mbhealth:imageTag: 1.0.0", f"mbhealth:imageTag: {written}".rstrip()))
    text = problem("prod", path, "imageTag")
    assert shown in text
    assert "as text in quotes: imageTag: " in text


@pytest.mark.parametrize("written", ['"1.10"', "'0123456'", '"1.0"'])
def test_a_quoted_tag_is_used_exactly_as_written(tmp_path, written):
    path = stack_file(tmp_path, "prod", ("mbhealth:imageTag: 1.0.0", f"mbhealth:imageTag: {written}"))
    result = synthesize("prod", stack_file=path)
    (backend,) = [r for r in result.resources if r.type == "docker:index/image:Image" and r.name == "backend"]
    assert backend.inputs["imageName"] == f"ghcr.io/mbhealth/mbhealth/backend:{written.strip(chr(34) + chr(39))}"


# imageTag is both the images' Docker tag and the app.kubernetes.io/version label of every object:
# it must be what both accept, or the API server refuses the label after the images were pushed.
DOCKER_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
IMAGE_TAG_FORM = ("expected a Docker tag that is also a label value (app.kubernetes.io/version): 1-63 of letters, "
                  "digits, '_', '.', '-', starting and ending with a letter or digit")


@pytest.mark.parametrize(
    "tag, shown",
    [
        ("v" * 64, "64 characters: the app.kubernetes.io/version label holds at most 63"),
        ("1" + "0" * 127, "128 characters: the app.kubernetes.io/version label holds at most 63"),  # a Docker tag
        ("_v1.4.2", "which starts with '_': a label value starts with a letter or digit"),
        (".v1", "which starts with '.': a label value starts with a letter or digit"),
        ("-rc1", "which starts with '-': a label value starts with a letter or digit"),
        ("1.4.2.", "which ends with '.': a label value ends with a letter or digit"),
        ("1.4.2-", "which ends with '-': a label value ends with a letter or digit"),
        ("1.4.2_", "which ends with '_': a label value ends with a letter or digit"),
        ("v1+build.7", "got 'v1+build.7'"),
        ("v1/2", "got 'v1/2'"),
    ],
)
def test_an_image_tag_the_api_server_refuses_as_a_label_is_refused(tmp_path, tag, shown):
    assert not (DOCKER_TAG.fullmatch(tag) and LABEL_VALUE.fullmatch(tag) and len(tag) <= 63)
    path = stack_file(tmp_path, "prod", ("mbhealth:imageTag: 1.0.0", f'mbhealth:imageTag: "{tag}"'))
    text = problem("prod", path, "imageTag")
    assert text.startswith(f"mbhealth:imageTag: got {tag!r}")
    assert shown in text and IMAGE_TAG_FORM in text and "(never latest)" in text


@pytest.mark.parametrize("tag", ["8c45af4e1b2d3c4f5a6b7c8d9e0f1a2b3c4d5e6f", "8c45af4", "1.4.2", "v1.4.2-rc.1",
                                 "build_42", "A", "9", "x" * 63, "1.0.0-" + "a" * 57])
def test_an_image_tag_that_is_a_docker_tag_and_a_label_value_is_used(tmp_path, tag):
    assert DOCKER_TAG.fullmatch(tag) and LABEL_VALUE.fullmatch(tag) and len(tag) <= 63
    path = stack_file(tmp_path, "prod", ("mbhealth:imageTag: 1.0.0", f'mbhealth:imageTag: "{tag}"'))
    result = synthesize("prod", stack_file=path)
    (backend,) = [r for r in result.resources if r.type == "docker:index/image:Image" and r.name == "backend"]
    assert backend.inputs["imageName"] == f"ghcr.io/mbhealth/mbhealth/backend:{tag}"
    assert result.get("Deployment", "backend").manifest["metadata"]["labels"]["app.kubernetes.io/version"] == tag


def test_image_tag_accepts_exactly_what_is_both_a_docker_tag_and_a_label_value():
    """Every short string over the characters that matter, and the lengths around 63 and 128."""
    import itertools

    from pydantic import TypeAdapter, ValidationError

    from components.config import ImageTag

    adapter = TypeAdapter(ImageTag)
    alphabet = "a9_.-+"
    candidates = ["".join(c) for n in range(4) for c in itertools.product(alphabet, repeat=n)]
    candidates += ["a" * n for n in (62, 63, 64, 127, 128, 129)] + ["latest", "v1\n", "é1"]
    for tag in candidates:
        both = bool(DOCKER_TAG.fullmatch(tag) and LABEL_VALUE.fullmatch(tag)) and len(tag) <= 63 and tag != "latest"
        try:
            adapter.validate_python(tag)
            accepted = True
        except ValidationError:
            accepted = False
        assert accepted == both, repr(tag)


def test_text_inside_objects_must_be_written_as_text(tmp_path):
    path = stack_file(tmp_path, "prod", ("    pullUsername: mbhealth-ci", "    pullUsername: 0755"))
    text = problem("prod", path, "registry.pullUsername")
    assert "got 0755, which YAML reads as the octal number 493" in text and 'pullUsername: "0755"' in text


@pytest.mark.parametrize(
    "edit, key, shown",
    [
        (("      minAvailable: 1\n      requests: {cpu: 250m, memory: 256Mi",
          "      minAvailable: 01\n      requests: {cpu: 250m, memory: 256Mi"),
         "services.backend.minAvailable", "got 01, which YAML reads as the octal number 1"),
        (("limits: {cpu: \"1\", memory: 512Mi", "limits: {cpu: 1.50, memory: 512Mi"),
         "services.backend.limits.cpu", "got 1.50, which YAML reads as the number 1.5"),
    ],
)
def test_a_number_yaml_would_change_is_refused(tmp_path, edit, key, shown):
    assert shown in problem("prod", stack_file(tmp_path, "prod", edit), key)


def test_a_number_where_a_number_belongs_is_fine_and_a_quoted_one_is_not(tmp_path):
    ok = stack_file(tmp_path, "prod", ('limits: {cpu: "1", memory: 512Mi', "limits: {cpu: 2, memory: 512Mi"))
    assert synthesize("prod", stack_file=ok)
    quoted = stack_file(tmp_path, "dev", ("    backend:\n      replicas: 1", '    backend:\n      replicas: "2"'))
    text = problem("dev", quoted, "services.backend.replicas")
    assert "got '2' (text)" in text and "written without quotes" in text


# The Pulumi CLI (Go, yaml.v3) reads a stack file and hands each value to the program as
# a string. These are the strings it produced for this file (checked with the CLI's own
# config package, sdk v3.272.0); synth must produce exactly the same.
GO_STACK_FILE = """\
config:
  mbhealth:imageTag: 1.10
  mbhealth:empty:
  mbhealth:null: null
  mbhealth:octal: 0123456
  mbhealth:yes: yes
  mbhealth:big: 1e21
  mbhealth:small: 0.0000001
  mbhealth:f16: 1e16
  mbhealth:hex: 0x1F
  mbhealth:under: 1_000
  mbhealth:date: 2024-01-02
  mbhealth:dot: .5
  mbhealth:one: 1.0
  mbhealth:obj:
    b: 1.10
    a: 0123
    c: "x<y>&"
    d: [1, null, true, 2.50]
    e:
  mbhealth:str: "0123"
  mbhealth:t: True
  mbhealth:plus: +12
  mbhealth:secret:
    secure: v1:abc
"""
GO_CONFIG = {
    "mbhealth:imageTag": "1.1", "mbhealth:empty": "", "mbhealth:null": "", "mbhealth:octal": "42798",
    "mbhealth:yes": "yes", "mbhealth:big": "1e+21", "mbhealth:small": "1e-7", "mbhealth:f16": "10000000000000000",
    "mbhealth:hex": "31", "mbhealth:under": "1000", "mbhealth:date": "2024-01-02 00:00:00 +0000 UTC",
    "mbhealth:dot": "0.5", "mbhealth:one": "1",
    "mbhealth:obj": '{"a":83,"b":1.1,"c":"x\\u003cy\\u003e\\u0026","d":[1,null,true,2.5],"e":null}',
    "mbhealth:str": "0123", "mbhealth:t": "true", "mbhealth:plus": "12",
}


def test_synth_passes_config_to_the_program_exactly_as_the_pulumi_cli_does(tmp_path):
    path = tmp_path / "Pulumi.go.yaml"
    path.write_text(GO_STACK_FILE)
    parsed = load_stack_file(path)
    assert engine_strings(parsed) == GO_CONFIG
    assert parsed.secure == {"mbhealth:secret"}


def test_under_the_engine_the_program_sees_the_file_as_written(tmp_path, monkeypatch):
    """`pulumi up`: config arrives in PULUMI_CONFIG (strings only); the program reads the file's nodes."""
    from components.config import load_stack_config

    path = stack_file(tmp_path, "prod", ("mbhealth:imageTag: 1.0.0", "mbhealth:imageTag: 1.10"))
    config = {**engine_strings(load_stack_file(path)), **{f"mbhealth:{k}": v for k, v in SYNTH_SECRETS["prod"].items()}}
    assert config["mbhealth:imageTag"] == "1.1"  # what the CLI passes
    pulumi.runtime.set_mocks(SynthMocks(), project="mbhealth", stack="prod", preview=False)
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(config))
    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", json.dumps([f"mbhealth:{k}" for k in SYNTH_SECRETS["prod"]]))
    # What pulumi-language-python-exec does before it runs the program:
    pulumi.runtime.set_all_config(pulumi.runtime.get_config_env(), pulumi.runtime.get_config_secret_keys_env())
    with pytest.raises(ConfigError, match=re.escape("got 1.10, which YAML reads as the number 1.1")):
        load_stack_config(stack_file=path)


def test_under_pulumi_up_a_config_error_prints_its_lines_not_a_traceback(tmp_path):
    """pulumi-language-python-exec prints a pulumi.RunError's message alone (`except pulumi.RunError:
    pulumi.log.error(str(e))`); any other exception as 'Program failed with an unhandled exception' + traceback."""
    path = stack_file(tmp_path, "dev", ("mbhealth:logLevel: DEBUG", "mbhealth:loglevel: DEBUG"))
    with pytest.raises(pulumi.RunError) as caught:
        synthesize("dev", stack_file=path)
    assert str(caught.value).splitlines() == [
        "invalid stack configuration:",
        "  - mbhealth:loglevel: unknown key (did you mean `logLevel`?); expected one of " + ", ".join(
            ["environment", "namespace", "createNamespace", "imageTag", "registry", "platform", "logLevel", "ingress",
             "dataServices", "services", "images", "backendVariant", "cluster", "secretKey", "databaseUrl", "redisUrl",
             "registryPassword", "registryPullPassword", "tlsCertificate", "tlsKey"]),
    ]


def test_the_program_turns_a_yaml_syntax_error_into_a_config_error_of_one_line(tmp_path, monkeypatch):
    from components.config import load_stack_config

    path = tmp_path / "Pulumi.dev.yaml"
    path.write_text("config:\n  mbhealth:imageTag: [dev\n")
    pulumi.runtime.set_mocks(SynthMocks(), project="mbhealth", stack="dev", preview=False)
    pulumi.runtime.set_all_config({}, [])
    with pytest.raises(ConfigError) as caught:
        load_stack_config(stack_file=path)
    (line,) = caught.value.problems
    assert re.fullmatch(r"Pulumi\.dev\.yaml:\d+:\d+: .+ \(YAML syntax\)", line), line


# --- Every value that ends up in a manifest is validated -------------------------------------


@pytest.mark.parametrize(
    "stack, edit, key, fragment",
    [
        ("prod", ("cidrs: [10.0.1.0/24]", "cidrs: [ten-dot-oh]"), "dataServices.postgres.cidrs.0", "CIDR notation"),
        ("prod", ("cidrs: [10.0.1.0/24]", "cidrs: [10.0.1.0/24, 10.0.1.1/8]"), "dataServices.postgres.cidrs.1",
         "has host bits set (the network is 10.0.0.0/8)"),
        ("prod", ("cidrs: [10.0.2.0/24]", "cidrs: [10.0.2.0/33]"), "dataServices.redis.cidrs.0", "CIDR notation"),
        ("prod", ("cidrs: [10.0.2.0/24]", "cidrs: 10.0.2.0/24"), "dataServices.redis.cidrs", "not a list"),
        ("prod", ("cidrs: [10.0.2.0/24]", "cidrs: []"), "dataServices.redis.cidrs", "a list of networks"),
        ("prod", ("port: 6380", "port: 65536"), "dataServices.redis.port", "a whole number from 1 to 65535"),
        ("prod", ("port: 6380", 'port: "6380"'), "dataServices.redis.port", "written without quotes"),
        ("dev", ("server: localhost:5000", "server: localhost:50000000"), "registry.server", "not a number from 1 to 65535"),
        ("dev", ("server: localhost:5000", "server: local_host:5000"), "registry.server", "registry host"),
        ("dev", ("server: localhost:5000", "server: localhost:5000/Team"), "registry.server", "lower-case repository path"),
        ("dev", ("host: mbhealth.localtest.me", "host: mbhealth.localtest.me:8080"), "ingress.host", "DNS name"),
        ("dev", ("className: nginx", "className: Nginx Public"), "ingress.className", "IngressClass name"),
        ("prod", ("tlsSecretName: mbhealth-tls", "tlsSecretName: mbhealth_tls"), "ingress.tlsSecretName", "Secret name"),
        ("dev", ("className: nginx", "className: nginx\n    controllerNamespace: Ingress"), "ingress.controllerNamespace",
         "DNS label"),
        ("dev", ("postgresStorage: 1Gi", "postgresStorage: 1 GB"), "dataServices.postgresStorage", "Kubernetes quantity"),
        ("dev", ("postgresStorage: 1Gi", "postgresStorage: 0Gi"), "dataServices.postgresStorage", "not above zero"),
        *[("dev", ("postgresStorage: 1Gi", f"postgresStorage: 1Gi\n    postgresStorageClass: {written}"),
           "dataServices.postgresStorageClass", "a StorageClass name: a DNS-1123 subdomain")
          for written in ("Fast_SSD", "fast ssd", "-fast", "fast.", "fast..ssd", '"fast\\n"', '""', "a" * 254)],
        ("dev", ("postgresStorage: 1Gi", "postgresStorage: 1Gi\n    postgresStorageClass: 10"),
         "dataServices.postgresStorageClass", "as text in quotes"),
        ("dev", ("namespace: mbhealth-dev", "namespace: " + "n" * 64), "namespace", "DNS label"),
    ],
)
def test_every_value_that_reaches_a_manifest_is_validated(tmp_path, stack, edit, key, fragment):
    assert fragment in problem(stack, stack_file(tmp_path, stack, edit), key)


def test_all_problems_are_reported_at_once(tmp_path):
    path = stack_file(tmp_path, "prod", ("cidrs: [10.0.1.0/24]", "cidrs: [ten-dot-oh]"),
                      ("mbhealth:logLevel: INFO", "mbhealth:loglevel: INFO"), ("mbhealth:imageTag: 1.0.0", "mbhealth:imageTag:"),
                      ("className: nginx", "classname: nginx"))
    keys = sorted(p.split(": ", 1)[0] for p in problems("prod", path))
    assert keys == ["mbhealth:dataServices.postgres.cidrs.0", "mbhealth:imageTag", "mbhealth:ingress.classname",
                    "mbhealth:loglevel"]


# --- A value that has no effect is an error --------------------------------------------------


@pytest.mark.parametrize(
    "stack, edit, key, fragment",
    [
        ("prod", ("    backend:\n", "    backend:\n      replicas: 3\n"), "services.backend.replicas",
         "has no effect beside autoscaling"),
        ("dev", ("postgresStorage: 1Gi", "postgresStorage: 1Gi\n    redis: {cidrs: [10.0.0.0/8], port: 6380}"),
         "dataServices.redis", "has no effect with mode in-cluster"),
        ("prod", ("mode: external", "mode: external\n    postgresStorage: 5Gi"),
         "dataServices.postgresStorage", "has no effect with mode external"),
        ("prod", ("mode: external", "mode: external\n    postgresStorageClass: gp3"),
         "dataServices.postgresStorageClass", "has no effect with mode external"),
        ("dev", ("mbhealth:imageTag: dev", "mbhealth:imageTag: dev\n  mbhealth:images:\n    stack: org/mbhealth/dev"),
         "images.stack", "has no effect with source build"),
    ],
)
def test_a_value_with_no_effect_is_an_error(tmp_path, stack, edit, key, fragment):
    assert fragment in problem(stack, stack_file(tmp_path, stack, edit), key)


def test_the_shipped_stacks_have_no_setting_without_effect(prod):
    # prod's services scale with HPAs: no `replicas` beside them any more.
    assert prod.get("HorizontalPodAutoscaler", "backend").manifest["spec"]["minReplicas"] == 2
    assert "replicas" not in prod.get("Deployment", "backend").manifest["spec"]


# --- Secrets committed in plain text are refused with the command to run ---------------------


@pytest.mark.parametrize("key, value", [("secretKey", "a" * 40), ("registryPassword", "ghp_token"),
                                        ("databaseUrl", "postgresql://mbhealth:hunter2@db.internal:5432/mbhealth")])
def test_a_plaintext_secret_is_refused_with_the_command_to_run(tmp_path, key, value):
    path = stack_file(tmp_path, "prod", append=f"  mbhealth:{key}: '{value}'\n")
    text = problem("prod", path, key)
    assert "committed in plain text in Pulumi.prod.yaml" in text
    assert f"pulumi config set --secret --stack prod {key} <value>" in text
    assert value not in text


def test_a_url_with_a_password_anywhere_in_plain_config_is_refused(tmp_path):
    path = stack_file(tmp_path, "dev", ("server: localhost:5000", "server: localhost:5000\n    mirror: https://ci:s3cret@mirror.example"))
    found = [p for p in problems("dev", path) if p.startswith("mbhealth:registry.mirror: ")]
    assert len(found) == 1 and "a URL with a password in plain text" in found[0]
    assert "pulumi config set --secret --stack dev --path 'registry.mirror'" in found[0]
    assert "s3cret" not in found[0]


def test_a_secret_of_the_wrong_shape_is_refused_without_showing_it():
    secrets = {**SYNTH_SECRETS["prod"], "databaseUrl": "mysql://root:topsecret@db/x", "secretKey": "short"}
    with pytest.raises(ConfigError) as caught:
        synthesize("prod", secrets=secrets)
    text = "\n".join(caught.value.problems)
    assert "mbhealth:databaseUrl: not a PostgreSQL URL (value hidden)" in text
    assert "mbhealth:secretKey: 5 characters (value hidden)" in text
    assert "topsecret" not in text and "short" not in text.replace("5 characters", "")


def test_secrets_held_as_secrets_are_accepted(prod):
    assert prod.get("Namespace", "mbhealth")


# --- Environments, platform ------------------------------------------------------------------


def test_staging_is_not_an_accepted_environment_until_a_stack_ships_for_it(tmp_path):
    assert not (REPO_ROOT / "Pulumi.staging.yaml").exists()
    text = problem("dev", stack_file(tmp_path, "dev", ("environment: development", "environment: staging")), "environment")
    assert "expected one of development, production" in text
    readme = (REPO_ROOT / "README.md").read_text()
    (row,) = [line for line in readme.splitlines() if line.startswith("| `environment` |")]
    assert "`development` or `production`" in row and "staging" not in row


@pytest.mark.parametrize("machine, expected", [("x86_64", "linux/amd64"), ("aarch64", "linux/arm64"),
                                               ("arm64", "linux/arm64"), ("armv7l", "linux/arm/v7"), ("riscv64", None)])
def test_host_platform(machine, expected):
    assert host_platform(machine) == expected


def test_platform_follows_the_host_unless_set(monkeypatch, tmp_path):
    import components.config.stack as config

    monkeypatch.setattr(config.host, "machine", lambda: "aarch64")  # an arm64 laptop
    dev = synthesize("dev")
    assert {r.inputs["build"]["platform"] for r in dev.resources if r.type == "docker:index/image:Image"} == {"linux/arm64"}
    prod = synthesize("prod")  # prod's nodes are amd64: its stack file says so
    assert {r.inputs["build"]["platform"] for r in prod.resources if r.type == "docker:index/image:Image"} == {"linux/amd64"}
    monkeypatch.setattr(config.host, "machine", lambda: "riscv64")
    assert "machine's architecture 'riscv64'" in problem("dev", stack_file(tmp_path, "dev"), "platform")


def test_missing_external_secrets_are_reported_beside_other_data_service_problems(tmp_path):
    path = stack_file(tmp_path, "prod", ("cidrs: [10.0.1.0/24]", "cidrs: [ten-dot-oh]"))
    secrets = {k: v for k, v in SYNTH_SECRETS["prod"].items() if k not in ("databaseUrl", "redisUrl")}
    keys = sorted(p.split(": ", 1)[0] for p in problems("prod", path, secrets=secrets))
    assert keys == ["mbhealth:dataServices.postgres.cidrs.0", "mbhealth:databaseUrl", "mbhealth:redisUrl"]


def test_an_empty_object_setting_says_so(tmp_path):
    path = stack_file(tmp_path, "dev", ("  mbhealth:ingress:\n    host: mbhealth.localtest.me\n    className: nginx\n",
                                        "  mbhealth:ingress:\n"))
    assert "got nothing (an empty value)" in problem("dev", path, "ingress")


def test_build_settings_without_a_build_are_a_loud_warning(tmp_path):
    """prod keeps `platform` for the builds it may do; promoted digests build nothing."""
    import subprocess
    import sys

    digests = {"backend": "ghcr.io/mbhealth/mbhealth/backend@sha256:" + "a" * 64,
               "frontend": "ghcr.io/mbhealth/mbhealth/frontend@sha256:" + "b" * 64}
    result = synthesize("prod", overrides={"images": {"source": "digests", "digests": digests}})
    assert "warning: mbhealth:platform: has no effect with images.source digests" in result.notes[0]
    path = stack_file(tmp_path, "prod", append="  mbhealth:images:\n    source: digests\n    digests:\n"
                      f"      backend: {digests['backend']}\n      frontend: {digests['frontend']}\n")
    run = subprocess.run([sys.executable, "scripts/synth.py", "--stack", "prod", "--stack-file", str(path), "--out",
                          str(tmp_path / "out")], cwd=REPO_ROOT, capture_output=True, text=True, timeout=180)
    assert run.returncode == 0, run.stderr
    assert "mbhealth:platform: has no effect with images.source digests" in run.stdout + run.stderr
