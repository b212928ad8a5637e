"""The pod rules: hardened containers, resource requests and limits, liveness and readiness probes."""

from __future__ import annotations

from typing import Any, Mapping, Optional

from components.config import RESOURCE_NAMES
from policy.objects import LONG_RUNNING, container_name, containers, describe, is_list, is_map, pod_spec
from policy.stack_context import StackContext
from policy.violation import Violation

HARDENING_FIX = (
    "use the secure defaults from components/security.py (pod_security_context + container_security_context: "
    "runAsNonRoot with a numeric non-root runAsUser, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, "
    "privileged: false, capabilities.drop: [ALL]) and mount an emptyDir for each writable path"
)


def check_container_hardening(obj: Mapping[str, Any], kind: str, ctx: StackContext, name: Optional[str] = None) -> list[Violation]:
    """Non-root, read-only root filesystem, no privilege escalation, all capabilities dropped."""
    spec = pod_spec(obj, kind)
    if spec is None:
        return []
    where = describe(obj, kind, name)
    pod_ctx = spec.get("securityContext") if is_map(spec.get("securityContext")) else {}
    found = []

    def bad(container: str, problem: str) -> None:
        found.append(Violation("container-hardening", where, problem, HARDENING_FIX, container=container))

    for _, c in containers(spec):
        cname = container_name(c)
        sc = c.get("securityContext") if is_map(c.get("securityContext")) else {}
        non_root = sc.get("runAsNonRoot", pod_ctx.get("runAsNonRoot"))
        user = sc.get("runAsUser", pod_ctx.get("runAsUser"))
        if non_root is not True:
            bad(cname, "runAsNonRoot is not true (neither in the container nor the pod securityContext)")
        if user == 0:
            bad(cname, "runAsUser is 0 (root)")
        if sc.get("readOnlyRootFilesystem") is not True:
            bad(cname, "securityContext.readOnlyRootFilesystem is not true")
        if sc.get("allowPrivilegeEscalation") is not False:
            bad(cname, "securityContext.allowPrivilegeEscalation is not false")
        if sc.get("privileged") is True:
            bad(cname, "securityContext.privileged is true")
        caps = sc.get("capabilities") if is_map(sc.get("capabilities")) else {}
        drop = caps.get("drop") if is_list(caps.get("drop")) else []
        if "ALL" not in drop:
            bad(cname, "securityContext.capabilities.drop does not include ALL")
        add = caps.get("add") if is_list(caps.get("add")) else []
        if add:
            bad(cname, f"securityContext.capabilities.add grants {sorted(map(str, add))}")
    if spec.get("hostNetwork") is True or spec.get("hostPID") is True or spec.get("hostIPC") is True:
        found.append(Violation("container-hardening", where, "the pod shares a host namespace (hostNetwork/hostPID/hostIPC)",
                               "remove hostNetwork, hostPID and hostIPC from the pod spec"))
    return found


RESOURCES_FIX = (
    "set requests and limits for " + ", ".join(RESOURCE_NAMES) + " on every container (app workloads: "
    "components/workload.py container_resources, sized by mbhealth:services.<name>.requests/limits in "
    "Pulumi.<stack>.yaml or components/config/services.py SERVICE_DEFAULTS)"
)


def check_resources(obj: Mapping[str, Any], kind: str, ctx: StackContext, name: Optional[str] = None) -> list[Violation]:
    """Requests and limits for cpu, memory and ephemeral storage on every container."""
    spec = pod_spec(obj, kind)
    if spec is None:
        return []
    where = describe(obj, kind, name)
    found = []
    for field, c in containers(spec):
        if field == "ephemeralContainers":
            continue  # the API does not allow resources on ephemeral (debug) containers
        resources = c.get("resources") if is_map(c.get("resources")) else {}
        for section in ("requests", "limits"):
            values = resources.get(section) if is_map(resources.get(section)) else {}
            missing = [r for r in RESOURCE_NAMES if r not in values]
            if missing:
                found.append(Violation("resources", where, f"resources.{section} has no {', '.join(missing)}", RESOURCES_FIX,
                                       container=container_name(c)))
    return found


PROBES_FIX = (
    "give the process both a livenessProbe and a readinessProbe (app workloads: the ProcessSpec in "
    "components/build_specs.py -> components/probes.py probes_for; liveness must not be the readiness check)"
)


def check_probes(obj: Mapping[str, Any], kind: str, ctx: StackContext, name: Optional[str] = None) -> list[Violation]:
    """Liveness and readiness probes on long-running workloads (not Jobs)."""
    if kind not in LONG_RUNNING:
        return []
    spec = pod_spec(obj, kind)
    if spec is None:
        return []
    where = describe(obj, kind, name)
    found = []
    for field, c in containers(spec):
        if field != "containers":
            continue  # init containers run to completion; probes are not allowed on them
        missing = [p for p in ("livenessProbe", "readinessProbe") if not is_map(c.get(p))]
        if missing:
            found.append(Violation("probes", where, f"no {' and no '.join(missing)}", PROBES_FIX, container=container_name(c)))
    return found
