#!/usr/bin/env python3
"""Benchmark: the real engine against the local control plane -> bench/e2e.md.

    python -m bench.e2e [--runs 3] [--cold-cache DIR] [--out bench/e2e.md]

Per run, on a fresh copy of the checkout and a fresh state backend, one local control plane
(tools/local-cluster) for all runs, the built toolchain (tools/engine), images prebuilt from
components/build_specs.py (the toolchain has no docker provider):

- `pulumi preview` and `pulumi up` of dev from empty (`make preview`, `make up`: what a user
  runs; the image builds are in them, from a warm build cache);
- a no-op `pulumi up --yes` (with its preview, as `make up` runs it) and a no-op preview;
- a one-image update: a backend code change, the build timed on its own, then `pulumi up --yes`;
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
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.e2e import engine  # noqa: E402
from tests.support.services import free_port  # noqa: E402

GOALS = {"noop_up": 10.0, "noop_ratio": 4.0, "update": 30.0}
MEASURES = [  # key, what
    ("preview_empty", "`make preview` of dev from empty (state and cluster empty)"),
    ("up_empty", "`make up` of dev from empty (image builds from a warm cache included)"),
    ("noop_preview", "no-op `pulumi preview`"),
    ("noop_up", "no-op `pulumi up --yes` (with its preview)"),
    ("noop_up_once", "no-op `pulumi up --yes --skip-preview` (the program runs once)"),
    ("build", "one-image update: the backend build and push alone"),
    ("update", "one-image update: `pulumi up --yes`, build excluded"),
    ("destroy", "`pulumi destroy --yes`"),
    ("apply_empty", "floor: `kubectl apply --server-side` of the synthesized manifests, empty namespace"),
    ("apply_noop", "floor: the same apply again (nothing changed)"),
]


def log(msg: str) -> None:
    print(f"bench-e2e: {msg}", file=sys.stderr, flush=True)


def timed(args: list[str], env: dict[str, str], cwd: Path, timeout: float = 2400) -> float:
    started = time.monotonic()
    engine.run(args, env=env, cwd=cwd, timeout=timeout)
    return time.monotonic() - started


def one_run(cluster: engine.LocalCluster, root: Path, number: int) -> dict[str, float]:
    project = engine.copy_checkout(root / f"run-{number}" / "project")
    env = cluster.make_env(root / f"run-{number}" / "state")
    figures: dict[str, float] = {}
    log(f"run {number}: make preview / make up from empty")
    figures["preview_empty"] = timed(["make", "--no-print-directory", "preview"], env, project)
    figures["up_empty"] = timed(["make", "--no-print-directory", "up"], env, project)

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
                              "--out", str(generated), "--local-control-plane"], raw, project)
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
    shutil.rmtree(root / f"run-{number}", ignore_errors=True)
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
    med = {key: statistics.median(r[key] for r in runs) for key, _ in MEASURES}
    ratio_noop = statistics.median(r["noop_up"] / r["apply_noop"] for r in runs)
    ratio_empty = statistics.median(r["up_empty"] / r["apply_empty"] for r in runs)
    lines = [
        "# The real engine against the local control plane",
        "",
        f"Written by `make bench-e2e` (bench/e2e.py) on {started:%Y-%m-%d %H:%M} UTC: {len(runs)} runs, "
        f"{os.cpu_count()} cores, {platform.machine()}, load average before {load[0]:.2f}. Pulumi CLI and providers "
        "built by `make tools`, Kubernetes API server, controller-manager and scheduler with kwok nodes "
        "(`make cluster-local`), images prebuilt on the offline stand-in bases and deployed by digest.",
        "",
        "| measure | median | runs |",
        "|---|---|---|",
    ]
    for key, what in MEASURES:
        lines.append(f"| {what} | {fmt(med[key])} | {', '.join(f'{r[key]:.1f}' for r in runs)} |")
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
        f"| one-image update (build excluded) ≤ {GOALS['update']:.0f} s | {fmt(med['update'])} | "
        f"{'met' if med['update'] <= GOALS['update'] else 'NOT met'} |",
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
        with engine.LocalCluster(state=root / "cluster", port=free_port(), env=env, name="mbhealth-bench") as cluster:
            runs = [one_run(cluster, root, number) for number in range(1, args.runs + 1)]
    report = render(runs, warm, groups, started, load, args.cold_cache)
    args.out.write_text(report)
    log(f"wrote {args.out}")
    print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
