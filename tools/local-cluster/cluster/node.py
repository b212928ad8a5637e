"""The node, started once the API server answers: its identities, containerd with the node's own
images, the registry views, kubelet, kube-proxy, kube-router, the add-ons and the ingress controller.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import addons
import components
import daemons
import pki
import runtime
from components import INGRESS_CLASS
from daemons import say
from layout import NODE_NAME, Layout

__all__ = ["INGRESS_CLASS", "DAEMONS", "certificates", "start_runtime", "start", "daemon_names", "load_images",
           "restart_kubelet"]

# Stopped in this order: nothing may restart a container once the kubelet is gone.
DAEMONS = ["traefik", "kubelet", "kube-router", "kube-proxy"]
IDENTITIES = (("kubelet-client", f"system:node:{NODE_NAME}", ("system:nodes",)),
              ("kube-proxy", "system:kube-proxy", ()),
              ("kube-router", addons.KUBE_ROUTER_USER, ()),
              ("ingress-controller", addons.INGRESS_USER, ()))


def certificates(layout: Layout) -> None:
    for name, cn, orgs in IDENTITIES:
        pki.sign(layout.pki, layout.pki, name, cn, orgs)
    pki.sign(layout.pki, layout.pki, "kubelet-serving", NODE_NAME, usage="serverAuth", sans=(NODE_NAME, layout.node_ip))


def kubeconfigs(layout: Layout) -> dict[str, Path]:
    ca = layout.pki / "ca.crt"
    return {name: pki.kubeconfig(layout.dir("kubeconfigs") / f"{name}.json", layout.server, ca,
                                 layout.pki / f"{name}.crt", layout.pki / f"{name}.key", name)
            for name, _, _ in IDENTITIES}


def daemon_names(layout: Layout) -> list[str]:
    views = sorted(p.name.removesuffix(".pid") for p in layout.pids.glob("registry-*.pid")) if layout.pids.is_dir() else []
    return [*DAEMONS, *views]


def _binary(name: str) -> Path:
    return Path(shutil.which(name) or name)


def addon_images(layout: Layout, have: set[str]) -> None:
    for ref, binary in ((addons.COREDNS_IMAGE, "coredns"), (addons.METRICS_SERVER_IMAGE, "metrics-server"),
                        (addons.LOCAL_PATH_IMAGE, "local-path-provisioner")):
        runtime.ensure_static_image(layout, ref, _binary(binary), [f"/{binary}"], have=have)
    busybox = _binary("busybox")
    runtime.ensure_static_image(layout, addons.HELPER_IMAGE, busybox, ["/bin/sh"], user="0:0",
                                extra={"/bin/busybox": busybox}, have=have)


def kubectl(layout: Layout, *args: str, check: bool = True):
    return daemons.run(["kubectl", "--kubeconfig", str(layout.admin_kubeconfig), *args], check=check, timeout=150)


def node_ready(layout: Layout) -> bool:
    out = kubectl(layout, "get", "node", NODE_NAME, "-o", "jsonpath={.status.conditions[?(@.type=='Ready')].status}",
                  check=False)
    return out.stdout.strip() == "True"


def start_runtime(layout: Layout, registries: dict[str, Path]) -> None:
    """What needs no API server yet: containerd with the node's images, the registry views, and the
    kubelet, kube-proxy and kube-router (which wait for the API server themselves)."""
    runtime.start_containerd(layout, list(registries))
    have = runtime.images(layout)
    runtime.ensure_static_image(layout, runtime.pause_image(), _binary("pause"), ["/pause"], user="65535:65535", have=have)
    configs = kubeconfigs(layout)
    _kubelet(layout, configs)
    components.kube_proxy(layout, configs["kube-proxy"])
    components.kube_router(layout, configs["kube-router"])
    for address, storage in registries.items():
        components.registry_view(layout, address, storage)
    addon_images(layout, have)  # while the kubelet registers the node


def _kubelet(layout: Layout, configs: dict[str, Path]) -> None:
    components.kubelet(layout, configs["kubelet-client"], layout.pki / "ca.crt",
                       (layout.pki / "kubelet-serving.crt", layout.pki / "kubelet-serving.key"))


def restart_kubelet(layout: Layout, timeout: int) -> None:
    """Stop the kubelet and start it again (an upgrade, a crash and its restart): the running
    containers are containerd's and keep running; the kubelet takes them up again."""
    started = time.monotonic()
    daemons.stop(layout, "kubelet")
    _kubelet(layout, kubeconfigs(layout))
    daemons.wait_for("the restarted kubelet did not answer /healthz", lambda: components.kubelet_healthy(layout),
                     timeout, layout.logs / "kubelet.log")
    say(f"kubelet restarted: healthy {time.monotonic() - started:.1f}s after its stop began")


def start(layout: Layout, registries: dict[str, Path], ingress: tuple[str, str], ingress_admin: int, timeout: int,
          started: float) -> None:
    """Once the API server answers: the add-ons and the ingress controller, then every wait."""
    kubectl(layout, "apply", "--server-side", "--force-conflicts", "--field-manager=mbhealth-local-cluster",
            "-f", str(addons.write(layout)))
    components.traefik(layout, kubeconfigs(layout)["ingress-controller"], ingress, ingress_admin)
    logs = layout.logs
    daemons.wait_for(f"node {NODE_NAME} did not become Ready", lambda: node_ready(layout), timeout, logs / "kubelet.log")
    for address in registries:
        port = address.rsplit(":", 1)[1]
        daemons.wait_for(f"the node's view of registry {address} did not answer",
                         lambda: components.registry_view_answers(layout, port), 30, logs / f"registry-{port}.log")
    daemons.wait_for("kube-proxy did not answer /healthz", lambda: components.kube_proxy_healthy(layout), timeout,
                     logs / "kube-proxy.log")
    daemons.wait_for("kube-router did not answer /healthz", lambda: components.kube_router_healthy(layout), timeout,
                     logs / "kube-router.log")
    daemons.wait_for("Traefik did not answer /ping", lambda: components.traefik_healthy(ingress_admin), timeout,
                     logs / "traefik.log")
    # metrics-server is not waited for: it turns Ready after its first scrape (about 15 s later) and
    # nothing of a first `make up` needs it (`status` shows it).
    for namespace, deployment in (("kube-system", "coredns"), ("local-path-storage", "local-path-provisioner")):
        kubectl(layout, "-n", namespace, "rollout", "status", f"deployment/{deployment}", f"--timeout={timeout}s")
    say(f"node {NODE_NAME} Ready with its add-ons {time.monotonic() - started:.1f}s after the start "
        f"(node IP {layout.node_ip}, pods {layout.pod_cidr}, services {layout.service_cidr})")


def load_images(layout: Layout, archives: list[Path]) -> None:
    for archive in archives:
        started = time.monotonic()
        runtime.import_archive(layout, archive)
        say(f"imported {archive.name} ({time.monotonic() - started:.1f}s)")
