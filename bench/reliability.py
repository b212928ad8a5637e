#!/usr/bin/env python3
"""Benchmark: faults under load on the real node -> bench/reliability.md.

    python -m bench.reliability [--runs 2] [--rate 20] [--out bench/reliability.md]

Per run, a fresh local cluster (tools/local-cluster: control plane + one real node) and a fresh
copy of the checkout; `make up` of the dev stack, then its backend, worker and frontend at two
replicas; then, one after the other, each fault of tests/e2e/reliability.py under an open-loop load
of `--rate` requests/s through the ingress (60% reads of task results, 40% task submissions):
a rolling release, a backend pod deleted, the kubelet restarted, the PostgreSQL pod deleted, the
Redis pod deleted. Each fault's figures, per run: requests sent and failed (and the 503s the README
documents while a data service is away), p99 latency, time to recover, tasks accepted and lost,
containers restarted. The load is bounded (rate x the fault's duration) and goes to loopback only.

Needs the Docker engine and registry (tools/machine/docker-engine.sh) and `make tools`; run it alone.
Exits 1 when a request failed or a task was lost where the goals say none may be (every fault but
the Redis pod's, whose loss is measured and explained).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from tests.e2e import engine  # noqa: E402
from tests.e2e.reliability import DATA_FAULTS, REPLICAS, FaultResult, Scenario  # noqa: E402
from tests.support.services import free_port, free_port_block  # noqa: E402

# Faults where nothing may fail and nothing may be lost; the Redis pod's loss is reported.
STRICT = ("rolling release", "backend pod deleted", "kubelet restarted", "PostgreSQL pod deleted")


def log(msg: str) -> None:
    print(f"bench-reliability: {msg}", file=sys.stderr, flush=True)


def one_run(env: dict[str, str], root: Path, number: int, rate: float) -> list[FaultResult]:
    with engine.LocalCluster(state=root / f"run-{number}" / "cluster", port=free_port_block(4), env=env,
                             ingress_port=free_port(), ingress_tls_port=free_port()) as cluster:
        project = engine.copy_checkout(root / f"run-{number}" / "project")
        stack_env = cluster.make_env(root / f"run-{number}" / "state")
        log(f"run {number}: make up")
        engine.make("up", project, stack_env)
        deployed = engine.Deployed(project, stack_env,
                                   engine.Stack(project, "dev", dict(stack_env), passphrase="mbhealth-dev-local"), cluster)
        scenario = Scenario(deployed, rate=rate, log=lambda msg: log(f"run {number}: {msg}"))
        scenario.at_two_replicas()
        try:
            return [scenario.run(fault) for fault in Scenario.FAULTS]
        finally:
            engine.make("down", project, stack_env, check=False)


def passed(result: FaultResult) -> bool:
    if result.fault not in STRICT:
        return True
    return result.failed == 0 and result.tasks_lost == 0 and result.restarts == 0


def render(runs: list[list[FaultResult]], rate: float, started: datetime, load: tuple) -> str:
    ok = all(passed(r) for run in runs for r in run)
    lines = [
        "# Reliability: faults under load on the real node",
        "",
        f"Written by `make bench-reliability` (`bench/reliability.py`) on {started:%Y-%m-%d %H:%M} UTC: "
        f"{len(runs)} run(s), {os.cpu_count()} cores ({platform.machine()}), load average {load[0]:.1f} before. "
        f"Verdict: **{'pass' if ok else 'FAIL'}**.",
        "",
        f"Each run: a fresh local cluster with one real node, the dev stack by `make up`, its backend, worker "
        f"and frontend at {REPLICAS} replicas, then each fault in turn under {rate:g} requests/s through the "
        "ingress (Traefik), from 3 s before the fault until 3 s after the stack had recovered "
        "(`tests/e2e/reliability.py`).",
        "",
        "| fault | run | requests | failed | 503 (documented) | p99 | recovered in | tasks accepted | lost "
        "| restarts |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for fault in Scenario.FAULTS:
        for number, run in enumerate(runs, 1):
            (r,) = [r for r in run if r.fault == fault]
            failures = "; ".join(f"{k}: {n}" for k, n in r.failures.items())
            lines.append(
                f"| {fault} | {number} | {r.requests} | **{r.failed}**{f' ({failures})' if failures else ''} | "
                f"{r.unavailable if fault in DATA_FAULTS else '—'} | {r.p99_ms} ms | {r.recovery_seconds:.1f} s | "
                f"{r.tasks_accepted} | **{r.tasks_lost}** | {r.restarts} |")
    notes = [f"- run {number}, {r.fault}: {note}" for number, run in enumerate(runs, 1) for r in run for note in r.notes]
    lines += [
        "",
        "- **failed**: no answer, or an answer other than 202 (a submission) or 200 (a read); **503 (documented)**:"
        " while PostgreSQL or Redis is away, the API's own 503s (README \"Readiness and dependency outages\": "
        "reads need PostgreSQL, submissions Redis) and the ingress's 503 once no backend pod is Ready;",
        "- **lost**: a submission accepted (202) whose task never got its row in PostgreSQL (looked up after the "
        "load, for up to 90 s);",
        "- **restarts**: of the backend's, worker's and frontend's containers while the fault lasted.",
        "",
        "Goals: 0 failed requests and 0 lost tasks in a rolling release, with a backend pod deleted, with the "
        "kubelet restarted; with the PostgreSQL pod deleted every row written before is there, the API says not "
        "ready while it is away and recovers without a restart; with the Redis pod deleted the tasks lost are "
        "counted (dev's in-cluster Redis keeps its data in an emptyDir: the queued messages of a deleted pod are "
        "gone with it; prod's managed Redis has its provider's persistence).",
        "",
        *notes,
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--rate", type=float, default=20.0, help="requests/s through the ingress (default 20)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "reliability.md")
    args = parser.parse_args(argv)
    problem = engine.toolchain_problem()
    if problem:
        log(problem)
        return 2
    started = datetime.now(UTC)
    load = os.getloadavg()
    env = engine.with_docker_engine(engine.engine_env(engine.default_pulumi_home()))
    with tempfile.TemporaryDirectory(prefix="bench-reliability-") as tmp:
        runs = [one_run(env, Path(tmp), number, args.rate) for number in range(1, args.runs + 1)]
    report = render(runs, args.rate, started, load)
    args.out.write_text(report)
    log(f"wrote {args.out}")
    print(report)
    return 0 if all(passed(r) for run in runs for r in run) else 1


if __name__ == "__main__":
    sys.exit(main())
