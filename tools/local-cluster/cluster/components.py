"""The node's own processes and their configuration: kubelet, kube-proxy, kube-router's firewall
(all in the node's network namespace), the registry views (there too) and the ingress
controller (Traefik, on the host's loopback).

- kubelet: cgroupfs (`failCgroupV1: false`: this machine's cgroups are v1), a cgroup root of its
  own in every hierarchy, the node IP on the link (never loopback), serving only there with a
  CA-signed certificate, anonymous requests refused and every request authorized by the API
  server (Webhook); pods get the cluster DNS and no upstream resolver; pod logs in its own folder.
- kube-proxy: iptables mode for the node's Service CIDR; it leaves conntrack sizes and localhost
  node ports alone (no machine-wide setting changes).
- kube-router: the NetworkPolicy firewall only (`--run-router=false --run-service-proxy=false`).
- registry views: Debian's docker-registry, read-only, on 127.0.0.1:<port> inside the namespace,
  over the storage of a registry the host serves on 127.0.0.1:<port>: the node pulls exactly
  the image references the stack deploys, unchanged.
- Traefik: watches Ingresses of class `traefik` with a client certificate of its own, serves
  them on 127.0.0.1, and writes 127.0.0.1 into their status (so `pulumi up` waits for it as for
  any controller that publishes an address).
"""

from __future__ import annotations

import json
from pathlib import Path

import daemons
from daemons import NodeError
from layout import CLUSTER_DOMAIN, NODE_NAME, Layout

INGRESS_CLASS = "traefik"
INGRESS_CONTROLLER = "traefik.io/ingress-controller"


def _write(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path


def kubelet(layout: Layout, kubeconfig: Path, ca: Path, serving: tuple[Path, Path]) -> None:
    config = _write(layout.dir("kubelet-config") / "kubelet.json", {
        "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
        "address": layout.node_ip, "port": 10250, "readOnlyPort": 0,
        "healthzBindAddress": "127.0.0.1", "healthzPort": 10248,
        "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": True},
                           "x509": {"clientCAFile": str(ca)}},
        "authorization": {"mode": "Webhook"},
        "tlsCertFile": str(serving[0]), "tlsPrivateKeyFile": str(serving[1]),
        "rotateCertificates": False, "serverTLSBootstrap": False,
        "cgroupDriver": "cgroupfs", "cgroupRoot": layout.cgroup_root, "cgroupsPerQOS": True, "failCgroupV1": False,
        "containerRuntimeEndpoint": f"unix://{layout.containerd_socket}",
        "clusterDNS": [layout.dns_ip], "clusterDomain": CLUSTER_DOMAIN,
        "resolvConf": str(layout.root / "resolv.conf"),
        "podLogsDir": str(layout.pod_logs),
        "failSwapOn": False, "protectKernelDefaults": False,
        "serializeImagePulls": False, "maxPods": 110,
        "evictionHard": {"memory.available": "100Mi", "nodefs.available": "2%", "nodefs.inodesFree": "2%",
                         "imagefs.available": "2%"},
        "imageGCHighThresholdPercent": 95, "imageGCLowThresholdPercent": 90,
        "nodeStatusUpdateFrequency": "5s", "nodeStatusReportFrequency": "30s",
        "shutdownGracePeriod": "0s", "staticPodPath": "",
    })
    layout.kubelet_root.mkdir(parents=True, exist_ok=True)
    layout.pod_logs.mkdir(parents=True, exist_ok=True)
    daemons.start(layout, "kubelet", [
        "kubelet", f"--config={config}", f"--kubeconfig={kubeconfig}", f"--root-dir={layout.kubelet_root}",
        f"--hostname-override={NODE_NAME}", f"--node-ip={layout.node_ip}", "--v=1",
    ])


def kube_proxy(layout: Layout, kubeconfig: Path) -> None:
    config = _write(layout.dir("kube-proxy") / "kube-proxy.json", {
        "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig)},
        "hostnameOverride": NODE_NAME, "bindAddress": layout.node_ip,
        "healthzBindAddress": "127.0.0.1:10256", "metricsBindAddress": "127.0.0.1:10249",
        "mode": "iptables", "clusterCIDR": str(layout.pod_cidr), "detectLocalMode": "ClusterCIDR",
        "iptables": {"masqueradeAll": False, "localhostNodePorts": False, "syncPeriod": "30s", "minSyncPeriod": "1s"},
        "conntrack": {"maxPerCore": 0, "min": 0, "tcpEstablishedTimeout": "0s", "tcpCloseWaitTimeout": "0s"},
        "nodePortAddresses": [f"{layout.node_ip}/32"],
    })
    daemons.start(layout, "kube-proxy", ["kube-proxy", f"--config={config}", "--v=1"])


def _healthz(layout: Layout, port: int) -> str:
    """The HTTP status of a node daemon's /healthz on loopback in the node's namespace."""
    return daemons.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "2",
                        f"http://127.0.0.1:{port}/healthz"], netns=layout.netns, check=False, timeout=10).stdout.strip()


def kube_proxy_healthy(layout: Layout) -> bool:
    return _healthz(layout, 10256) in ("200", "503")  # 503 until it has synced once with Services present


def kubelet_healthy(layout: Layout) -> bool:
    return _healthz(layout, 10248) == "200"


def kube_router(layout: Layout, kubeconfig: Path) -> None:
    daemons.start(layout, "kube-router", [
        "kube-router", f"--kubeconfig={kubeconfig}", f"--hostname-override={NODE_NAME}",
        "--run-firewall=true", "--run-router=false", "--run-service-proxy=false",
        "--enable-ipv4=true", "--enable-ipv6=false", "--health-port=20244", "--metrics-port=0",
        "--iptables-sync-period=5m", "--v=1",
    ])


def kube_router_healthy(layout: Layout) -> bool:
    proc = daemons.run(["curl", "-sf", "--max-time", "2", "http://127.0.0.1:20244/healthz"], netns=layout.netns,
                       check=False, timeout=10)
    return proc.returncode == 0


def registry_view(layout: Layout, address: str, storage: Path) -> str:
    """A read-only docker-registry over `storage` on `address` (127.0.0.1:<port>) inside the node."""
    host, port = address.rsplit(":", 1)
    if host not in ("127.0.0.1", "localhost"):
        raise NodeError(f"registry {address}: the node mirrors registries on this machine's loopback only")
    if not storage.is_dir():
        storage.mkdir(parents=True, exist_ok=True)
    config = layout.dir("registries") / f"registry-{port}.yml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        "version: 0.1\nlog:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {storage}\n"
        "  maintenance:\n    readonly:\n      enabled: true\n    uploadpurging:\n      enabled: false\n"
        f"http:\n  addr: 127.0.0.1:{port}\n")
    name = f"registry-{port}"
    daemons.start(layout, name, ["docker-registry", "serve", str(config)])
    return name


def registry_view_answers(layout: Layout, port: str) -> bool:
    proc = daemons.run(["curl", "-sf", "--max-time", "2", f"http://127.0.0.1:{port}/v2/"], netns=layout.netns,
                       check=False, timeout=10)
    return proc.returncode == 0


def traefik(layout: Layout, kubeconfig: Path, ingress: tuple[str, str], admin_port: int) -> None:
    """HTTP on ingress[0], HTTPS on ingress[1] (with the certificates of the Ingresses' TLS Secrets)."""
    http, https = ingress
    daemons.start(layout, "traefik", [
        "traefik",
        f"--entryPoints.web.address={http}",
        f"--entryPoints.websecure.address={https}",
        f"--entryPoints.traefik.address=127.0.0.1:{admin_port}",
        "--ping=true", "--ping.entryPoint=traefik",
        "--providers.kubernetesingress=true",
        f"--providers.kubernetesingress.ingressendpoint.ip={http.rsplit(':', 1)[0]}",
        "--providers.kubernetesingress.allowemptyservices=true",
        "--global.checknewversion=false", "--global.sendanonymoususage=false",
        "--log.level=INFO", "--accesslog=true",
    ], netns=False, env={"KUBECONFIG": str(kubeconfig)})


def traefik_healthy(admin_port: int) -> bool:
    proc = daemons.run(["curl", "-sf", "--noproxy", "*", "--max-time", "2", f"http://127.0.0.1:{admin_port}/ping"],
                       check=False, timeout=10)
    return proc.returncode == 0
