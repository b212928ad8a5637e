#!/usr/bin/env python3
"""Benchmark: the real engine against the local cluster and its real node -> bench/e2e.md.

    python -m bench.e2e [--runs 3] [--cold-cache DIR] [--out bench/e2e.md]

Per run, on a fresh copy of the checkout, a fresh state backend and a fresh local cluster
(tools/local-cluster: control plane + one real node), the built toolchain (tools/engine), images
prebuilt from components/build_specs.py (the toolchain has no docker provider):

- the cluster's start (`make cluster-local`'s `cluster.sh start`: until the node is Ready and its
  add-ons serve) and, at the end, its stop (everything it made removed);
- `pulumi preview` and `pulumi up` of dev from empty (`make preview`, `make up`: what a user
  runs; the image builds are in them, from a warm build cache; `make up` ends with every pod
  Ready and both Jobs complete);
- the resident memory of the whole cluster with the dev stack running: every process of the
  control plane and the node, the containerd shims, and the pods (their memory cgroup);
- each app pod (backend, worker, frontend) deleted: until it is gone (the preStop pause, then the
  image's stop signal until the process exits) and until its replacement is Ready (scheduling,
  the container's start, the probes at their periods);
- a no-op `pulumi up --yes` (with its preview, as `make up` runs it) and a no-op preview;
- a one-image update: a backend code change, the build timed on its own, then `pulumi up --yes`
  (until the new backend and worker pods are Ready and the Jobs have run again);
- `pulumi destroy --yes`;
- in the same run, the floor a deploy tool cannot beat: `kubectl apply --server-side` of the
  synthesized manifests of the same config (scripts/synth.py) into the emptied namespace, then
  the same apply again (nothing changed).

Medians over the runs; ratios are taken per run, then their median. The toolchain's figures:
the warm `make tools` (everything cached) measured here, and each group's cold build time as
recorded when it was built (`build-seconds` in the cache, or in --cold-cache: a cache that
`make tools` filled from empty Go caches, as a fresh machine's `.ci/run` does).
Needs the Docker engine and registry (tools/machine/docker-engine.sh) and `make tools`. Run it alone.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.e2e import engine  # noqa: E402
from tests.support.services import free_port, free_port_block  # noqa: E402

GOALS = {"noop_up": 10.0, "noop_ratio": 4.0, "update": 20.0, "cluster_start": 20.0, "up_empty": 60.0,
         "memory_mib": 2560.0}
MEASURES = [  # key, what
    ("cluster_start", "`make cluster-local`: control plane and node from nothing to Ready, add-ons serving"),
    ("preview_empty", "`make preview` of dev from empty (state and cluster empty)"),
    ("up_empty", "`make up` of dev from empty (image builds from a warm cache included)"),
    ("pod_stop_backend", "a backend pod deleted, until it is gone (its 5 s preStop pause, then SIGTERM to exit)"),
    ("pod_ready_backend", "... its replacement Ready (from the deletion; probes at their periods)"),
    ("pod_stop_worker", "a worker pod deleted, until it is gone (preStop 5 s, SIGTERM: warm shutdown)"),
    ("pod_ready_worker", "... its replacement Ready (`celery inspect ping`)"),
    ("pod_stop_frontend", "a frontend pod deleted, until it is gone (preStop 5 s, SIGQUIT: nginx drains)"),
    ("pod_ready_frontend", "... its replacement Ready"),
    ("noop_preview", "no-op `pulumi preview`"),
    ("noop_up", "no-op `pulumi up --yes` (with its preview)"),
    ("noop_up_once", "no-op `pulumi up --yes --skip-preview` (the program runs once)"),
    ("build", "one-image update: the backend build and push alone"),
    ("update", "one-image update: `pulumi up --yes`, build excluded"),
    ("destroy", "`pulumi destroy --yes`"),
    ("apply_empty", "floor: `kubectl apply --server-side` of the synthesized manifests, empty namespace"),
    ("apply_noop", "floor: the same apply again (nothing changed)"),
    ("cluster_stop", "`make cluster-local-down`: everything the cluster made removed"),
]
MEMORY = ("memory_mib", "resident memory of the cluster with the dev stack running (MiB)")


def log(msg: str) -> None:
    print(f"bench-e2e: {msg}", file=sys.stderr, flush=True)


def timed(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 2400) -> float:
    started = time.monotonic()
    engine.run(args, env=env, cwd=cwd, timeout=timeout)
    return time.monotonic() - started


def cluster_memory_mib(cluster: engine.LocalCluster) -> float:
    """RSS of the cluster's processes (pidfiles), its containerd shims, and its pods' memory cgroup."""
    slot = cluster.show()["slot"]
    run_dir = Path("/run/mbhealth-cluster") / f"node{slot}"
    pids = {int(p.read_text().split()[0]) for p in (run_dir / "pids").glob("*.pid")}
    socket = str(run_dir / "containerd.sock")
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                if socket in (proc / "cmdline").read_bytes().decode(errors="replace") and "shim" in (proc / "comm").read_text():
                    pids.add(int(proc.name))
            except OSError:
                continue
    rss = 0
    for pid in pids:
        try:
            rss += int(next(line.split()[1] for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                            if line.startswith("VmRSS:"))) * 1024
        except (OSError, StopIteration):
            continue
    stat = Path("/sys/fs/cgroup/memory") / f"mbhealth-node{slot}" / "memory.stat"
    pods = 0
    if stat.is_file():
        values = dict(line.split() for line in stat.read_text().splitlines())
        pods = sum(int(values.get(key, 0)) for key in ("total_rss", "total_mapped_file", "total_shmem"))
    return (rss + pods) / 2**20


def pod_replaced(cluster: engine.LocalCluster, name: str) -> tuple[float, float]:
    """Delete `name`'s pod: seconds until it is gone, and until a new one is Ready (polled every 0.2 s)."""
    def pods() -> list[dict]:
        items = cluster.get("pods", namespace=engine.DEV_NAMESPACE)["items"]
        return [p for p in items if p["metadata"]["labels"].get("app.kubernetes.io/name") == name]

    (old,) = [p["metadata"]["name"] for p in pods()]
    started = time.monotonic()
    deleting = subprocess.Popen(["kubectl", "--kubeconfig", str(cluster.kubeconfig), "delete", "pod", old, "-n",
                                 engine.DEV_NAMESPACE, "--wait=true"], env=cluster.env, stdout=subprocess.DEVNULL)
    gone = ready = None
    try:
        while gone is None or ready is None:
            if gone is None and deleting.poll() is not None:
                gone = time.monotonic() - started
            if ready is None and any(p["metadata"]["name"] != old and engine.pod_ready(p) for p in pods()):
                ready = time.monotonic() - started
            if time.monotonic() - started > 300:
                raise RuntimeError(f"{name}: pod not replaced within 300 s")
            time.sleep(0.2)
    finally:
        if deleting.poll() is None:
            deleting.kill()
        deleting.wait()
    return gone, ready


def one_run(env_base: dict[str, str], root: Path, number: int) -> dict[str, float]:
    figures: dict[str, float] = {}
    cluster = engine.LocalCluster(state=root / f"run-{number}" / "cluster", port=free_port_block(4), env=env_base,
                                  ingress_port=free_port(), ingress_tls_port=free_port())
    log(f"run {number}: cluster start")
    started = time.monotonic()
    cluster.start()
    figures["cluster_start"] = time.monotonic() - started
    try:
        figures.update(on_cluster(cluster, root, number))
    finally:
        started = time.monotonic()
        cluster.stop()
        figures["cluster_stop"] = time.monotonic() - started
    return figures


def on_cluster(cluster: engine.LocalCluster, root: Path, number: int) -> dict[str, float]:
    project = engine.copy_checkout(root / f"run-{number}" / "project")
    env = cluster.make_env(root / f"run-{number}" / "state")
    figures: dict[str, float] = {}
    log(f"run {number}: make preview / make up from empty")
    figures["preview_empty"] = timed(["make", "--no-print-directory", "preview"], env, project)
    figures["up_empty"] = timed(["make", "--no-print-directory", "up"], env, project)
    figures["memory_mib"] = cluster_memory_mib(cluster)
    log(f"run {number}: each app pod deleted and replaced")
    for name in ("backend", "worker", "frontend"):
        figures[f"pod_stop_{name}"], figures[f"pod_ready_{name}"] = pod_replaced(cluster, name)

    raw = engine.stack_env(env, project)
    raw["MBH_BASE_IMAGES"] = engine.run([str(project / ".venv" / "bin" / "python"), "tools/standins/forge_bases.py", "--json"],
                                        env=raw, cwd=project).stdout.strip()
    generated = project / ".pulumi-state" / "config" / "Pulumi.dev.yaml"
    pulumi = ["pulumi", "--non-interactive"]
    config = ["--stack", "dev", "--config-file", str(generated)]
    log(f"run {number}: no-op preview / up")
    figures["noop_preview"] = timed([*pulumi, "preview", *config, "--expect-no-changes"], raw, project)
    figures["noop_up"] = timed([*pulumi, "up", *config, "--yes"], raw, project)
    figures["noop_up_once"] = timed([*pulumi, "up", *config, "--yes", "--skip-preview"], raw, project)

    log(f"run {number}: one-image update")
    init = project / "apps" / "backend" / "mbhealth" / "__init__.py"
    init.write_text(init.read_text() + f"\n# bench-e2e run {number}\n")
    figures["build"] = timed([str(project / ".venv" / "bin" / "python"), "scripts/prebuilt_images.py", "--stack", "dev",
                              "--out", str(generated), "--cluster-settings", json.dumps(cluster.stack_settings())],
                             raw, project)
    figures["update"] = timed([*pulumi, "up", *config, "--yes"], raw, project)

    log(f"run {number}: destroy")
    figures["destroy"] = timed([*pulumi, "destroy", *config, "--yes"], raw, project)

    log(f"run {number}: the kubectl floor")
    synth = root / f"run-{number}" / "synth"
    engine.run([str(project / ".venv" / "bin" / "python"), "scripts/synth.py", "--stack", "dev", "--stack-file",
                str(generated), "--out", str(synth)], env=raw, cwd=project)
    manifests = sorted(p for p in synth.glob("*.yaml"))
    apply = ["kubectl", "--kubeconfig", raw["KUBECONFIG"], "apply", "--server-side", "--field-manager", "bench-e2e",
             *[arg for p in manifests for arg in ("-f", str(p))]]
    figures["apply_empty"] = timed(apply, raw, project)
    figures["apply_noop"] = timed(apply, raw, project)
    engine.run(["kubectl", "--kubeconfig", raw["KUBECONFIG"], "delete", "namespace", engine.DEV_NAMESPACE, "--wait"],
               env=raw, cwd=project, timeout=300)
    engine.run([*pulumi, "stack", "rm", "dev", "--yes"], env=raw, cwd=project)
    shutil.rmtree(root / f"run-{number}" / "project", ignore_errors=True)
    return figures


def toolchain(cold_cache: Path | None) -> tuple[list[float], dict[str, dict[str, float | None]]]:
    warm = []
    for _ in range(3):
        started = time.monotonic()
        engine.run(["bash", str(engine.BUILD_SCRIPT)], env=dict(os.environ), timeout=600)
        warm.append(time.monotonic() - started)
    groups: dict[str, dict[str, float | None]] = {}
    caches = {"this cache": Path(os.environ.get("MBH_TOOLS_CACHE") or Path.home() / ".cache/mbhealth/tools")}
    if cold_cache:
        caches["cold cache"] = cold_cache
    for label, cache in caches.items():
        for path in sorted(cache.glob("*/build-seconds")):
            group = path.parent.name.rsplit("-", 1)[0]
            groups.setdefault(group, {})[label] = float(path.read_text().strip())
    return warm, groups


def fmt(seconds: float | None) -> str:
    return "—" if seconds is None else f"{seconds:.1f} s"


def render(runs: list[dict[str, float]], warm: list[float], groups, started: datetime, load: tuple,
           cold_cache: Path | None) -> str:
    med = {key: statistics.median(r[key] for r in runs) for key, _ in [*MEASURES, MEMORY]}
    ratio_noop = statistics.median(r["noop_up"] / r["apply_noop"] for r in runs)
    ratio_empty = statistics.median(r["up_empty"] / r["apply_empty"] for r in runs)
    lines = [
        "# The real engine against the local cluster (a real node)",
        "",
        f"Written by `make bench-e2e` (bench/e2e.py) on {started:%Y-%m-%d %H:%M} UTC: {len(runs)} runs, "
        f"{os.cpu_count()} cores, {platform.machine()}, load average before {load[0]:.2f}. Pulumi CLI and providers "
        "built by `make tools`, a fresh local cluster per run (`make cluster-local`: the control plane and one "
        "real node: containerd, kubelet, kube-proxy, kube-router, CoreDNS, metrics-server, Traefik), images "
        "prebuilt on the offline stand-in bases and deployed by digest, pods running for real.",
        "",
        "| measure | median | runs |",
        "|---|---|---|",
    ]
    for key, what in MEASURES:
        lines.append(f"| {what} | {fmt(med[key])} | {', '.join(f'{r[key]:.1f}' for r in runs)} |")
    lines.append(f"| {MEMORY[1]} | {med['memory_mib']:.0f} MiB | {', '.join(f'{r[MEMORY[0]]:.0f}' for r in runs)} |")
    lines += [
        "",
        f"- no-op `pulumi up` / the kubectl no-op floor, per run: median **{ratio_noop:.1f}×** (with "
        f"`--skip-preview`, one pass of the program instead of two: "
        f"{statistics.median(r['noop_up_once'] / r['apply_noop'] for r in runs):.1f}×);",
        f"- `make up` from empty / the kubectl apply floor: median {ratio_empty:.1f}× (the floor waits for nothing; "
        "`pulumi up` waits for every rollout and both Jobs).",
        "",
        "## Goals",
        "",
        "| goal | measured | |",
        "|---|---|---|",
        f"| no-op `pulumi up` ≤ {GOALS['noop_up']:.0f} s | {fmt(med['noop_up'])} | "
        f"{'met' if med['noop_up'] <= GOALS['noop_up'] else 'NOT met'} |",
        f"| no-op `pulumi up` ≤ {GOALS['noop_ratio']:.0f}× the kubectl floor | {ratio_noop:.1f}× | "
        f"{'met' if ratio_noop <= GOALS['noop_ratio'] else 'NOT met'} |",
        f"| one-image update to new pods Ready (build excluded) ≤ {GOALS['update']:.0f} s | {fmt(med['update'])} | "
        f"{'met' if med['update'] <= GOALS['update'] else 'NOT met'} |",
        f"| `make cluster-local` ≤ {GOALS['cluster_start']:.0f} s | {fmt(med['cluster_start'])} | "
        f"{'met' if med['cluster_start'] <= GOALS['cluster_start'] else 'NOT met'} |",
        f"| `make up` from empty to every pod Ready ≤ {GOALS['up_empty']:.0f} s | {fmt(med['up_empty'])} | "
        f"{'met' if med['up_empty'] <= GOALS['up_empty'] else 'NOT met'} |",
        f"| the cluster with the dev stack ≤ {GOALS['memory_mib'] / 1024:.1f} GiB resident | "
        f"{med['memory_mib']:.0f} MiB | {'met' if med['memory_mib'] <= GOALS['memory_mib'] else 'NOT met'} |",
        "",
        "## Toolchain (`make tools`)",
        "",
        f"Warm (every group cached): median {fmt(statistics.median(warm))} of {len(warm)} "
        f"({', '.join(f'{w:.1f}' for w in warm)}).",
        "",
    ]
    labels = ["this cache"] + (["cold cache"] if cold_cache else [])
    lines += ["Each group's build time as recorded when it was built (`build-seconds`):", "",
              "| group | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    for group, values in sorted(groups.items()):
        lines.append(f"| {group} | " + " | ".join(fmt(values.get(label)) for label in labels) + " |")
    totals = [sum(v.get(label) or 0 for v in groups.values()) for label in labels]
    lines.append("| total | " + " | ".join(fmt(t) for t in totals) + " |")
    if cold_cache:
        lines += ["", f"The cold cache ({cold_cache}) was filled by `make tools` from empty Go build and module "
                  "caches, one group after the other; groups built with a warm Go cache show less."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cold-cache", type=Path, help="a tools cache `make tools` filled from empty Go caches")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "e2e.md")
    args = parser.parse_args(argv)
    problem = engine.toolchain_problem()
    if problem:
        log(problem)
        return 2
    started = datetime.now(UTC)
    load = os.getloadavg()
    warm, groups = toolchain(args.cold_cache)
    home = engine.default_pulumi_home()
    env = engine.with_docker_engine(engine.engine_env(home))
    with tempfile.TemporaryDirectory(prefix="bench-e2e-") as tmp:
        root = Path(tmp)
        runs = [one_run(env, root, number) for number in range(1, args.runs + 1)]
    report = render(runs, warm, groups, started, load, args.cold_cache)
    args.out.write_text(report)
    log(f"wrote {args.out}")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
