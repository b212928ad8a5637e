"""tests/images/kubelet.py against a real container (the probe-app fixture image)."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest

from components.build_specs import APP_GID, APP_UID
from tests.images import kubelet


def _spec(image: str, port: int, **overrides) -> dict:
    container = {
        "name": "probe",
        "image": image,
        "ports": [{"name": "http", "containerPort": port}],
        "env": [{"name": "PORT", "value": str(port)}, {"name": "GREETING", "valueFrom": {
            "secretKeyRef": {"name": "app", "key": "greeting"}}}],
        "securityContext": {
            "runAsNonRoot": True, "runAsUser": APP_UID, "runAsGroup": APP_GID,
            "readOnlyRootFilesystem": True, "allowPrivilegeEscalation": False,
            "capabilities": {"drop": ["ALL"]},
        },
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "128Mi"}},
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 2, "failureThreshold": 3},
        "livenessProbe": {"httpGet": {"path": "/live", "port": port}, "periodSeconds": 5},
    }
    container.update(overrides)
    return container


def _pod(container: dict, grace: int = 10) -> dict:
    return {
        "terminationGracePeriodSeconds": grace,
        "securityContext": {"fsGroup": APP_GID, "seccompProfile": {"type": "RuntimeDefault"}},
        "volumes": [{"name": "tmp", "emptyDir": {}}],
        "containers": [container],
    }


SECRETS = {"app": {"greeting": "hello\nworld"}}


def _start(probe_app, kubelet_containers, grace: int = 10, extra_env: dict | None = None,
           **overrides) -> kubelet.Container:
    port = kubelet.free_port()
    container = _spec(probe_app.ref, port, **overrides)
    container["env"] = container["env"] + [{"name": k, "value": v} for k, v in (extra_env or {}).items()]
    run = kubelet.run_pod_container(_pod(container, grace), secrets=SECRETS)
    kubelet_containers.append(run)
    run.port = port  # type: ignore[attr-defined]
    return run


def _info(run) -> dict:
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(
            f"http://127.0.0.1:{run.port}/info", timeout=5) as resp:
        return json.load(resp)


def test_runs_the_spec_hardened_and_becomes_ready(probe_app, kubelet_containers) -> None:
    run = _start(probe_app, kubelet_containers)
    seconds = run.wait_ready(poll=0.1)
    assert seconds < 10
    info = _info(run)
    assert (info["uid"], info["euid"], info["gid"]) == (APP_UID, APP_UID, APP_GID)
    assert APP_GID in info["groups"]
    assert info["root_writable"] is False
    assert info["tmp_writable"] is True
    assert int(info["cap_eff"], 16) == 0
    assert info["no_new_privs"] == "1"
    assert info["memory_limit"] == str(128 * 2**20)
    assert info["cpu_quota"].split()[0] in ("50000",)  # 0.5 CPU of a 100 ms period
    assert info["env"]["GREETING"] == "hello\nworld"
    assert info["env"]["PORT"] == str(run.port)
    assert info["argv"] == ["/app/app.py", "serve"]
    assert run.probe("liveness").ok


def test_command_and_args_follow_kubernetes_semantics(probe_app, kubelet_containers) -> None:
    port = kubelet.free_port()
    container = _spec(probe_app.ref, port, command=["python", "/app/app.py"], args=["$(MODE)"])
    container["env"] = container["env"] + [{"name": "MODE", "value": "serve"}]
    run = kubelet.run_pod_container(_pod(container), secrets=SECRETS)
    kubelet_containers.append(run)
    run.port = port
    run.wait_ready(poll=0.1)
    assert _info(run)["argv"] == ["/app/app.py", "serve"]


def test_readiness_waits_for_the_app_and_follows_it(probe_app, kubelet_containers) -> None:
    run = _start(probe_app, kubelet_containers, extra_env={"READY_AFTER": "1.5"})
    seconds = run.wait_ready(poll=0.1)
    assert 1.5 <= seconds < 5
    run.exec(["touch", "/tmp/unready"], check=True)
    result = run.probe("readiness")
    assert not result.ok and "HTTP 503" in result.detail
    assert run.probe("liveness").ok


def test_exec_and_tcp_probes(probe_app, kubelet_containers) -> None:
    port = kubelet.free_port()
    container = _spec(
        probe_app.ref, port,
        readinessProbe={"exec": {"command": ["python", "/app/app.py", "check"]}, "periodSeconds": 1},
        livenessProbe={"tcpSocket": {"port": "http"}},
    )
    run = kubelet.run_pod_container(_pod(container), secrets=SECRETS)
    kubelet_containers.append(run)
    run.wait_ready(poll=0.1)
    assert run.probe("liveness").ok
    failing = run.run_handler({"exec": {"command": ["python", "-c", "import sys; sys.exit(3)"]}}, timeout=5)
    assert not failing.ok and failing.detail.startswith("exit 3")
    slow = run.run_handler({"exec": {"command": ["sleep", "5"]}}, timeout=1)
    assert not slow.ok and "timed out" in slow.detail
    closed = run.run_handler({"tcpSocket": {"port": kubelet.free_port()}}, timeout=1)
    assert not closed.ok


def test_not_ready_within_budget_raises_with_logs(probe_app, kubelet_containers) -> None:
    port = kubelet.free_port()
    container = _spec(probe_app.ref, port, readinessProbe={"httpGet": {"path": "/nope", "port": port}})
    run = kubelet.run_pod_container(_pod(container), secrets=SECRETS)
    kubelet_containers.append(run)
    with pytest.raises(kubelet.KubeletError, match="not Ready within 2.0s"):
        run.wait_ready(timeout=2, poll=0.2)


def test_crashing_container_is_reported(probe_app, kubelet_containers) -> None:
    container = _spec(probe_app.ref, kubelet.free_port(), command=["python", "-c", "raise SystemExit(7)"])
    run = kubelet.run_pod_container(_pod(container), secrets=SECRETS)
    kubelet_containers.append(run)
    with pytest.raises(kubelet.KubeletError, match="exited with code 7"):
        run.wait_ready(timeout=5, poll=0.2)


def test_sigterm_exit_is_timed(probe_app, kubelet_containers) -> None:
    run = _start(probe_app, kubelet_containers, grace=10, extra_env={"DRAIN_SECONDS": "1"})
    run.wait_ready(poll=0.1)
    result = run.terminate()
    assert result.signal == "SIGTERM"
    assert result.exit_code == 0 and not result.killed
    assert 1 <= result.signal_to_exit_seconds < 5


def test_ignored_sigterm_is_killed_at_the_grace_period(probe_app, kubelet_containers) -> None:
    run = _start(probe_app, kubelet_containers, grace=2, extra_env={"IGNORE_SIGTERM": "1"})
    run.wait_ready(poll=0.1)
    started = time.monotonic()
    result = run.terminate()
    assert result.killed and result.exit_code == 137
    assert 2 <= time.monotonic() - started < 6


def test_prestop_hook_runs_before_the_signal(probe_app, kubelet_containers) -> None:
    port = kubelet.free_port()
    container = _spec(probe_app.ref, port, lifecycle={"preStop": {"exec": {"command": ["sleep", "1"]}}})
    run = kubelet.run_pod_container(_pod(container, grace=10), secrets=SECRETS)
    kubelet_containers.append(run)
    run.wait_ready(poll=0.1)
    result = run.terminate()
    assert result.exit_code == 0 and result.prestop_seconds >= 1
    assert result.total_seconds >= result.prestop_seconds + result.signal_to_exit_seconds - 0.1


def test_run_as_non_root_refuses_a_root_image(standins, kubelet_containers) -> None:
    container = {"name": "root", "image": standins["python:3.11-slim"], "command": ["sleep", "1"],
                 "securityContext": {"runAsNonRoot": True}}
    with pytest.raises(kubelet.KubeletError, match="image will run as root"):
        kubelet.Container(container)
