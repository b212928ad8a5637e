"""Health probes derived from an image's process spec (build_specs.ProcessSpec).

Readiness decides whether a pod gets traffic and may look at dependencies;
liveness decides whether the kubelet restarts it and must stay cheap and
dependency-free; a startup probe covers slow Python start-ups so liveness can be
strict afterwards. Liveness and readiness are never the same check.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi_kubernetes as k8s

from components.build_specs import ProcessSpec


@dataclass(frozen=True)
class ProbeSet:
    readiness: k8s.core.v1.ProbeArgs | None
    liveness: k8s.core.v1.ProbeArgs | None
    startup: k8s.core.v1.ProbeArgs | None


def _action(process: ProcessSpec, path: str | None, command: tuple[str, ...] | None, tcp: bool = False) -> dict:
    if path is not None:
        return {"http_get": k8s.core.v1.HTTPGetActionArgs(path=path, port="http")}
    if command is not None:
        return {"exec_": k8s.core.v1.ExecActionArgs(command=list(command))}
    if tcp:
        return {"tcp_socket": k8s.core.v1.TCPSocketActionArgs(port="http")}
    raise ValueError(f"{process.command}: no probe action defined")


# How long a Python process (API, worker) may take to start before liveness applies.
STARTUP_BUDGET_SECONDS = 120


def probes_for(process: ProcessSpec) -> ProbeSet:
    # Exec probes start a Python interpreter (and `celery inspect ping` waits for a
    # reply), so they get longer periods and timeouts than HTTP checks.
    is_exec = process.readiness_exec is not None
    timeout = 10 if is_exec else 3
    # HTTP readiness every 5 s: a pod leaves its Service within 15 s of a dependency going away, and
    # a kubelet restart (which starts readiness as failed, first probe within one period) is short.
    readiness = k8s.core.v1.ProbeArgs(
        **_action(process, process.readiness_path, process.readiness_exec),
        period_seconds=30 if is_exec else 5,
        timeout_seconds=timeout,
        failure_threshold=3,
        success_threshold=1,
    )
    live_action = _action(process, process.liveness_path, process.liveness_exec, process.liveness_tcp)
    liveness = k8s.core.v1.ProbeArgs(
        **live_action,
        period_seconds=30 if is_exec else 15,
        timeout_seconds=timeout,
        failure_threshold=3,
        success_threshold=1,
    )
    # Python processes (API, worker) import a lot before they serve: a start-up budget of 120 s so
    # liveness can stay strict afterwards, probed often (every 1 s over HTTP, 2 s for an exec that
    # starts an interpreter), since a new pod is Ready only once it passes: it paces every rollout.
    startup = None
    if process.image == "backend":
        period = 2 if process.liveness_exec is not None else 1
        startup = k8s.core.v1.ProbeArgs(
            **live_action,
            period_seconds=period,
            timeout_seconds=timeout,
            failure_threshold=STARTUP_BUDGET_SECONDS // period,
            success_threshold=1,
        )
    return ProbeSet(readiness=readiness, liveness=liveness, startup=startup)
