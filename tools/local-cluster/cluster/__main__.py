"""The local cluster: `python3 tools/local-cluster/cluster <command>` (what cluster.sh runs, as root).

  start        the uplink guard, the node's network, the control plane, then the node (containerd,
               kubelet, kube-proxy, kube-router, the add-ons, the registry views, Traefik); waits until
               the node is Ready and every add-on serves. Idempotent: a running cluster is left as is,
               a stopped one is started again with its state
  stop         removes everything the cluster made (teardown.py); safe to repeat
  status       exit 0 when every process runs and the API server answers
  env          `export KUBECONFIG=...` for eval
  kubeconfig   the admin kubeconfig's path
  config [STACK]  the settings STACK (default dev) needs on this cluster beside its stack file's, as JSON
  load-images  import `docker save` archives into the node's containerd
  show         the cluster's addresses as JSON

Settings (environment): MBH_CLUSTER_STATE, MBH_CLUSTER_PORT, MBH_CLUSTER_INGRESS,
MBH_CLUSTER_INGRESS_ADMIN, MBH_CLUSTER_HOST, MBH_CLUSTER_REGISTRIES, MBH_CLUSTER_TIMEOUT (cluster.sh).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import control_plane
import daemons
import netns
import node
import teardown
from daemons import NodeError, say
from layout import NODE_NAME, Layout, claim, existing, release, write_summary

CONTEXT = "mbhealth-local"
NEEDED = {
    "ip": "iproute2", "nsenter": "util-linux", "iptables": "iptables", "ip6tables": "iptables",
    "iptables-save": "iptables", "ipset": "ipset", "containerd": "containerd", "containerd-shim-runc-v2": "containerd",
    "ctr": "containerd", "runc": "runc", "openssl": "openssl", "curl": "curl", "docker-registry": "docker-registry",
    "busybox": "busybox-static",
}
BUILT = {"etcd": "etcd", "kube-apiserver": "kubernetes", "kube-controller-manager": "kubernetes",
         "kube-scheduler": "kubernetes", "kubectl": "kubernetes", "kubelet": "kubernetes", "kube-proxy": "kubernetes",
         "kube-router": "kube-router", "coredns": "coredns", "metrics-server": "metrics-server", "traefik": "traefik",
         "pause": "pause", "local-path-provisioner": "local-path-provisioner"}
CNI_PLUGINS = ("bridge", "host-local", "loopback")


@dataclass(frozen=True)
class Settings:
    state: Path
    port: int
    ingress: str
    ingress_tls: str
    ingress_admin: int
    host: str
    registries: dict[str, Path]
    timeout: int

    @staticmethod
    def from_env() -> "Settings":
        env = os.environ
        default_state = "/var/lib/mbhealth-cluster" if os.geteuid() == 0 else \
            str(Path(env.get("XDG_STATE_HOME", Path.home() / ".local/state")) / "mbhealth-cluster")
        port = _number("MBH_CLUSTER_PORT", env.get("MBH_CLUSTER_PORT", "26443"), 1024, 65530)
        ingress, ingress_tls = (env.get("MBH_CLUSTER_INGRESS", "127.0.0.1:80"), env.get("MBH_CLUSTER_INGRESS_TLS", "127.0.0.1:443"))
        for name, value, example in (("MBH_CLUSTER_INGRESS", ingress, "127.0.0.1:80"),
                                     ("MBH_CLUSTER_INGRESS_TLS", ingress_tls, "127.0.0.1:443")):
            if not re.fullmatch(r"127\.\d+\.\d+\.\d+:\d+", value):
                raise NodeError(f"{name}={value}: expected a loopback address and port, like {example}")
        admin = _number("MBH_CLUSTER_INGRESS_ADMIN", env.get("MBH_CLUSTER_INGRESS_ADMIN", str(port + 1)), 1, 65535)
        host = env.get("MBH_CLUSTER_HOST", "mbhealth.localhost")
        if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", host):
            raise NodeError(f"MBH_CLUSTER_HOST={host}: expected a DNS name, like mbhealth.localhost")
        default_registry = (f"{env.get('MBH_REGISTRY_ADDR', '127.0.0.1:5000')}="
                            f"{env.get('MBH_DOCKER_STATE', '/var/lib/mbhealth-docker')}/registry")
        registries = {}
        for pair in [default_registry, *env.get("MBH_CLUSTER_REGISTRIES", "").split()]:
            address, _, storage = pair.partition("=")
            if not re.fullmatch(r"(127\.0\.0\.1|localhost):\d+", address) or not storage.startswith("/"):
                raise NodeError(f"MBH_CLUSTER_REGISTRIES: '{pair}': expected 127.0.0.1:PORT=/its/storage/folder")
            registries[address] = Path(storage)
        timeout = _number("MBH_CLUSTER_TIMEOUT", env.get("MBH_CLUSTER_TIMEOUT", "180"), 10, 3600)
        return Settings(Path(env.get("MBH_CLUSTER_STATE", default_state)), port, ingress, ingress_tls, admin, host,
                        registries, timeout)


def _number(name: str, value: str, low: int, high: int) -> int:
    if not value.isdigit() or not low <= int(value) <= high:
        raise NodeError(f"{name}={value}: expected a number from {low} to {high}")
    return int(value)


def preflight() -> None:
    problems = []
    if os.geteuid() != 0:
        problems.append("the local cluster needs root (a network namespace, cgroups and mounts of its own)")
    missing = sorted({pkg for cmd, pkg in NEEDED.items() if not shutil.which(cmd)})
    missing += ["containernetworking-plugins"] if any(not Path(f"/usr/lib/cni/{p}").exists() for p in CNI_PLUGINS) else []
    if missing:
        problems.append(f"missing Debian packages {' '.join(missing)}: run tools/machine/system-deps.sh node")
    absent = [b for b in BUILT if not shutil.which(b)]
    if absent:
        problems.append(f"missing built tools {', '.join(absent)}: run tools/engine/build.sh "
                        + " ".join(sorted({BUILT[b] for b in absent})))
    problems += netns.preflight_kernel()
    if problems:
        raise NodeError("; ".join(problems))


def port_free(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, int(port)))
            return True
        except OSError:
            return False


def kubectl(layout: Layout, *args: str, check: bool = True, input: str | None = None):
    return daemons.run(["kubectl", "--kubeconfig", str(layout.admin_kubeconfig), "--request-timeout=5s", *args],
                       check=check, input=input, timeout=60)


def api_ready(layout: Layout) -> bool:
    return layout.admin_kubeconfig.is_file() and kubectl(layout, "get", "--raw", "/readyz", check=False).returncode == 0


def running(layout: Layout) -> list[str]:
    """Names of the cluster's processes that do not run."""
    names = [*control_plane.COMPONENTS, "containerd", *node.DAEMONS]
    return [n for n in names if not daemons.pid_of(layout, n)]


def cmd_start(settings: Settings) -> None:
    preflight()
    started = time.monotonic()
    layout = existing(settings.state, settings.port)
    if layout and not running(layout) and api_ready(layout):
        print(f"cluster: already running ({layout.server}, context {CONTEXT}, KUBECONFIG={layout.admin_kubeconfig}; "
              f"app {app_url(settings)})")
        return
    if layout is None or all(not daemons.pid_of(layout, name) for name in ("etcd", "traefik")):
        for address, what, setting in (
                (settings.ingress, "the ingress (HTTP)", "MBH_CLUSTER_INGRESS"),
                (settings.ingress_tls, "the ingress (HTTPS)", "MBH_CLUSTER_INGRESS_TLS"),
                (f"127.0.0.1:{settings.ingress_admin}", "the ingress controller's ping", "MBH_CLUSTER_INGRESS_ADMIN"),
                (f"127.0.0.1:{settings.port + 2}", "etcd", "MBH_CLUSTER_PORT"),
                (f"127.0.0.1:{settings.port + 3}", "etcd's peer port", "MBH_CLUSTER_PORT")):
            if not port_free(address):
                raise NodeError(f"{address} ({what}) is in use by another program: stop it, or set {setting}")
    try:
        with daemons.machine_lock():
            layout = claim(settings.state, settings.port)
            teardown.record_machine()
            netns.say_guards(netns.add_guards())
            netns.up(layout)
            teardown.make_cgroup_root(layout)
        write_summary(layout)
        control_plane.certificates(layout)
        node.certificates(layout)
        control_plane.start(layout)
        control_plane.admin_kubeconfig(layout, CONTEXT)
        node.start_runtime(layout, settings.registries)
        daemons.wait_for(f"the API server did not answer on {layout.server}", lambda: api_ready(layout),
                         settings.timeout, layout.logs / "kube-apiserver.log", interval=0.3)
        daemons.wait_for("no default ServiceAccount (kube-controller-manager)",
                         lambda: kubectl(layout, "-n", "default", "get", "serviceaccount", "default",
                                         check=False).returncode == 0, settings.timeout,
                         layout.logs / "kube-controller-manager.log", interval=0.3)
        node.start(layout, settings.registries, (settings.ingress, settings.ingress_tls), settings.ingress_admin,
                   settings.timeout, started)
    except NodeError as error:
        print(error.code, file=sys.stderr)
        print(f"cluster: logs in {settings.state / 'logs'}; " + ("kept for inspection (MBH_CLUSTER_KEEP_FAILED)"
              if os.environ.get("MBH_CLUSTER_KEEP_FAILED") else "cleaning up"), file=sys.stderr)
        if not os.environ.get("MBH_CLUSTER_KEEP_FAILED"):
            cmd_stop(settings, quiet=True)
        raise SystemExit(1) from None
    version = kubectl(layout, "version", "-o", "json", check=False).stdout
    server_version = json.loads(version).get("serverVersion", {}).get("gitVersion", "?") if version else "?"
    print(f"cluster: running in {time.monotonic() - started:.1f}s: {layout.server} ({server_version}), node {NODE_NAME} "
          f"Ready, context {CONTEXT}; app {app_url(settings)}")
    print(f"cluster: eval \"$(tools/local-cluster/cluster.sh env)\"   # or: export KUBECONFIG={layout.admin_kubeconfig}")


def app_host(settings: Settings, stack: str = "dev") -> str:
    """The app's host on this cluster: MBH_CLUSTER_HOST for dev, `<stack>.` before it for another
    stack (two stacks never share a host on the one ingress controller)."""
    return settings.host if stack == "dev" else f"{stack}.{settings.host}"


def app_url(settings: Settings, stack: str = "dev") -> str:
    port = settings.ingress.rsplit(":", 1)[1]
    return f"http://{app_host(settings, stack)}{'' if port == '80' else ':' + port}/"


def cmd_stop(settings: Settings, quiet: bool = False) -> None:
    started = time.monotonic()
    layout = existing(settings.state, settings.port)
    if layout is None:
        if not quiet:
            print(f"cluster: not running (nothing in {settings.state})")
        return
    problems: list[str] = []
    with daemons.machine_lock():
        # Each step runs whatever the one before it met: a node that fails to stop cleanly must not
        # leave the control plane (and its ports) running.
        for what, step in (("the node", lambda: teardown.stop_node(layout, node.daemon_names(layout))),
                           ("the control plane", lambda: control_plane.stop(layout))):
            try:
                step()
            except Exception as error:  # noqa: BLE001 - reported below, after the rest is removed
                problems.append(f"stopping {what}: {type(error).__name__}: {error}")
        problems += teardown.remove_what_is_left(layout)
        release(layout)
        if netns.last_node(layout):
            netns.remove_guards()
            restored = teardown.restore_machine()
            if restored:
                say(f"kernel settings restored: {', '.join(restored)}")
    if problems:
        raise NodeError("stopped, but some of what the cluster made is left: " + "; ".join(problems))
    if not quiet:
        print(f"cluster: stopped in {time.monotonic() - started:.1f}s")


def cmd_status(settings: Settings) -> None:
    layout = existing(settings.state, settings.port)
    if layout is None:
        print(f"cluster: not created (state in {settings.state})")
        raise SystemExit(1)
    down = running(layout)
    ready = api_ready(layout)
    print(f"cluster: {'running' if ready and not down else 'not running'}: {layout.server}, context {CONTEXT}, "
          f"KUBECONFIG={layout.admin_kubeconfig}; node {NODE_NAME} {layout.node_ip}, pods {layout.pod_cidr}, "
          f"services {layout.service_cidr}; app {app_url(settings)}" + (f"; stopped: {', '.join(down)}" if down else ""))
    if ready:
        print("\n".join("  " + line for line in kubectl(layout, "get", "nodes", "-o", "wide").stdout.splitlines()))
    raise SystemExit(0 if ready and not down else 1)


def cmd_config(settings: Settings, stack: str) -> None:
    layout = existing(settings.state, settings.port)
    if layout is None:
        raise NodeError("the cluster is not started: run tools/local-cluster/cluster.sh start")
    ingress = {"host": app_host(settings, stack), "className": node.INGRESS_CLASS, "controllerHostNetwork": True,
               "nodeCidrs": [str(layout.link)]}
    for key, address, default in (("httpPort", settings.ingress, 80), ("httpsPort", settings.ingress_tls, 443)):
        port = int(address.rsplit(":", 1)[1])
        if port != default:
            ingress[key] = port
    print(json.dumps({"ingress": ingress}))


def main(argv: list[str]) -> None:
    commands = ("start", "stop", "status", "env", "kubeconfig", "config", "load-images", "show", "restart-kubelet")
    if not argv or argv[0] not in commands:
        raise SystemExit(f"usage: tools/local-cluster/cluster.sh {'|'.join(commands)}")
    settings = Settings.from_env()
    command = argv[0]
    if command == "start":
        cmd_start(settings)
    elif command == "stop":
        cmd_stop(settings)
    elif command == "status":
        cmd_status(settings)
    elif command == "env":
        print(f"export KUBECONFIG={settings.state / 'kubeconfig'}\n# context {CONTEXT}")
    elif command == "kubeconfig":
        print(settings.state / "kubeconfig")
    elif command == "config":
        cmd_config(settings, argv[1] if len(argv) > 1 else "dev")
    elif command == "load-images":
        layout = existing(settings.state, settings.port)
        if layout is None:
            raise NodeError("the cluster is not started: run tools/local-cluster/cluster.sh start")
        node.load_images(layout, [Path(a) for a in argv[1:]])
    elif command == "restart-kubelet":
        layout = existing(settings.state, settings.port)
        if layout is None:
            raise NodeError("the cluster is not started: run tools/local-cluster/cluster.sh start")
        with daemons.machine_lock():
            node.restart_kubelet(layout, settings.timeout)
    elif command == "show":
        layout = existing(settings.state, settings.port)
        if layout is None:
            raise NodeError("the cluster is not started")
        print(json.dumps(layout.summary()))


if __name__ == "__main__":
    main(sys.argv[1:])
