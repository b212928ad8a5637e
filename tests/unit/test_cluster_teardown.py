"""tools/local-cluster/cluster/teardown.py walks the node's cgroups while the runtime removes them
(pods dying during `cluster.sh stop`): a cgroup that vanishes mid-walk is skipped, never an error."""

from __future__ import annotations

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools" / "local-cluster" / "cluster"))

import teardown  # noqa: E402


def test_a_cgroup_removed_while_the_walk_passes_is_skipped(tmp_path: Path, monkeypatch) -> None:
    root = tmp_path / "mbhealth-node0"
    for pod in ("pod-a/c1", "pod-b/c1", "pod-c/c1"):
        (root / pod).mkdir(parents=True)
    real_walk = os.walk

    def walk_while_pod_b_goes(top, *args, **kwargs):
        for entry in real_walk(top, *args, **kwargs):
            if Path(entry[0]) == root:
                for leftover in sorted((root / "pod-b").rglob("*"), reverse=True):
                    leftover.rmdir()
                (root / "pod-b").rmdir()  # its runtime removed it after the parent was listed
            yield entry

    monkeypatch.setattr(teardown.os, "walk", walk_while_pod_b_goes)
    found = {p.relative_to(root).as_posix() for p in teardown.cgroup_dirs(root)}
    assert found == {".", "pod-a", "pod-a/c1", "pod-c", "pod-c/c1"}


def test_pids_are_read_from_every_cgroup_of_the_node(tmp_path: Path, monkeypatch) -> None:
    hierarchy = tmp_path / "memory"
    (hierarchy / "mbhealth-node0" / "pod-a").mkdir(parents=True)
    (hierarchy / "mbhealth-node0" / "cgroup.procs").write_text("")
    (hierarchy / "mbhealth-node0" / "pod-a" / "cgroup.procs").write_text("101\n102\n")

    class Layout:
        cgroup_root = "/mbhealth-node0"

    monkeypatch.setattr(teardown, "hierarchies", lambda: [hierarchy])
    assert teardown.cgroup_pids(Layout()) == {101, 102}
