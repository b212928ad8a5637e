"""Everything a cluster made goes when it stops: processes, containers, mounts, cgroups, log links,
its network namespace and state; and, with the last cluster of the machine, the uplink guard and
the kernel settings the kubelet changed (recorded before the first one started, restored as
they were). Only the cache of the node's own images stays (it is rebuilt from the binaries).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import daemons
import netns
from layout import MADE, RUN_ROOT, Layout

CGROUP_FS = Path("/sys/fs/cgroup")
# What the kubelet sets at start when protectKernelDefaults is off (it refuses to start otherwise).
KERNEL_SETTINGS = ("vm.overcommit_memory", "vm.panic_on_oom", "kernel.panic", "kernel.panic_on_oops",
                   "kernel.keys.root_maxkeys", "kernel.keys.root_maxbytes")
KERNEL_RECORD = RUN_ROOT / "kernel-settings.json"
CONTAINER_LOGS = Path("/var/log/containers")
MACHINE_RECORD = RUN_ROOT / "machine.json"


def _sysctl_path(key: str) -> Path:
    return Path("/proc/sys") / key.replace(".", "/")


def record_machine() -> None:
    """Before the first node: the kernel settings and whether /var/log/containers existed."""
    if KERNEL_RECORD.is_file():
        return
    values = {key: _sysctl_path(key).read_text().strip() for key in KERNEL_SETTINGS if _sysctl_path(key).exists()}
    KERNEL_RECORD.write_text(json.dumps(values, indent=2) + "\n")
    MACHINE_RECORD.write_text(json.dumps({"containerLogsExisted": CONTAINER_LOGS.exists()}) + "\n")


def restore_machine() -> list[str]:
    """After the last node: the kernel settings back as recorded; what we created on the host goes."""
    changed = []
    if KERNEL_RECORD.is_file():
        for key, value in json.loads(KERNEL_RECORD.read_text()).items():
            path = _sysctl_path(key)
            if path.read_text().strip() != value:
                path.write_text(value + "\n")
                changed.append(f"{key}={value}")
        KERNEL_RECORD.unlink()
    if MACHINE_RECORD.is_file():
        record = json.loads(MACHINE_RECORD.read_text())
        if not record.get("containerLogsExisted") and CONTAINER_LOGS.is_dir() and not any(CONTAINER_LOGS.iterdir()):
            CONTAINER_LOGS.rmdir()
        MACHINE_RECORD.unlink()
    return changed


def hierarchies() -> list[Path]:
    """Every mounted cgroup v1 hierarchy (cpu, memory, ..., name=systemd); or the v2 root."""
    if (CGROUP_FS / "cgroup.controllers").exists():
        return [CGROUP_FS]
    return sorted(p for p in CGROUP_FS.iterdir() if p.is_dir() and not p.is_symlink() and (p / "cgroup.procs").exists())


def make_cgroup_root(layout: Layout) -> None:
    """The kubelet's cgroup root, in every hierarchy (it refuses to start where one lacks it)."""
    for hierarchy in hierarchies():
        path = hierarchy / layout.cgroup_root.lstrip("/")
        path.mkdir(exist_ok=True)
        if hierarchy.name == "cpuset":
            for knob in ("cpuset.cpus", "cpuset.mems"):
                if not (path / knob).read_text().strip():
                    (path / knob).write_text((hierarchy / knob).read_text())


def cgroup_dirs(root: Path) -> list[Path]:
    """`root` and every cgroup below it, as they are while the walk passes. A pod's cgroup that its
    runtime removes meanwhile is skipped: Python 3.11's `Path.rglob` raises FileNotFoundError for it,
    which once ended `cluster.sh stop` half-way (the control plane left running)."""
    return [Path(top) for top, _, _ in os.walk(root)]  # os.walk ignores what vanishes


def cgroup_pids(layout: Layout) -> set[int]:
    pids: set[int] = set()
    for hierarchy in hierarchies():
        for cgroup in cgroup_dirs(hierarchy / layout.cgroup_root.lstrip("/")):
            try:
                pids.update(int(p) for p in (cgroup / "cgroup.procs").read_text().split())
            except OSError:
                continue
    return pids


def remove_cgroups(layout: Layout) -> list[str]:
    left: list[str] = []
    for hierarchy in hierarchies():
        root = hierarchy / layout.cgroup_root.lstrip("/")
        if not root.is_dir():
            continue
        for path in sorted(cgroup_dirs(root), key=lambda p: len(p.parts), reverse=True):
            _rmdir(path, left)
    return left


def _rmdir(path: Path, left: list[str]) -> None:
    for _ in range(50):
        try:
            path.rmdir()
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.1)  # a cgroup is busy until its last task is reaped
    left.append(str(path))


def mounts_under(*prefixes: Path) -> list[str]:
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].replace("\\040", " ")
        if any(point == str(p) or point.startswith(str(p) + "/") for p in prefixes):
            found.append(point)
    return sorted(set(found), key=lambda p: p.count("/"), reverse=True)


def unmount_all(*prefixes: Path) -> list[str]:
    left = []
    for _ in range(3):
        points = mounts_under(*prefixes)
        if not points:
            return []
        for point in points:
            if daemons.run(["umount", point], check=False).returncode != 0:
                daemons.run(["umount", "-l", point], check=False)
    left = mounts_under(*prefixes)
    return left


def remove_log_links(layout: Layout) -> None:
    if not CONTAINER_LOGS.is_dir():
        return
    for link in CONTAINER_LOGS.iterdir():
        try:
            if link.is_symlink() and os.readlink(link).startswith(str(layout.pod_logs)):
                link.unlink()
        except OSError:
            continue


def stop_node(layout: Layout, daemon_names: list[str]) -> None:
    """The node's daemons, every process of every pod, the shims and containerd."""
    for name in daemon_names:  # the ingress and the kubelet first: nothing restarts a container then
        daemons.stop(layout, name)
    for _ in range(3):  # every process of every pod (container inits and what they started)
        pids = cgroup_pids(layout)
        if not pids:
            break
        daemons.terminate(sorted(pids), timeout=0)
    shims = daemons.processes_with(str(layout.containerd_socket))
    daemons.stop(layout, "containerd")
    daemons.terminate(shims + daemons.processes_with(str(layout.containerd_socket)), timeout=5)


def remove_what_is_left(layout: Layout) -> list[str]:
    """Mounts, cgroups, log links, the network namespace and the cluster's state (what layout.MADE
    names; the image cache stays): what could not be removed, as lines."""
    problems = [f"mount left: {m}" for m in unmount_all(layout.root, layout.run)]
    problems += [f"cgroup left: {c}" for c in remove_cgroups(layout)]
    remove_log_links(layout)
    netns.down(layout)
    if not problems:
        shutil.rmtree(layout.run, ignore_errors=True)
        for name in MADE:
            entry = layout.root / name
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
    return problems
