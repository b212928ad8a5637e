"""Run one Kubernetes container spec on the local Docker engine the way kubelet would.

Input is the container dict of a synthesized pod spec (camelCase, as in the manifests)
plus, optionally, the pod spec around it (volumes, pod securityContext,
terminationGracePeriodSeconds) and the ConfigMap/Secret data its env refers to.

What is reproduced (host networking only: every port is on 127.0.0.1):
- image, command/args with Kubernetes semantics (`command` replaces ENTRYPOINT, `args`
  replaces CMD) and `$(VAR)` expansion; workingDir;
- env: value, valueFrom (configMapKeyRef, secretKeyRef, fieldRef, resourceFieldRef),
  envFrom (configMapRef/secretRef with prefix), in kubelet's order;
- securityContext (pod-level merged under container-level): runAsUser/runAsGroup,
  runAsNonRoot (refused like kubelet when the image's user is root or not numeric),
  readOnlyRootFilesystem, allowPrivilegeEscalation=false (no-new-privileges),
  capabilities add/drop, privileged, seccompProfile, supplementalGroups/fsGroup;
- resources: memory limit (no swap), CPU limit (CFS quota), CPU request (shares);
- volumeMounts: emptyDir (or a mount without a pod spec) -> tmpfs; configMap/secret
  volumes -> read-only files; subPath;
- probes: httpGet (loopback), tcpSocket (loopback), exec (`docker exec`), each with
  its timeoutSeconds, and the initialDelay/period/success/failure thresholds;
- termination: preStop hook, then the stop signal (lifecycle.stopSignal, else the
  image's STOPSIGNAL, else SIGTERM), SIGKILL at terminationGracePeriodSeconds; the
  exit code and the signal-to-exit time are measured.

Not reproduced: the pod sandbox (pause container), DNS, service-account token and
service-link env vars, /dev/termination-log, restarts (a failure raises instead).
"""

from __future__ import annotations

import http.client
import json
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

_SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
if str(_SCRIPTS) not in sys.path:
    sys.path.insert(0, str(_SCRIPTS))

from docker_client import DOCKER, docker, docker_env, image_inspect

LOOPBACK = "127.0.0.1"
CONTAINER_LABEL = "org.mbhealth.kubelet"
DEFAULT_GRACE_SECONDS = 30

PROBE_DEFAULTS = {
    "initialDelaySeconds": 0,
    "periodSeconds": 10,
    "timeoutSeconds": 1,
    "successThreshold": 1,
    "failureThreshold": 3,
}


class KubeletError(RuntimeError):
    """What kubelet would report as a failed container (config error, probe failure, exit)."""


# ---------------------------------------------------------------------------
# Quantities
# ---------------------------------------------------------------------------

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "": Decimal(1),
            "k": Decimal(10**3), "M": Decimal(10**6), "G": Decimal(10**9), "T": Decimal(10**12),
            "P": Decimal(10**15), "E": Decimal(10**18)}


def parse_quantity(value: str | float) -> Decimal:
    """A Kubernetes resource quantity ("512Mi", "250m", "1.5", "1e3") as a Decimal."""
    if isinstance(value, (int, float)):
        return Decimal(str(value))
    match = re.fullmatch(r"([+-]?[0-9.]+(?:[eE][+-]?[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E)?", value.strip())
    if not match:
        raise KubeletError(f"invalid resource quantity {value!r}")
    number, suffix = Decimal(match.group(1)), match.group(2) or ""
    return number * (_BINARY[suffix] if suffix in _BINARY else _DECIMAL[suffix])


def memory_bytes(value: str | float) -> int:
    return int(parse_quantity(value).to_integral_value(rounding="ROUND_CEILING"))


def cpu_millis(value: str | float) -> int:
    return int((parse_quantity(value) * 1000).to_integral_value(rounding="ROUND_CEILING"))


# ---------------------------------------------------------------------------
# Env and $(VAR) expansion
# ---------------------------------------------------------------------------

_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")


def expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes' $(VAR) expansion: defined names replaced, `$$` escapes, others kept."""

    def sub(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env[name] if name in env else match.group(0)

    return _REF.sub(sub, text)


def _lookup(kind: str, sources: Mapping[str, Mapping[str, str]], ref: Mapping[str, Any]) -> str | None:
    name, key = ref.get("name"), ref.get("key")
    data = sources.get(name)
    if data is None or key not in data:
        if ref.get("optional"):
            return None
        what = f"{kind} {name!r}" if data is None else f"key {key!r} in {kind} {name!r}"
        raise KubeletError(f"CreateContainerConfigError: {what} not found")
    return str(data[key])


def resolve_env(
    container: Mapping[str, Any],
    *,
    config_maps: Mapping[str, Mapping[str, str]] = {},
    secrets: Mapping[str, Mapping[str, str]] = {},
    pod_fields: Mapping[str, str] = {},
) -> dict[str, str]:
    """The container's environment as kubelet computes it (envFrom first, then env)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        prefix = source.get("prefix", "")
        for kind, key, pool in (("ConfigMap", "configMapRef", config_maps), ("Secret", "secretRef", secrets)):
            if key not in source:
                continue
            ref = source[key]
            data = pool.get(ref.get("name"))
            if data is None:
                if ref.get("optional"):
                    continue
                raise KubeletError(f"CreateContainerConfigError: {kind} {ref.get('name')!r} not found")
            for name, value in data.items():
                env[prefix + name] = str(value)
    for var in container.get("env") or []:
        name = var["name"]
        if "valueFrom" not in var:
            env[name] = expand(str(var.get("value", "")), env)
            continue
        source = var["valueFrom"]
        if "configMapKeyRef" in source:
            value = _lookup("ConfigMap", config_maps, source["configMapKeyRef"])
        elif "secretKeyRef" in source:
            value = _lookup("Secret", secrets, source["secretKeyRef"])
        elif "fieldRef" in source:
            path = source["fieldRef"]["fieldPath"]
            if path not in pod_fields:
                raise KubeletError(f"fieldRef {path!r} not supported here; known: {sorted(pod_fields)}")
            value = pod_fields[path]
        elif "resourceFieldRef" in source:
            value = _resource_field(container, source["resourceFieldRef"])
        else:
            raise KubeletError(f"env {name}: unsupported valueFrom {sorted(source)}")
        if value is not None:
            env[name] = value
    return env


def _resource_field(container: Mapping[str, Any], ref: Mapping[str, Any]) -> str:
    section, _, resource = ref["resource"].partition(".")
    raw = ((container.get("resources") or {}).get(section) or {}).get(resource)
    if raw is None:
        raise KubeletError(f"resourceFieldRef {ref['resource']}: not set (node allocatable is unknown here)")
    divisor = parse_quantity(ref.get("divisor", "1"))
    return str(int((parse_quantity(raw) / divisor).to_integral_value(rounding="ROUND_CEILING")))


# ---------------------------------------------------------------------------
# docker run argv
# ---------------------------------------------------------------------------

_POD_SECURITY_KEYS = ("runAsUser", "runAsGroup", "runAsNonRoot", "seccompProfile", "seLinuxOptions")


def effective_security_context(container: Mapping[str, Any], pod_spec: Mapping[str, Any] | None) -> dict:
    pod_sc = dict((pod_spec or {}).get("securityContext") or {})
    merged = {k: pod_sc[k] for k in _POD_SECURITY_KEYS if k in pod_sc}
    merged.update(container.get("securityContext") or {})
    for key in ("supplementalGroups", "fsGroup", "sysctls"):
        if key in pod_sc:
            merged["pod." + key] = pod_sc[key]
    return merged


def _image_user(image_config: Mapping[str, Any]) -> tuple[str, str | None]:
    user = (image_config.get("User") or "").strip()
    uid, _, gid = user.partition(":")
    return uid or "0", gid or None


def check_run_as_non_root(sc: Mapping[str, Any], image_config: Mapping[str, Any]) -> None:
    """kubelet's verifyRunAsNonRoot: refuse uid 0 and a non-numeric image user."""
    if not sc.get("runAsNonRoot"):
        return
    if sc.get("runAsUser") is not None:
        if int(sc["runAsUser"]) == 0:
            raise KubeletError("CreateContainerConfigError: container's runAsUser breaks non-root policy")
        return
    uid, _ = _image_user(image_config)
    if not uid.isdigit():
        raise KubeletError(
            f"CreateContainerConfigError: container has runAsNonRoot and image has non-numeric user ({uid}), "
            "cannot verify user is non-root"
        )
    if int(uid) == 0:
        raise KubeletError("CreateContainerConfigError: container has runAsNonRoot and image will run as root")


@dataclass
class RunPlan:
    """Everything `docker run` needs: argv (no binary, no image args yet), env to pass, temp dirs."""

    argv: list[str]
    env: dict[str, str]
    image: str
    entrypoint: str | None
    args: list[str]
    temp_dirs: list[Path] = field(default_factory=list)


def _volume_map(pod_spec: Mapping[str, Any] | None) -> dict[str, Mapping[str, Any]]:
    return {v["name"]: v for v in (pod_spec or {}).get("volumes") or []}


def _materialise(volume: Mapping[str, Any], source: Mapping[str, Any], data: Mapping[str, str] | None,
                 kind: str) -> Path:
    if data is None:
        if source.get("optional"):
            data = {}
        else:
            raise KubeletError(f"FailedMount: {kind} {source.get(kind == 'Secret' and 'secretName' or 'name')!r} not found")
    root = Path(tempfile.mkdtemp(prefix=f"kubelet-{volume['name']}-"))
    mode = int(source.get("defaultMode", 0o644))
    items = source.get("items")
    pairs = [(item["key"], item["path"], int(item.get("mode", mode))) for item in items] if items else \
        [(key, key, mode) for key in data]
    for key, rel, file_mode in pairs:
        if key not in data:
            raise KubeletError(f"FailedMount: key {key!r} not in {kind} of volume {volume['name']!r}")
        target = root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(str(data[key]))
        target.chmod(file_mode)
    root.chmod(0o755)
    return root


def plan_run(
    container: Mapping[str, Any],
    *,
    pod_spec: Mapping[str, Any] | None = None,
    image: str | None = None,
    image_config: Mapping[str, Any] | None = None,
    config_maps: Mapping[str, Mapping[str, str]] = {},
    secrets: Mapping[str, Mapping[str, str]] = {},
    pod_fields: Mapping[str, str] | None = None,
    name: str | None = None,
) -> RunPlan:
    """Translate a container spec into `docker run` arguments (pure, apart from temp files)."""
    image = image or container["image"]
    image_config = image_config or {}
    fields = {"metadata.name": name or container.get("name", "pod"), "metadata.namespace": "default",
              "spec.nodeName": "localhost", "status.podIP": LOOPBACK, "status.hostIP": LOOPBACK,
              "spec.serviceAccountName": "default"}
    fields.update(pod_fields or {})
    env = resolve_env(container, config_maps=config_maps, secrets=secrets, pod_fields=fields)
    for key in env:
        if key.startswith("DOCKER_"):
            raise KubeletError(f"env {key}: names starting with DOCKER_ are not passed by this runner")

    argv = ["run", "--detach", "--network", "host", "--restart", "no", "--label", f"{CONTAINER_LABEL}=1"]
    if name:
        argv += ["--name", name]
    for key in env:  # values travel in the docker client's environment, never in argv
        argv += ["--env", key]

    sc = effective_security_context(container, pod_spec)
    check_run_as_non_root(sc, image_config)
    if sc.get("runAsUser") is not None or sc.get("runAsGroup") is not None:
        uid = str(sc["runAsUser"]) if sc.get("runAsUser") is not None else _image_user(image_config)[0]
        argv += ["--user", uid if sc.get("runAsGroup") is None else f"{uid}:{sc['runAsGroup']}"]
    for gid in list(sc.get("pod.supplementalGroups") or []) + (
        [sc["pod.fsGroup"]] if sc.get("pod.fsGroup") is not None else []
    ):
        argv += ["--group-add", str(gid)]
    if sc.get("readOnlyRootFilesystem"):
        argv.append("--read-only")
    if sc.get("allowPrivilegeEscalation") is False:
        argv += ["--security-opt", "no-new-privileges"]
    if sc.get("privileged"):
        argv.append("--privileged")
    caps = sc.get("capabilities") or {}
    for cap in caps.get("drop") or []:
        argv += ["--cap-drop", cap]
    for cap in caps.get("add") or []:
        argv += ["--cap-add", cap]
    seccomp = (sc.get("seccompProfile") or {}).get("type")
    if seccomp == "Unconfined":
        argv += ["--security-opt", "seccomp=unconfined"]
    elif seccomp not in (None, "RuntimeDefault"):
        raise KubeletError(f"seccompProfile {seccomp} not supported by this runner")
    for sysctl in sc.get("pod.sysctls") or []:
        argv += ["--sysctl", f"{sysctl['name']}={sysctl['value']}"]

    resources = container.get("resources") or {}
    limits, requests = resources.get("limits") or {}, resources.get("requests") or {}
    if "memory" in limits:
        mem = memory_bytes(limits["memory"])
        argv += ["--memory", str(mem), "--memory-swap", str(mem)]
    if "cpu" in limits:
        argv += ["--cpus", f"{cpu_millis(limits['cpu']) / 1000:g}"]
    cpu_request = requests.get("cpu", limits.get("cpu"))
    if cpu_request is not None:
        argv += ["--cpu-shares", str(max(2, cpu_millis(cpu_request) * 1024 // 1000))]

    volumes = _volume_map(pod_spec)
    temp_dirs: list[Path] = []
    for mount in container.get("volumeMounts") or []:
        path, readonly = mount["mountPath"], bool(mount.get("readOnly"))
        volume = volumes.get(mount["name"])
        if pod_spec is not None and volume is None:
            raise KubeletError(f"volumeMount {mount['name']!r} has no volume in the pod spec")
        if volume is None or "emptyDir" in volume:
            empty = (volume or {}).get("emptyDir") or {}
            opts = ["rw" if not readonly else "ro", "exec", "nosuid", "nodev", "mode=1777"]
            if empty.get("sizeLimit"):
                opts.append(f"size={memory_bytes(empty['sizeLimit'])}")
            argv += ["--tmpfs", f"{path}:{','.join(opts)}"]
            continue
        if "configMap" in volume:
            src = volume["configMap"]
            root = _materialise(volume, src, config_maps.get(src.get("name")), "ConfigMap")
        elif "secret" in volume:
            src = volume["secret"]
            root = _materialise(volume, src, secrets.get(src.get("secretName")), "Secret")
        else:
            raise KubeletError(f"volume {volume['name']!r}: only emptyDir/configMap/secret are supported here")
        temp_dirs.append(root)
        host = root / mount["subPath"] if mount.get("subPath") else root
        # configMap/secret volumes are always read-only in Kubernetes.
        argv += ["--mount", f"type=bind,source={host},target={path},readonly"]

    # kubelet writes pod.spec.hostAliases into the pod's /etc/hosts; tests use them as the
    # cluster DNS (service name -> 127.0.0.1, where the host-networked containers listen).
    for alias in (pod_spec or {}).get("hostAliases") or []:
        for hostname in alias.get("hostnames") or []:
            argv += ["--add-host", f"{hostname}:{alias['ip']}"]

    if container.get("workingDir"):
        argv += ["--workdir", container["workingDir"]]

    command = [expand(str(c), env) for c in container.get("command") or []]
    args = [expand(str(a), env) for a in container.get("args") or []]
    entrypoint = None
    if command:
        entrypoint, args = command[0], command[1:] + args
        argv += ["--entrypoint", entrypoint]
    return RunPlan(argv=argv, env=env, image=image, entrypoint=entrypoint, args=args, temp_dirs=temp_dirs)


# ---------------------------------------------------------------------------
# Probes
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    detail: str
    seconds: float


def probe_settings(probe: Mapping[str, Any]) -> dict[str, Any]:
    return {**PROBE_DEFAULTS, **{k: probe[k] for k in PROBE_DEFAULTS if k in probe}}


def _resolve_port(port: int | str, container: Mapping[str, Any]) -> int:
    if isinstance(port, int) or str(port).isdigit():
        return int(port)
    for spec in container.get("ports") or []:
        if spec.get("name") == port:
            return int(spec["containerPort"])
    raise KubeletError(f"probe port {port!r} is not a named port of the container")


@dataclass
class Termination:
    exit_code: int
    signal: str
    signal_to_exit_seconds: float  # from sending the stop signal to the exit
    total_seconds: float  # from the start of termination (preStop included)
    killed: bool  # SIGKILL at the end of the grace period
    grace_seconds: float
    prestop_seconds: float = 0.0


class Container:
    """A running container started from a Kubernetes container spec."""

    def __init__(
        self,
        container: Mapping[str, Any],
        *,
        pod_spec: Mapping[str, Any] | None = None,
        image: str | None = None,
        config_maps: Mapping[str, Mapping[str, str]] = {},
        secrets: Mapping[str, Mapping[str, str]] = {},
        pod_fields: Mapping[str, str] | None = None,
        name_prefix: str = "mbh-kubelet",
    ):
        self.spec = dict(container)
        self.pod_spec = dict(pod_spec or {})
        self.name = f"{name_prefix}-{container.get('name', 'c')}-{uuid.uuid4().hex[:8]}"
        self.image = image or container["image"]
        info = image_inspect(self.image)
        if info is None:
            pull = docker("pull", self.image, check=False)
            if pull.returncode != 0:
                raise KubeletError(f"ErrImagePull: {self.image}: {pull.stderr.strip()}")
            info = image_inspect(self.image)
        self.image_config = info["Config"]
        self.plan = plan_run(
            container, pod_spec=pod_spec, image=self.image, image_config=self.image_config,
            config_maps=config_maps, secrets=secrets, pod_fields=pod_fields, name=self.name,
        )
        self.id: str | None = None
        self.started_at: float | None = None
        self.termination: Termination | None = None

    # -- lifecycle ---------------------------------------------------------------------

    def start(self) -> Container:
        argv = [DOCKER, *self.plan.argv, self.plan.image, *self.plan.args]
        proc = subprocess.run(argv, env=docker_env(self.plan.env), capture_output=True, text=True)
        if proc.returncode != 0:
            self.cleanup()
            raise KubeletError(f"docker run failed ({proc.returncode}): {proc.stderr.strip()}")
        self.id = proc.stdout.strip()
        self.started_at = time.monotonic()
        return self

    def __enter__(self) -> Container:
        return self.start() if self.id is None else self

    def __exit__(self, *exc) -> None:
        self.remove()

    def remove(self) -> None:
        if self.id:
            docker("rm", "--force", "--volumes", self.id, check=False)
            self.id = None
        self.cleanup()

    def cleanup(self) -> None:
        for path in self.plan.temp_dirs:
            shutil.rmtree(path, ignore_errors=True)

    @property
    def grace_seconds(self) -> float:
        return float(self.pod_spec.get("terminationGracePeriodSeconds", DEFAULT_GRACE_SECONDS))

    def state(self) -> dict:
        proc = docker("inspect", "--format", "{{json .State}}", self._id(), check=False)
        if proc.returncode != 0:
            raise KubeletError(f"container {self.name} is gone: {proc.stderr.strip()}")
        return json.loads(proc.stdout)

    def running(self) -> bool:
        return bool(self.state().get("Running"))

    def logs(self, tail: int | None = None) -> str:
        args = ["logs"] + (["--tail", str(tail)] if tail else []) + [self._id()]
        proc = docker(*args, check=False)
        return (proc.stdout or "") + (proc.stderr or "")

    def exec(self, command: Sequence[str], timeout: float | None = None, user: str | None = None,
             check: bool = False) -> subprocess.CompletedProcess:
        args = ["exec"] + (["--user", user] if user else []) + [self._id(), *command]
        return docker(*args, check=check, timeout=timeout)

    def _id(self) -> str:
        if not self.id:
            raise KubeletError(f"container {self.name} is not started")
        return self.id

    def _raise_if_exited(self, why: str) -> None:
        state = self.state()
        if not state.get("Running"):
            raise KubeletError(
                f"{why}: container exited with code {state.get('ExitCode')}"
                f"{' (OOMKilled)' if state.get('OOMKilled') else ''}; last log lines:\n{self.logs(tail=40)}"
            )

    # -- probes ------------------------------------------------------------------------

    def probe_spec(self, kind: str) -> dict | None:
        return self.spec.get(f"{kind}Probe")

    def run_handler(self, handler: Mapping[str, Any], timeout: float) -> ProbeResult:
        """One probe/hook action: httpGet, tcpSocket or exec, bounded by `timeout` seconds."""
        started = time.monotonic()
        try:
            if "httpGet" in handler:
                ok, detail = self._http_get(handler["httpGet"], timeout)
            elif "tcpSocket" in handler:
                ok, detail = self._tcp(handler["tcpSocket"], timeout)
            elif "exec" in handler:
                ok, detail = self._exec(handler["exec"]["command"], timeout)
            elif "grpc" in handler:
                raise KubeletError("grpc probes are not supported by this runner")
            elif "sleep" in handler:
                time.sleep(float(handler["sleep"]["seconds"]))
                ok, detail = True, "slept"
            else:
                raise KubeletError(f"unknown handler {sorted(handler)}")
        except (OSError, http.client.HTTPException) as exc:
            ok, detail = False, f"{exc.__class__.__name__}: {exc}"
        return ProbeResult(ok, detail, time.monotonic() - started)

    def probe(self, kind: str) -> ProbeResult:
        """Run the container's `kind` probe (readiness, liveness, startup) once."""
        spec = self.probe_spec(kind)
        if spec is None:
            return ProbeResult(True, f"no {kind} probe (success by default)", 0.0)
        return self.run_handler(spec, float(probe_settings(spec)["timeoutSeconds"]))

    def _http_get(self, get: Mapping[str, Any], timeout: float) -> tuple[bool, str]:
        port = _resolve_port(get["port"], self.spec)
        host = get.get("host") or LOOPBACK
        if host not in (LOOPBACK, "localhost", "::1"):
            raise KubeletError(f"httpGet host {host!r}: only loopback is allowed here")
        headers = {"User-Agent": "kube-probe/1.31", "Accept": "*/*"}
        headers.update({h["name"]: h["value"] for h in get.get("httpHeaders") or []})
        if get.get("scheme", "HTTP").upper() == "HTTPS":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                host, port, timeout=timeout, context=ssl._create_unverified_context())
        else:
            conn = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            conn.request("GET", get.get("path") or "/", headers=headers)
            resp = conn.getresponse()
            body = resp.read(1024)
        finally:
            conn.close()
        detail = f"HTTP {resp.status} {body[:200].decode(errors='replace')!r}"
        return 200 <= resp.status < 400, detail

    def _tcp(self, spec: Mapping[str, Any], timeout: float) -> tuple[bool, str]:
        port = _resolve_port(spec["port"], self.spec)
        with socket.create_connection((spec.get("host") or LOOPBACK, port), timeout=timeout):
            return True, f"connected to {port}"

    def _exec(self, command: Sequence[str], timeout: float) -> tuple[bool, str]:
        try:
            proc = self.exec(list(command), timeout=timeout)
        except subprocess.TimeoutExpired:
            return False, f"exec timed out after {timeout}s: {list(command)}"
        out = ((proc.stdout or "") + (proc.stderr or "")).strip()[-500:]
        return proc.returncode == 0, f"exit {proc.returncode}: {out}"

    def startup_budget(self) -> float:
        """Seconds kubelet allows before restarting a container that never became healthy."""
        for kind in ("startup", "liveness"):
            spec = self.probe_spec(kind)
            if spec:
                s = probe_settings(spec)
                return s["initialDelaySeconds"] + s["periodSeconds"] * s["failureThreshold"]
        spec = self.probe_spec("readiness")
        if spec:
            s = probe_settings(spec)
            return s["initialDelaySeconds"] + s["periodSeconds"] * s["failureThreshold"]
        return 0.0

    def wait_ready(self, timeout: float | None = None, poll: float | None = None) -> float:
        """Probe like kubelet until Ready; return seconds from container start to Ready.

        The startup probe runs first (its failureThreshold x periodSeconds is a hard
        limit); then readiness, with liveness running on its own period — liveness
        failing failureThreshold times in a row raises (kubelet would restart the
        container). `poll` probes readiness/startup more often than periodSeconds to
        measure start-to-ready precisely; thresholds stay time-based so the verdicts are
        the same as with the spec's period. Raises KubeletError if not ready by `timeout`
        (default: startup_budget(), at least 10 s).
        """
        start = self.started_at if self.started_at is not None else time.monotonic()
        timeout = timeout if timeout is not None else max(self.startup_budget(), 10.0)
        deadline = start + timeout
        history: list[str] = []

        def sleep_until(t: float) -> None:
            time.sleep(max(0.0, t - time.monotonic()))

        startup = self.probe_spec("startup")
        if startup:
            s = probe_settings(startup)
            limit = start + s["initialDelaySeconds"] + s["periodSeconds"] * s["failureThreshold"]
            interval = min(s["periodSeconds"], poll) if poll else s["periodSeconds"]
            next_at = start + s["initialDelaySeconds"]
            while True:
                sleep_until(next_at)
                self._raise_if_exited("startup")
                result = self.probe("startup")
                history.append(f"startup: {result.detail}")
                if result.ok:
                    break
                next_at += interval
                if next_at > limit:
                    raise KubeletError(
                        f"startup probe failed for {limit - start:.0f}s (kubelet restarts the container): "
                        f"{result.detail}\n{self.logs(tail=40)}")
            startup_done = time.monotonic()
        else:
            startup_done = start

        readiness = self.probe_spec("readiness")
        r = probe_settings(readiness or {})
        liveness = self.probe_spec("liveness")
        l = probe_settings(liveness or {})
        next_ready = max(startup_done, start + r["initialDelaySeconds"])
        next_live = max(startup_done, start + l["initialDelaySeconds"])
        interval = min(r["periodSeconds"], poll) if poll else r["periodSeconds"]
        successes = live_failures = 0
        while True:
            if liveness and next_live <= next_ready:
                sleep_until(next_live)
                self._raise_if_exited("liveness")
                result = self.probe("liveness")
                history.append(f"liveness: {result.detail}")
                live_failures = 0 if result.ok else live_failures + 1
                if live_failures >= l["failureThreshold"]:
                    raise KubeletError(
                        f"liveness probe failed {live_failures}x (kubelet restarts the container): "
                        f"{result.detail}\n{self.logs(tail=40)}")
                next_live += l["periodSeconds"]
                continue
            if next_ready > deadline:
                raise KubeletError(
                    f"not Ready within {timeout:.1f}s; last probes:\n  " + "\n  ".join(history[-6:])
                    + f"\nlogs:\n{self.logs(tail=40)}")
            sleep_until(next_ready)
            self._raise_if_exited("readiness")
            if not readiness:
                return time.monotonic() - start
            result = self.probe("readiness")
            history.append(f"readiness: {result.detail}")
            successes = successes + 1 if result.ok else 0
            if successes >= r["successThreshold"]:
                return time.monotonic() - start
            next_ready += interval

    # -- termination -------------------------------------------------------------------

    def stop_signal(self) -> str:
        lifecycle = self.spec.get("lifecycle") or {}
        return lifecycle.get("stopSignal") or self.image_config.get("StopSignal") or "SIGTERM"

    def terminate(self, grace: float | None = None, before_signal: Any = None) -> Termination:
        """preStop, stop signal, SIGKILL at the end of the grace period; the exit code and times.

        `before_signal`, if given, is called between the preStop hook and the stop signal (a test
        looks at what the container is doing at that moment)."""
        grace = self.grace_seconds if grace is None else float(grace)
        begin = time.monotonic()
        deadline = begin + grace
        prestop = (self.spec.get("lifecycle") or {}).get("preStop")
        prestop_seconds = 0.0
        if prestop and self.running():
            self.run_handler(prestop, timeout=grace)
            prestop_seconds = time.monotonic() - begin
            # kubelet grants at least 2 s more after a preStop hook used up the grace period.
            deadline = max(deadline, time.monotonic() + 2)
        if before_signal is not None:
            before_signal()
        signal = self.stop_signal()
        signalled = time.monotonic()
        docker("kill", "--signal", signal, self._id(), check=False)
        killed = False
        wait = subprocess.Popen([DOCKER, "wait", self._id()], env=docker_env(),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait.communicate(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            killed = True
            docker("kill", "--signal", "SIGKILL", self._id(), check=False)
            wait.communicate(timeout=30)
        exited = time.monotonic()
        state = self.state()
        self.termination = Termination(
            exit_code=int(state.get("ExitCode", -1)), signal=signal,
            signal_to_exit_seconds=exited - signalled, total_seconds=exited - begin,
            killed=killed, grace_seconds=grace, prestop_seconds=prestop_seconds,
        )
        return self.termination


def run_container(container: Mapping[str, Any], **kwargs: Any) -> Container:
    """Start a container from a spec; use as `with run_container(spec, ...) as c:`."""
    return Container(container, **kwargs).start()


def run_pod_container(pod_spec: Mapping[str, Any], container_name: str | None = None, **kwargs: Any) -> Container:
    """Start one container (by name, default the first) of a pod spec with its volumes and grace period."""
    containers = pod_spec.get("containers") or []
    chosen = next((c for c in containers if container_name in (None, c.get("name"))), None)
    if chosen is None:
        raise KubeletError(f"no container {container_name!r} in pod spec; have {[c.get('name') for c in containers]}")
    return Container(chosen, pod_spec=pod_spec, **kwargs).start()


def free_port() -> int:
    """A TCP port free on loopback right now (for a containerPort in a test spec)."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def remove_containers(prefix: str = "mbh-kubelet") -> None:
    """Remove this runner's containers whose name starts with `prefix` (e.g. after a crash)."""
    proc = docker("ps", "--all", "--quiet", "--filter", f"label={CONTAINER_LABEL}=1",
                  "--filter", f"name=^{prefix}", check=False)
    ids = proc.stdout.split()
    if ids:
        docker("rm", "--force", *ids, check=False)
