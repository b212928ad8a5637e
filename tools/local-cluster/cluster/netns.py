"""The node's network: its own namespace, one link to the host, and the guard that keeps every
packet of it on this machine.

- The guard comes first, before any pod can exist: in the host's `mangle FORWARD` (IPv4 and IPv6),
  a DROP of everything forwarded out of each uplink (the interfaces of the default routes). The
  `mangle` table is traversed before `filter`, where kube-proxy and kube-router put their ACCEPTs.
  It is shared by every node on the machine: added by the first, removed by the last.
- The node's namespace has the veth to the host and, once pods run, its bridge. It has no default
  route and IPv6 is off in it; its own `mangle FORWARD` drops whatever would leave through the link
  to anything but the host's end. The host keeps IP forwarding as it was (off): it answers the
  node, it never forwards for it. No NAT rule is ever added to the host.
- Pods resolve through the cluster DNS only: their resolv.conf template has no nameserver.
"""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

from daemons import NodeError, run, say
from layout import Layout, claims

GUARD_COMMENT = "mbhealth-node: nothing forwarded leaves the machine"
LINK_GUARD_COMMENT = "mbhealth-node: the link leads to the host only"


def uplinks() -> list[str]:
    """The interfaces that carry a default route (IPv4 or IPv6): where the machine meets the network."""
    devices = []
    for family in ("-4", "-6"):
        out = run(["ip", "-j", family, "route", "show", "default"], check=False).stdout or "[]"
        for route in json.loads(out):
            if route.get("dev") and route["dev"] not in devices:
                devices.append(route["dev"])
    return devices


def _guard_rule(dev: str) -> list[str]:
    return ["FORWARD", "-o", dev, "-m", "comment", "--comment", GUARD_COMMENT, "-j", "DROP"]


def add_guards() -> list[str]:
    """The host's DROP of everything forwarded out of each uplink, first in mangle FORWARD (v4, v6)."""
    devices = uplinks()
    for tool in ("iptables", "ip6tables"):
        for dev in devices:
            rule = _guard_rule(dev)
            if run([tool, "-w", "-t", "mangle", "-C", *rule], check=False).returncode != 0:
                run([tool, "-w", "-t", "mangle", "-I", rule[0], "1", *rule[1:]])
    return devices


def remove_guards() -> None:
    for tool in ("iptables", "ip6tables"):
        listing = run([f"{tool}-save", "-t", "mangle"], check=False).stdout
        for line in listing.splitlines():
            if line.startswith("-A FORWARD") and GUARD_COMMENT in line:
                dev = line.split("-o ", 1)[1].split()[0]
                run([tool, "-w", "-t", "mangle", "-D", *_guard_rule(dev)], check=False)


def guards_in_place() -> bool:
    for tool in ("iptables", "ip6tables"):
        for dev in uplinks():
            if run([tool, "-w", "-t", "mangle", "-C", *_guard_rule(dev)], check=False).returncode != 0:
                return False
    return True


def overlapping_routes(layout: Layout) -> list[str]:
    """Routes of the host (other than this node's) that overlap the node's networks."""
    found = []
    out = run(["ip", "-j", "-4", "route", "show", "table", "all"], check=False).stdout or "[]"
    for route in json.loads(out):
        dst = route.get("dst", "")
        if dst in ("default", "") or route.get("dev", "").startswith("mbh") or route.get("type") in ("broadcast",):
            continue
        try:
            net = ipaddress.ip_network(dst, strict=False)
        except ValueError:
            continue
        if net.version == 4 and not net.is_loopback and any(net.overlaps(ours) for ours in layout.networks):
            found.append(f"{dst} dev {route.get('dev', '?')}")
    return found


def exists(layout: Layout) -> bool:
    return layout.netns_path.exists()


def up(layout: Layout) -> None:
    """Create the namespace, its link to the host, routes and settings (guards must be in place)."""
    if not guards_in_place():
        raise NodeError("the uplink guard is not in place: refusing to create the node's network")
    if exists(layout):
        return
    clash = overlapping_routes(layout)
    if clash:
        raise NodeError(f"the node's networks {', '.join(map(str, layout.networks))} overlap this machine's routes "
                        f"({'; '.join(clash)}): stop what uses them, or use another slot")
    ns, host, node = layout.netns, layout.host_veth, layout.node_veth
    run(["ip", "netns", "add", ns])
    try:
        run(["ip", "-n", ns, "link", "set", "lo", "up"])
        run(["ip", "link", "add", host, "type", "veth", "peer", "name", node, "netns", ns])
        run(["ip", "addr", "add", f"{layout.host_ip}/{layout.link.prefixlen}", "dev", host])
        run(["ip", "-n", ns, "addr", "add", f"{layout.node_ip}/{layout.link.prefixlen}", "dev", node])
        run(["ip", "link", "set", host, "up"])
        run(["ip", "-n", ns, "link", "set", node, "up"])
        # The host reaches pods and Services through the node; the node has no default route.
        for net in (layout.pod_cidr, layout.service_cidr):
            run(["ip", "route", "add", str(net), "via", layout.node_ip, "dev", host])
        for key, value in (("net.ipv4.ip_forward", "1"), ("net.ipv6.conf.all.disable_ipv6", "1"),
                           ("net.ipv6.conf.default.disable_ipv6", "1"),
                           ("net.bridge.bridge-nf-call-iptables", "1")):
            run(["sysctl", "-q", "-w", f"{key}={value}"], netns=ns)
        run(["iptables", "-w", "-t", "mangle", "-A", "FORWARD", "-o", node, "!", "-d", f"{layout.host_ip}/32",
             "-m", "comment", "--comment", LINK_GUARD_COMMENT, "-j", "DROP"], netns=ns)
        run(["ip6tables", "-w", "-t", "mangle", "-A", "FORWARD", "-m", "comment", "--comment", LINK_GUARD_COMMENT,
             "-j", "DROP"], netns=ns)
    except BaseException:
        down(layout)
        raise
    write_pod_resolv_conf(layout)


def write_pod_resolv_conf(layout: Layout) -> Path:
    """The kubelet's resolv.conf: no nameserver, so pods get only the cluster DNS and nothing
    forwards a name the cluster does not know (CoreDNS has no forward plugin either)."""
    path = layout.root / "resolv.conf"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("# pods of the mbhealth local node resolve cluster names only (no upstream resolver)\n")
    return path


def down(layout: Layout) -> None:
    """Delete the namespace: its link (both ends, and the host's routes through it), bridge, rules and sets."""
    if exists(layout):
        run(["ip", "netns", "delete", layout.netns], check=False)
    if run(["ip", "link", "show", layout.host_veth], check=False).returncode == 0:
        run(["ip", "link", "delete", layout.host_veth], check=False)


def last_node(layout: Layout) -> bool:
    """No other node of this machine is claimed (the guard and kernel settings can go)."""
    return all(slot == layout.slot for slot in claims())


def preflight_kernel() -> list[str]:
    """What the kernel lacks for a node, each with what to do."""
    problems = []
    if not Path("/proc/sys/net/bridge/bridge-nf-call-iptables").exists():
        problems.append("the kernel's bridge netfilter is not loaded: run `modprobe br_netfilter`")
    if "overlay" not in Path("/proc/filesystems").read_text():
        problems.append("the kernel has no overlay filesystem: run `modprobe overlay`")
    for controller in ("cpu", "cpuacct", "cpuset", "memory", "pids", "devices", "freezer"):
        if not (Path("/sys/fs/cgroup") / controller).is_dir() and not Path("/sys/fs/cgroup/cgroup.controllers").exists():
            problems.append(f"cgroup controller {controller} is not mounted under /sys/fs/cgroup")
    return problems


def say_guards(devices: list[str]) -> None:
    say(f"guard: mangle FORWARD drops everything forwarded out of {', '.join(devices) or 'no uplink'} (IPv4, IPv6)")
