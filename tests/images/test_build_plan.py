"""Pure checks of how images are built and how container specs become `docker run` (no engine)."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import build_images
import pytest

from components.build_specs import IMAGE_BUILDS
from tests.images import kubelet
from tests.images.harness import TEST_VERSION

NEEDS_DOCKER = False

STANDINS = {
    "python:3.11-slim": "localhost:5000/standin/python@sha256:" + "1" * 64,
    "python:3.11": "localhost:5000/standin/python@sha256:" + "4" * 64,
    "node:20-alpine": "localhost:5000/standin/node@sha256:" + "2" * 64,
    "nginx:1.25-alpine": "localhost:5000/standin/nginx@sha256:" + "3" * 64,
}


def _flag_values(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == flag]


@pytest.mark.parametrize("name", sorted(IMAGE_BUILDS))
def test_build_command_comes_from_the_one_spec(name: str, tmp_path: Path) -> None:
    spec = IMAGE_BUILDS[name]
    argv, args = build_images.build_command(
        spec, version=TEST_VERSION, standins=STANDINS, tag="t", iidfile=tmp_path / "iid")
    assert argv[0] == "build"
    assert _flag_values(argv, "--network") == ["host"]
    assert _flag_values(argv, "--file") == [str(spec.dockerfile_path())]
    assert _flag_values(argv, "--target") == [spec.target]
    assert argv[-1] == str(spec.context_path())
    # Exactly the spec's build args: its base-image args (as stand-ins) plus VERSION.
    expected = spec.build_args(TEST_VERSION, base_images={k: STANDINS[v] for k, v in spec.base_image_args.items()})
    assert args == expected
    assert sorted(_flag_values(argv, "--build-arg")) == sorted(f"{k}={v}" for k, v in expected.items())


def test_extra_targets_only_change_the_target(tmp_path: Path) -> None:
    spec = IMAGE_BUILDS["backend"]
    worker = dataclasses.replace(spec, target="worker")
    argv, _ = build_images.build_command(worker, version="1", standins=STANDINS, tag="t", iidfile=tmp_path / "i")
    assert _flag_values(argv, "--target") == ["worker"]
    assert build_images.image_key(worker) == "backend:worker"
    assert build_images.image_key(spec) == "backend"
    assert build_images.image_tag(worker, "1.2+x", "worker").endswith("/mbhealth/backend:1.2-x-worker")


def test_unknown_base_image_is_a_clear_error() -> None:
    with pytest.raises(KeyError, match="no stand-in forged for base image 'python:3.11-slim'"):
        build_images.standin_build_args({"PYTHON_IMAGE": "python:3.11-slim"}, {})


@pytest.mark.parametrize(
    ("quantity", "bytes_"),
    [("512Mi", 512 * 2**20), ("1Gi", 2**30), ("128M", 128 * 10**6), ("1.5Gi", 3 * 2**29), (1000, 1000)],
)
def test_memory_quantities(quantity, bytes_) -> None:
    assert kubelet.memory_bytes(quantity) == bytes_


@pytest.mark.parametrize(("quantity", "millis"), [("250m", 250), ("1", 1000), ("0.5", 500), (2, 2000)])
def test_cpu_quantities(quantity, millis) -> None:
    assert kubelet.cpu_millis(quantity) == millis


def test_env_order_sources_and_expansion() -> None:
    container = {
        "envFrom": [{"configMapRef": {"name": "cfg"}}, {"secretRef": {"name": "sec"}, "prefix": "S_"}],
        "env": [
            {"name": "A", "value": "a"},
            {"name": "B", "value": "$(A)-$(MISSING)-$$(A)"},
            {"name": "LEVEL", "value": "override"},
            {"name": "PW", "valueFrom": {"secretKeyRef": {"name": "sec", "key": "password"}}},
            {"name": "HOST", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "HOST"}}},
            {"name": "OPT", "valueFrom": {"configMapKeyRef": {"name": "nope", "key": "x", "optional": True}}},
            {"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
            {"name": "MEM", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}},
        ],
        "resources": {"limits": {"memory": "256Mi"}},
    }
    env = kubelet.resolve_env(
        container,
        config_maps={"cfg": {"LEVEL": "info", "HOST": "db"}},
        secrets={"sec": {"password": "s3cret"}},
        pod_fields={"metadata.name": "api-0"},
    )
    assert env == {
        "LEVEL": "override", "HOST": "db", "S_password": "s3cret", "A": "a", "B": "a-$(MISSING)-$(A)",
        "PW": "s3cret", "POD": "api-0", "MEM": "256",
    }


def test_missing_secret_is_a_config_error() -> None:
    container = {"env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "gone", "key": "k"}}}]}
    with pytest.raises(kubelet.KubeletError, match="CreateContainerConfigError"):
        kubelet.resolve_env(container)


def test_plan_translates_a_hardened_container() -> None:
    pod = {
        "securityContext": {"runAsNonRoot": True, "runAsUser": 10001, "runAsGroup": 10001, "fsGroup": 10001,
                            "seccompProfile": {"type": "RuntimeDefault"}},
        "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
        "containers": [],
    }
    container = {
        "name": "api",
        "image": "localhost:5000/mbhealth/backend@sha256:" + "a" * 64,
        "command": ["python", "-m", "mbhealth"],
        "args": ["serve", "--port=$(PORT)"],
        "env": [{"name": "PORT", "value": "8000"}],
        "securityContext": {"readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
                            "capabilities": {"drop": ["ALL"]}},
        "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"cpu": "500m", "memory": "256Mi"}},
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    plan = kubelet.plan_run(container, pod_spec=pod, image_config={"User": "10001:10001"}, name="n")
    argv = plan.argv
    assert _flag_values(argv, "--network") == ["host"]
    assert _flag_values(argv, "--user") == ["10001:10001"]
    assert _flag_values(argv, "--group-add") == ["10001"]
    assert "--read-only" in argv
    assert _flag_values(argv, "--security-opt") == ["no-new-privileges"]
    assert _flag_values(argv, "--cap-drop") == ["ALL"]
    assert _flag_values(argv, "--memory") == [str(256 * 2**20)]
    assert _flag_values(argv, "--memory-swap") == [str(256 * 2**20)]
    assert _flag_values(argv, "--cpus") == ["0.5"]
    assert _flag_values(argv, "--cpu-shares") == ["102"]
    assert _flag_values(argv, "--tmpfs") == [f"/tmp:rw,exec,nosuid,nodev,mode=1777,size={64 * 2**20}"]
    assert _flag_values(argv, "--entrypoint") == ["python"]
    assert plan.args == ["-m", "mbhealth", "serve", "--port=8000"]
    # Env values never appear in argv (secrets would show in `ps`).
    assert _flag_values(argv, "--env") == ["PORT"] and plan.env == {"PORT": "8000"}


def test_args_only_keeps_the_entrypoint() -> None:
    plan = kubelet.plan_run({"name": "c", "image": "i", "args": ["x"]}, image_config={})
    assert "--entrypoint" not in plan.argv and plan.args == ["x"]


@pytest.mark.parametrize(
    ("image_user", "context", "message"),
    [
        ("", {}, "image will run as root"),
        ("0", {}, "image will run as root"),
        ("app", {}, "non-numeric user"),
        ("10001", {"runAsUser": 0}, "breaks non-root policy"),
    ],
)
def test_run_as_non_root_is_enforced_like_kubelet(image_user, context, message) -> None:
    container = {"name": "c", "image": "i", "securityContext": {"runAsNonRoot": True, **context}}
    with pytest.raises(kubelet.KubeletError, match=message):
        kubelet.plan_run(container, image_config={"User": image_user})


def test_run_as_non_root_accepts_a_numeric_image_user() -> None:
    container = {"name": "c", "image": "i", "securityContext": {"runAsNonRoot": True}}
    plan = kubelet.plan_run(container, image_config={"User": "10001:10001"})
    assert "--user" not in plan.argv


def test_configmap_volume_is_materialised_read_only() -> None:
    pod = {"volumes": [{"name": "conf", "configMap": {"name": "web", "items": [{"key": "k", "path": "a/b.conf"}]}}]}
    container = {"name": "c", "image": "i", "volumeMounts": [{"name": "conf", "mountPath": "/etc/app"}]}
    plan = kubelet.plan_run(container, pod_spec=pod, config_maps={"web": {"k": "v"}}, image_config={})
    try:
        (root,) = plan.temp_dirs
        assert (root / "a/b.conf").read_text() == "v"
        assert _flag_values(plan.argv, "--mount") == [f"type=bind,source={root},target=/etc/app,readonly"]
    finally:
        for path in plan.temp_dirs:
            shutil.rmtree(path)


def test_host_aliases_become_etc_hosts_entries() -> None:
    pod = {"hostAliases": [{"ip": "127.0.0.1", "hostnames": ["backend.ns.svc.cluster.local", "backend"]}],
           "containers": [{"name": "c", "image": "img"}]}
    plan = kubelet.plan_run(pod["containers"][0], pod_spec=pod, image="img", image_config={"User": "10001"})
    assert _flag_values(plan.argv, "--add-host") == ["backend.ns.svc.cluster.local:127.0.0.1", "backend:127.0.0.1"]
