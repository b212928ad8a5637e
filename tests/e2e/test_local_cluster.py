"""The local cluster's node keeps every packet on this machine, and stopping it removes all it made.

One cluster of this test's own is started, inspected while it runs (from the host, from its
node's network namespace and from a pod on it) and stopped; the machine is then compared with
what it was before the start. Checked as the README's "Network safety" states it:

- before any pod: a DROP of everything forwarded out of each uplink, first in the host's
  `mangle FORWARD`, IPv4 and IPv6; the host forwards nothing itself (its setting unchanged);
- no NAT rule in the host's namespace; the node's namespace has no default route, no IPv6, and
  kube-proxy's rules are the only NAT there;
- pods resolve cluster names only (their resolv.conf names the cluster DNS alone; a public name
  does not resolve) and reach nothing beyond the node (the host's gateway is unreachable from a
  pod, and the packet never even reaches the host's guard);
- the kubelet serves only on the node's address and refuses anonymous requests;
- after the stop: the host's rules (every table, both families), links, routes, network
  namespaces, mounts, cgroups, processes and the kernel settings the kubelet changes are as they
  were before the start.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e import engine
from tests.support.services import free_port, free_port_block

KERNEL = ("vm.overcommit_memory", "vm.panic_on_oom", "kernel.panic", "kernel.panic_on_oops",
          "net.ipv4.ip_forward", "net.ipv6.conf.all.forwarding")
PROBE_IMAGE = "mbhealth.local/busybox:1.35.0"  # the node's own storage-helper image (busybox)


def sh(*args: str, check: bool = True) -> str:
    proc = subprocess.run(list(args), capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(args)}: {proc.stderr.strip()}")
    return proc.stdout


def rules(tool: str, table: str | None = None) -> list[str]:
    out = sh(f"{tool}-save", *(["-t", table] if table else []))
    return [line for line in out.splitlines() if line.startswith(("-A", "-I", ":")) or line.startswith("*")]


def machine() -> dict[str, object]:
    """What a cluster may change on the host, and must leave as it found it."""
    return {
        "iptables": rules("iptables"), "ip6tables": rules("ip6tables"),
        "links": sorted(link["ifname"] for link in json.loads(sh("ip", "-j", "link", "show"))),
        "routes": sh("ip", "route", "show", "table", "all"),
        "netns": sorted(p.name for p in Path("/run/netns").glob("*")) if Path("/run/netns").is_dir() else [],
        "kernel": {key: Path("/proc/sys", key.replace(".", "/")).read_text().strip() for key in KERNEL},
        "cgroups": sorted(str(p) for p in Path("/sys/fs/cgroup").glob("*/mbhealth-node*")),
    }


@pytest.fixture
def cluster_state(tmp_path: Path) -> Path:
    return tmp_path / "cluster"


@pytest.fixture
def own_cluster(engine_env: dict[str, str], cluster_state: Path) -> Iterator[tuple[engine.LocalCluster, dict]]:
    before = machine()
    cluster = engine.LocalCluster(state=cluster_state, port=free_port_block(4), env=engine_env,
                                  ingress_port=free_port(), ingress_tls_port=free_port())
    cluster.start()
    try:
        yield cluster, before
    finally:
        cluster.stop()


def in_node(netns: str, *args: str, check: bool = True) -> str:
    return sh("nsenter", f"--net=/run/netns/{netns}", "--", *args, check=check)


def uplinks() -> list[str]:
    devs = {route["dev"] for family in ("-4", "-6")
            for route in json.loads(sh("ip", "-j", family, "route", "show", "default") or "[]")}
    return sorted(devs)


def test_the_node_keeps_every_packet_on_this_machine_and_leaves_nothing_behind(
        own_cluster: tuple[engine.LocalCluster, dict], cluster_state: Path) -> None:
    cluster, before = own_cluster
    net = json.loads(engine.run(["bash", str(engine.CLUSTER_SCRIPT), "show"], env=cluster._script_env()).stdout)
    netns = net["netns"]

    # The guard: first in mangle FORWARD, for every uplink, both families.
    for tool in ("iptables", "ip6tables"):
        forward = [line for line in rules(tool, "mangle") if line.startswith("-A FORWARD")]
        guards = [line for line in forward if "nothing forwarded leaves the machine" in line]
        assert {re.search(r"-o (\S+)", g).group(1) for g in guards} == set(uplinks()), forward
        assert forward[: len(guards)] == guards, f"{tool}: the guard is not first in mangle FORWARD: {forward}"
        assert all(g.endswith("-j DROP") for g in guards)
    # No NAT rule in the host; its forwarding as it was.
    for tool in ("iptables", "ip6tables"):
        nat = [line for line in rules(tool, "nat") if line.startswith("-A")]
        assert nat == _nat_of(before[tool]), f"{tool}: NAT rules added in the host: {nat}"
    assert machine()["kernel"]["net.ipv4.ip_forward"] == before["kernel"]["net.ipv4.ip_forward"]

    # The node's namespace: no default route, no IPv6, NAT only from kube-proxy.
    assert "default" not in in_node(netns, "ip", "route", "show"), "the node's namespace must have no default route"
    assert in_node(netns, "sysctl", "-n", "net.ipv6.conf.all.disable_ipv6").strip() == "1"
    node_nat = [line for line in in_node(netns, "iptables-save", "-t", "nat").splitlines() if line.startswith("-A")]
    assert node_nat and all(re.match(r"-A (KUBE-\S+|PREROUTING|OUTPUT|POSTROUTING) ", line) for line in node_nat), node_nat
    masquerades = [line for line in node_nat if "MASQUERADE" in line or "SNAT" in line]
    assert masquerades == [line for line in masquerades if line.startswith("-A KUBE-POSTROUTING")], masquerades

    # The kubelet: only on the node's address, and never for anonymous requests.
    listening = in_node(netns, "ss", "-Hltn", "sport = :10250")
    assert {line.split()[3] for line in listening.splitlines()} == {f"{net['nodeIP']}:10250"}, listening
    anonymous = sh("curl", "-sk", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "5",
                   f"https://{net['nodeIP']}:10250/pods")
    assert anonymous == "401", f"the kubelet answered an anonymous request with {anonymous}"

    # A pod: cluster DNS only, and nothing beyond the node.
    gateway = json.loads(sh("ip", "-j", "-4", "route", "show", "default"))[0]["gateway"]
    guard_before = _guard_packets()
    cluster.kubectl("run", "probe", "-n", "default", "--image", PROBE_IMAGE, "--image-pull-policy=Never",
                    "--restart=Never", "--command", "--", "/bin/busybox", "sh", "-c",
                    "/bin/busybox cat /etc/resolv.conf; "
                    "/bin/busybox nslookup kubernetes.default.svc.cluster.local >/dev/null && echo cluster-name-ok; "
                    "/bin/busybox nslookup example.com >/dev/null 2>&1 || echo public-name-refused; "
                    f"/bin/busybox nc -w 3 {gateway} 80 </dev/null >/dev/null 2>&1 || echo gateway-unreachable")
    cluster.kubectl("wait", "-n", "default", "--for=jsonpath={.status.phase}=Succeeded", "pod/probe", "--timeout=120s")
    out = cluster.kubectl("logs", "-n", "default", "probe").stdout
    nameservers = re.findall(r"^nameserver (\S+)", out, re.MULTILINE)
    assert nameservers == [net["dnsIP"]], out
    assert "cluster-name-ok" in out and "public-name-refused" in out and "gateway-unreachable" in out, out
    assert _guard_packets() == guard_before, "a pod's packet reached the host's forwarding path"

    cluster.stop()
    after = machine()
    for key in before:
        assert after[key] == before[key], f"{key} differs after the stop:\nbefore {before[key]}\nafter  {after[key]}"
    assert not [line for line in Path("/proc/self/mountinfo").read_text().splitlines() if str(cluster_state) in line]
    leftover = sh("pgrep", "-af", str(cluster_state), check=False).strip()
    assert leftover == "", f"processes of the cluster still run: {leftover}"


def _nat_of(saved: list[str]) -> list[str]:
    """The `-A` lines of the nat table in an iptables-save listing of every table."""
    table, lines = None, []
    for line in saved:
        if line.startswith("*"):
            table = line[1:]
        elif table == "nat" and line.startswith("-A"):
            lines.append(line)
    return lines


def _guard_packets() -> int:
    out = sh("iptables", "-t", "mangle", "-L", "FORWARD", "-v", "-x", "-n")
    return sum(int(line.split()[0]) for line in out.splitlines() if "nothing forwarded leaves" in line)
