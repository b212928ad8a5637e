"""Where one local cluster lives: its slot, addresses, ports, folders, sockets and names.

Its node runs in a network namespace of its own, `mbh-node<slot>`, joined to the host by one
veth pair. A slot (0-63) gives each cluster on this machine its own addresses, so several
(a developer's, a test session's) can run side by side:

    link      10.213.<slot>.0/30   host end 10.213.<slot>.1 (mbh<slot>): the control plane listens
                                   here; node end 10.213.<slot>.2 (eth0 in the namespace): the node IP
    pods      10.214.<slot>.0/24   the node's bridge (mbh-br0) is .1
    services  10.215.<slot>.0/24   `kubernetes` is .1, the cluster DNS .10

The API server listens on the host's end of the link (port MBH_CLUSTER_PORT); etcd on the host's
loopback only (the next two ports), where no pod can reach it. The slot is kept in the cluster's
state folder, so a restart gets the same addresses (the API server's certificate and every
Service's ClusterIP are bound to them).
"""

from __future__ import annotations

import ipaddress
import json
import os
from dataclasses import dataclass
from pathlib import Path

SLOTS = 64
RUN_ROOT = Path(os.environ.get("MBH_CLUSTER_RUN", "/run/mbhealth-cluster"))
NETNS_DIR = Path("/run/netns")
NODE_NAME = "mbhealth-node"
CLUSTER_DOMAIN = "cluster.local"
# Images the node itself runs (add-ons, the pod sandbox): imported into its containerd, never pulled.
LOCAL_IMAGE_PREFIX = "mbhealth.local"


# Everything a cluster keeps in its state folder; `stop` removes exactly these (images/ stays: a cache).
MADE = ("kubeconfig", "pki", "etcd", "logs", "kubeconfigs", "kubelet", "kubelet-config", "kube-proxy", "containerd",
        "cni", "cni-ipam", "pod-logs", "volumes", "registries", "addons", "network.json", "resolv.conf", "slot")
IMAGE_CACHE = "images"


def network(slot: int, second_octet: int, suffix: str) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(f"10.{second_octet}.{slot}.{suffix}")


@dataclass(frozen=True)
class Layout:
    """One node's names, addresses and paths (a pure function of the state folder and slot)."""

    state: Path  # the cluster's state folder (MBH_CLUSTER_STATE)
    slot: int
    api_port: int = 26443

    @property
    def etcd_port(self) -> int:
        return self.api_port + 2

    @property
    def etcd_peer_port(self) -> int:
        return self.api_port + 3

    @property
    def server(self) -> str:
        return f"https://{self.host_ip}:{self.api_port}"

    # --- names -------------------------------------------------------------------------------
    @property
    def netns(self) -> str:
        return f"mbh-node{self.slot}"

    @property
    def netns_path(self) -> Path:
        return NETNS_DIR / self.netns

    @property
    def host_veth(self) -> str:
        return f"mbh{self.slot}"

    node_veth = "eth0"
    bridge = "mbh-br0"

    @property
    def cgroup_root(self) -> str:
        return f"/mbhealth-node{self.slot}"

    # --- addresses ---------------------------------------------------------------------------
    @property
    def link(self) -> ipaddress.IPv4Network:
        return network(self.slot, 213, "0/30")

    @property
    def host_ip(self) -> str:
        return str(self.link.network_address + 1)

    @property
    def node_ip(self) -> str:
        return str(self.link.network_address + 2)

    @property
    def pod_cidr(self) -> ipaddress.IPv4Network:
        return network(self.slot, 214, "0/24")

    @property
    def service_cidr(self) -> ipaddress.IPv4Network:
        return network(self.slot, 215, "0/24")

    @property
    def kubernetes_service_ip(self) -> str:
        return str(self.service_cidr.network_address + 1)

    @property
    def dns_ip(self) -> str:
        return str(self.service_cidr.network_address + 10)

    @property
    def networks(self) -> tuple[ipaddress.IPv4Network, ...]:
        return (self.link, self.pod_cidr, self.service_cidr)

    # --- folders (state: survives a restart of the processes; run: sockets, per boot) --------
    @property
    def root(self) -> Path:
        return self.state

    @property
    def run(self) -> Path:
        return RUN_ROOT / f"node{self.slot}"

    def dir(self, name: str) -> Path:
        return self.root / name

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def logs(self) -> Path:
        return self.root / "logs"

    @property
    def pids(self) -> Path:
        return self.run / "pids"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.state / "kubeconfig"

    @property
    def containerd_socket(self) -> Path:
        return self.run / "containerd.sock"

    @property
    def kubelet_root(self) -> Path:
        return self.root / "kubelet"

    @property
    def pod_logs(self) -> Path:
        return self.root / "pod-logs"

    @property
    def volumes(self) -> Path:
        return self.root / "volumes"

    def summary(self) -> dict[str, str]:
        return {"slot": str(self.slot), "netns": self.netns, "hostIP": self.host_ip, "nodeIP": self.node_ip,
                "link": str(self.link), "podCIDR": str(self.pod_cidr), "serviceCIDR": str(self.service_cidr),
                "kubernetesServiceIP": self.kubernetes_service_ip, "dnsIP": self.dns_ip, "nodeName": NODE_NAME,
                "server": self.server}


def slot_file(state: Path) -> Path:
    return state / "slot"


def claims() -> dict[int, Path]:
    """Slot -> the state folder of the node that holds it on this machine (since boot)."""
    held = {}
    for claim in RUN_ROOT.glob("slot-*"):
        try:
            held[int(claim.name.removeprefix("slot-"))] = Path(claim.read_text().strip())
        except (ValueError, OSError):
            continue
    return held


def claim(state: Path, api_port: int) -> Layout:
    """This state folder's slot: the one it had (a restart), else the lowest free one.

    Callers hold daemons.machine_lock() while claiming, so two clusters starting at once
    cannot take the same slot."""
    state = state.resolve()
    RUN_ROOT.mkdir(parents=True, exist_ok=True)
    held = claims()
    mine = [s for s, owner in held.items() if owner == state]
    if mine:
        return Layout(state, mine[0], api_port)
    recorded = slot_file(state)
    if recorded.is_file():
        slot = int(recorded.read_text().strip())
        if slot in held:
            raise SystemExit(f"node: this cluster's slot {slot} (addresses 10.213.{slot}.0/30, 10.214.{slot}.0/24) "
                             f"is held by the cluster in {held[slot]}: stop that one first")
    else:
        free = [s for s in range(SLOTS) if s not in held]
        if not free:
            raise SystemExit(f"node: all {SLOTS} node slots of this machine are in use (see {RUN_ROOT}/slot-*)")
        slot = free[0]
    recorded.parent.mkdir(parents=True, exist_ok=True)
    recorded.write_text(f"{slot}\n")
    (RUN_ROOT / f"slot-{slot}").write_text(f"{state}\n")
    return Layout(state, slot, api_port)


def existing(state: Path, api_port: int) -> Layout | None:
    """The layout of the cluster this state folder has (running or not), or None."""
    state = state.resolve()
    for slot, owner in claims().items():
        if owner == state:
            return Layout(state, slot, api_port)
    recorded = slot_file(state)
    if recorded.is_file():
        return Layout(state, int(recorded.read_text().strip()), api_port)
    return None


def release(layout: Layout) -> None:
    claim_path = RUN_ROOT / f"slot-{layout.slot}"
    if claim_path.is_file() and Path(claim_path.read_text().strip()) == layout.state.resolve():
        claim_path.unlink()


def write_summary(layout: Layout) -> Path:
    path = layout.root / "network.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(layout.summary(), indent=2) + "\n")
    return path
