"""Secure pod and container defaults: the one place they are defined.

Every pod the program creates (app workloads, the migration Job, dev data
services) takes its security contexts, writable volumes and shutdown timing from
here, so a hardening change is made once.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi_kubernetes as k8s

from components.build_specs import APP_GID, APP_UID

# Seconds the preStop `sleep` action holds a terminating pod so that endpoints and
# ingress controllers stop routing to it before the process receives SIGTERM.
PRESTOP_PAUSE_SECONDS = 5
# Slack on top of pause + drain before the kubelet sends SIGKILL.
SHUTDOWN_MARGIN_SECONDS = 10


@dataclass(frozen=True)
class RunAs:
    uid: int = APP_UID
    gid: int = APP_GID

    def __post_init__(self) -> None:
        if self.uid == 0 or self.gid == 0:
            raise ValueError("pods never run as root (uid/gid 0)")


APP_USER = RunAs()


def termination_grace_seconds(drain_seconds: int, prestop_pause: int = PRESTOP_PAUSE_SECONDS) -> int:
    """Grace period strictly longer than the preStop pause plus the process's drain time."""
    return prestop_pause + drain_seconds + SHUTDOWN_MARGIN_SECONDS


def pod_security_context(user: RunAs = APP_USER) -> k8s.core.v1.PodSecurityContextArgs:
    return k8s.core.v1.PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=user.uid,
        run_as_group=user.gid,
        fs_group=user.gid,
        fs_group_change_policy="OnRootMismatch",
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def container_security_context(user: RunAs = APP_USER) -> k8s.core.v1.SecurityContextArgs:
    return k8s.core.v1.SecurityContextArgs(
        run_as_non_root=True,
        run_as_user=user.uid,
        run_as_group=user.gid,
        read_only_root_filesystem=True,
        allow_privilege_escalation=False,
        privileged=False,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def prestop_pause(seconds: int = PRESTOP_PAUSE_SECONDS) -> k8s.core.v1.LifecycleArgs:
    """The kubelet's own `sleep` action: works in images without a shell."""
    return k8s.core.v1.LifecycleArgs(
        pre_stop=k8s.core.v1.LifecycleHandlerArgs(sleep=k8s.core.v1.SleepActionArgs(seconds=seconds))
    )


def volume_name(path: str) -> str:
    return "scratch" + path.replace("/", "-").replace("_", "-").rstrip("-")


def writable_volumes(
    paths: tuple[str, ...], size_limit: str
) -> tuple[list[k8s.core.v1.VolumeArgs], list[k8s.core.v1.VolumeMountArgs]]:
    """An emptyDir (with a size limit) for every path the process writes to; the rest is read-only."""
    volumes = [
        k8s.core.v1.VolumeArgs(name=volume_name(path), empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit=size_limit))
        for path in paths
    ]
    mounts = [k8s.core.v1.VolumeMountArgs(name=volume_name(path), mount_path=path) for path in paths]
    return volumes, mounts
