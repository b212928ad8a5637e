#!/usr/bin/env python3
"""Benchmark: nothing lost under load while a release rolls -> bench/reliability.md.

    python -m bench.reliability [--rate 50] [--duration 60] [--out bench/reliability.md]

Runs tests/images/rollout.py's scenario (the one tests/images/test_reliability.py runs with a
shorter, lighter load) on the real images, built from components/build_specs.py on the offline
stand-in bases, with the prod stack's synthesized pod specs (tests/images/kubelet.py), real
PostgreSQL and Redis on loopback (tests/support/services.py):

- two backend replicas behind a Service stand-in behind the frontend's nginx, an open-loop load
  of `--rate` requests/s for `--duration` s through nginx (60% reads of task results, 40% task
  submissions), each replica replaced in turn (new pod Ready, then the old one's endpoint
  dropped, its preStop pause and SIGTERM);
- then a worker stopped the Deployment's way (preStop, SIGTERM) and another killed (SIGKILL),
  both with slow tasks in flight; then every accepted task is looked up in PostgreSQL.

It writes what it measured (requests sent and failed, p99 latency during the roll, tasks
submitted, recorded, run twice) and exits 1 if any request failed or any task was lost.
Needs the Docker engine and registry (tools/machine/docker-engine.sh). Run it alone on the engine.
"""

from __future__ import annotations

import argparse
import os
import platform
import secrets
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
for _path in (REPO_ROOT, REPO_ROOT / "scripts", REPO_ROOT / "tools" / "standins"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))

import build_images
import docker_client
import forge_bases

from components.build_specs import IMAGE_BUILDS

VERSION = "0.0.0-bench"
STACK = "prod"


def log(msg: str) -> None:
    print(f"bench-reliability: {msg}", file=sys.stderr, flush=True)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def render(result, args, built: dict[str, str], started: datetime, load_before: tuple, load_after: tuple) -> str:
    from tests.images.rollout import ENDPOINT_PROPAGATION_SECONDS, SLOW_TASK_SECONDS

    roll_start, roll_end = result.roll_window
    ok = result.failed == 0 and not result.tasks_missing and not result.tasks_duplicated
    failures = ", ".join(f"{kind} {status or error}: {n}" for (kind, status, error), n in result.failures.items())
    lines = [
        "# Reliability: a release rolling under load",
        "",
        f"Written by `make bench-reliability` (`bench/reliability.py`) on "
        f"{started:%Y-%m-%d %H:%M} UTC; {os.cpu_count()} cores ({platform.machine()}), load average "
        f"{load_before[0]:.1f} before and {load_after[0]:.1f} after (the machine is shared with other builds, "
        "so latencies are an upper bound). Verdict: **" + ("pass" if ok else "FAIL") + "**: "
        + ("no request failed, no task was lost." if ok else "see the failures below."),
        "",
        "## Results",
        "",
        "| | |",
        "|---|---|",
        f"| requests sent | {result.requests} ({args.rate:g}/s for {result.duration:.0f} s through nginx"
        + (f", at least {args.duration:g} s and until the roll was done" if result.duration > args.duration + 0.5 else "")
        + f"; {result.roll_requests} during the roll) |",
        f"| requests failed | **{result.failed}** ({result.roll_failed} during the roll)"
        + (f": {failures}" if failures else "") + " |",
        f"| latency during the roll | p99 **{ms(result.roll_p99)}** |",
        f"| latency, whole run | p50 {ms(result.p50)}, p99 {ms(result.p99)}, max {ms(result.max_latency)} |",
        f"| the roll | from {roll_start:.1f} s to {roll_end:.1f} s of the load; "
        + "; ".join(f"new replica ready in {s.new_ready_seconds:.1f} s, old one: preStop {s.old_prestop_seconds:.1f} s, "
                    f"exit {s.old_exit_code} {s.old_signal_to_exit_seconds:.1f} s after SIGTERM"
                    + (" (SIGKILLed)" if s.old_killed else "") for s in result.roll_steps) + " |",
        "| connections per backend replica | "
        + ", ".join(f":{port} {n}" for port, n in sorted(result.replica_connections.items())) + " |",
        f"| tasks submitted | {result.tasks_submitted} (API submissions accepted with 202, plus "
        f"{result.slow_tasks} slow tasks of {SLOW_TASK_SECONDS:g} s sent to the broker) |",
        f"| tasks recorded in PostgreSQL | **{result.tasks_recorded}**, each exactly once "
        f"({len(result.tasks_duplicated)} duplicated rows); lost: **{len(result.tasks_missing)}** "
        f"(all recorded {result.settle_seconds:.0f} s after the load) |",
        f"| tasks run twice | **{len(result.tasks_run_twice)}** (redelivered after the SIGKILL); written twice: "
        f"{len(result.tasks_written_twice)} (a rerun's write lands on the same row, `runs` counts it) |",
    ]
    for stop in result.worker_stops:
        lines.append(
            f"| worker stopped: {stop.how} | {stop.in_flight} task(s) running at the signal; "
            + (f"exit {stop.exit_code} {stop.seconds:.1f} s later, running tasks finished" if not stop.killed
               else "killed at once; its unacked messages went back to the queue after the visibility timeout")
            + " |")
    lines += [
        "",
        "## How",
        "",
        f"- Pods: the `{STACK}` stack's synthesized Deployments (`scripts/synth.py`), run by "
        "`tests/images/kubelet.py` with their probes, limits, security context, preStop pause and grace "
        "periods, on the images built from `components/build_specs.py` "
        f"(`{built['backend']}`, `{built['frontend']}`); PostgreSQL and Redis are real, on loopback.",
        "- Host networking: each pod gets a loopback port of its own (`PORT`, `NGINX_LISTEN`, and the "
        "`http` containerPort its probes use), as each pod has its own IP in a cluster. The frontend's "
        "`BACKEND_URL` keeps its deployed host name (`hostAliases` -> 127.0.0.1) with the Service's port.",
        "- The Service: `tests/images/rollout.py` `ServiceProxy`, a TCP proxy choosing a ready endpoint per "
        "connection, like kube-proxy; nginx opens one upstream connection per request. A pod is an endpoint "
        f"once Ready; its deletion drops it {ENDPOINT_PROPAGATION_SECONDS:g} s later (the endpoints "
        "controller and kube-proxy), while the kubelet runs the 5 s preStop pause; then SIGTERM.",
        "- The roll: as maxSurge 1 / maxUnavailable 0 does it, one replica at a time: the new pod is "
        "started and added once its readiness probe passes, then the old pod is deleted.",
        f"- The load: open loop, {args.rate:g} requests/s, each on a new connection, 60% "
        "`GET /api/v1/tasks/{id}` of a task submitted earlier, 40% `POST /api/v1/tasks`; a request fails "
        "on any error or an unexpected status (202 for a submission, 200 for a read).",
        "- The workers run with `ENVIRONMENT=test` only so the test-only task delay is honoured (slow "
        "tasks that are in flight when a worker stops) and `WORKER_VISIBILITY_TIMEOUT="
        f"{args.visibility_timeout:g}` (deployed default 180 s) so the killed worker's messages come back "
        "within the run. A task run twice is counted from the workers' `task started` log lines.",
        "",
        "The same scenario, lighter and shorter, is a test: "
        "`tests/images/test_reliability.py::test_a_rolling_release_under_load_fails_no_request_and_loses_no_task`.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=50.0, help="requests/s (default 50)")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load (default 60)")
    parser.add_argument("--visibility-timeout", type=float, default=20.0, help="the workers' WORKER_VISIBILITY_TIMEOUT")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "bench" / "reliability.md")
    args = parser.parse_args(argv)

    problem = docker_client.engine_problem() or docker_client.registry_problem()
    if problem:
        log(f"no Docker engine/registry: {problem} (sudo tools/machine/docker-engine.sh start)")
        return 2
    from scripts.synth import synthesize
    from tests.images import rollout
    from tests.images.harness import Release
    from tests.support.services import PostgresServer, RedisServer

    started = datetime.now(UTC)
    standins = forge_bases.forge()
    built = {}
    for name in ("backend", "frontend"):
        log(f"building {name}")
        built[name] = build_images.build(IMAGE_BUILDS[name], version=VERSION, standins=standins, push_image=True).ref
    pg = PostgresServer()
    redis = RedisServer(password=secrets.token_urlsafe(18))
    release = None
    try:
        pg.start()
        redis.start()
        database_url = pg.create_database()
        database = database_url.rsplit("/", 1)[1]
        release = Release(synthesize(STACK), built, database_url, redis.url())
        code, logs, _ = release.run_job("migrate")
        if code != 0:
            log(f"migrate Job failed:\n{logs}")
            return 1
        load_before = os.getloadavg()
        result = rollout.run_scenario(
            release, redis.url(), lambda sql: pg.execute(sql, database),
            rate=args.rate, duration=args.duration, visibility_timeout=args.visibility_timeout, log=log,
        )
        load_after = os.getloadavg()
    finally:
        if release is not None:
            release.close()
        redis.cleanup()
        pg.cleanup()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(result, args, built, started, load_before, load_after))
    log(f"wrote {args.out}: {rollout.summary(result)}")
    return 0 if result.failed == 0 and not result.tasks_missing and not result.tasks_duplicated else 1


if __name__ == "__main__":
    time.tzset()
    sys.exit(main())
