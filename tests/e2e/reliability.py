"""Faults under load on the real node: the scenario tests/e2e/test_reliability.py runs bounded and
bench/reliability.py runs in full (-> bench/reliability.md).

The dev stack at two replicas of the backend, the worker and the frontend (the project copy's
Pulumi.dev.yaml), deployed by `make up` on the local cluster. For each fault, an open-loop load
(tests/support/load.py: reads of task results and task submissions, a fresh connection each)
runs through the ingress (Traefik on loopback, Host: the stack's host) from a few seconds before
the fault until a few seconds after the stack has recovered from it:

- `rolling release`: a backend code change and `make up` (build, push, migrate Job, the backend and
  worker Deployments roll: maxSurge 1, maxUnavailable 0 at two replicas, smoke Job);
- `backend pod deleted`: one backend pod deleted, until its replacement is Ready;
- `kubelet restarted`: the node's kubelet stopped and started again (`cluster.sh restart-kubelet`);
- `PostgreSQL pod deleted`: the StatefulSet's pod deleted, until it is back and the API ready;
- `Redis pod deleted`: the Redis pod deleted, until its replacement runs and the API is ready.

Afterwards every task whose submission was accepted (202) is looked up in PostgreSQL (the workers'
`task_results`). A request fails when it gets no answer, or an answer other than 202 (submissions)
or 200 (reads) -- except, while PostgreSQL or Redis is away, the 503s the README documents
("Readiness and dependency outages"), which are counted apart as `unavailable`.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Callable
from urllib.parse import urlsplit

from tests.e2e import engine
from tests.e2e.engine import DEV_NAMESPACE as NAMESPACE
from tests.e2e.engine import Deployed, pod_ready
from tests.support.load import REQUEST_TIMEOUT, Load, Sample, percentile

APPS = ("backend", "worker", "frontend")
REPLICAS = 2
STEADY_SECONDS = 3.0  # of load before the fault and after the recovery
SETTLE_SECONDS = 90.0  # for every accepted task to be recorded
DATA_FAULTS = ("PostgreSQL pod deleted", "Redis pod deleted")


@dataclass
class FaultResult:
    fault: str
    seconds: float  # of load
    recovery_seconds: float  # from the fault until the stack had recovered
    requests: int
    failed: int
    failures: dict[str, int]  # "kind status error" -> count
    unavailable: int  # documented 503s while a data service was away
    p99_ms: int
    tasks_accepted: int
    tasks_recorded: int
    tasks_lost: int
    restarts: int  # of the app's containers during the fault
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


class Scenario:
    def __init__(self, deployed: Deployed, *, rate: float, log: Callable[[str], None] = lambda msg: None) -> None:
        self.deployed = deployed
        self.rate = rate
        self.log = log
        self.host = urlsplit(deployed.stack.outputs()["url"]).hostname
        self._stack_file: str | None = None  # the project copy's stack file before at_two_replicas

    # ------------------------------------------------------------------ the stack

    def at_two_replicas(self) -> None:
        """Every app Deployment at REPLICAS (the project copy's stack file), deployed."""
        stack_file = self.deployed.project / "Pulumi.dev.yaml"
        self._stack_file = stack_file.read_text()
        for name in APPS:
            engine.set_stack_value(self.deployed.project, "dev", f"services.{name}.replicas", REPLICAS)
        self.deployed.up()
        for name in APPS:
            self.wait_ready(name, REPLICAS, 180)

    def at_stack_file_replicas(self) -> None:
        """The project copy's stack file as it was before at_two_replicas, deployed."""
        if self._stack_file is not None:
            (self.deployed.project / "Pulumi.dev.yaml").write_text(self._stack_file)
            self.deployed.up()

    def ready_pods(self, name: str) -> list[str]:
        return [p["metadata"]["name"] for p in self.deployed.pods(name) if pod_ready(p)]

    def wait_ready(self, name: str, count: int, timeout: float, besides: set[str] = frozenset()) -> None:
        deadline = time.monotonic() + timeout
        while len(set(self.ready_pods(name)) - besides) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{count} {name} pod(s) not Ready within {timeout:.0f} s")
            time.sleep(0.5)

    def restarts(self) -> int:
        return sum(c["restartCount"] for name in APPS for p in self.deployed.pods(name)
                   for c in p["status"].get("containerStatuses") or [])

    def api_ready(self) -> bool:
        url = self.deployed.stack.outputs()["url"]
        out = engine.run(["curl", "-s", "--max-time", "5", url + "/api/v1/health/ready"], env=self.deployed.env,
                         check=False).stdout
        try:
            return json.loads(out).get("status") == "ready"
        except ValueError:
            return False

    def wait_api_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.api_ready():
            if time.monotonic() > deadline:
                raise AssertionError(f"the API not ready within {timeout:.0f} s")
            time.sleep(1)

    def recorded(self, task_ids: list[str]) -> set[str]:
        """Those of `task_ids` with a row in the workers' table (psql in the PostgreSQL pod)."""
        if not task_ids:
            return set()
        values = ",".join(f"('{task_id}'::uuid)" for task_id in task_ids)
        sql = f"SELECT t.task_id::text FROM task_results t JOIN (VALUES {values}) AS v(id) ON t.task_id = v.id;\n"
        out = self.deployed.cluster.kubectl("exec", "-i", "-n", NAMESPACE, "postgres-0", "--", "psql", "-U", "mbhealth",
                                            "-d", "mbhealth", "-tA", "-v", "ON_ERROR_STOP=1", "-f", "-", input=sql).stdout
        return set(out.split())

    # ------------------------------------------------------------------ the faults

    def _rolling_release(self) -> list[str]:
        before = self.deployed.images()["backend"]
        self.deployed.change_backend_code(f"reliability {time.time_ns()}")
        self.deployed.up()
        after = self.deployed.images()["backend"]
        assert after != before, "the release did not change the backend's digest"
        return [f"backend {before.rsplit('@', 1)[-1][:19]} -> {after.rsplit('@', 1)[-1][:19]}"]

    def _backend_pod_deleted(self) -> list[str]:
        (victim, *_) = self.ready_pods("backend")
        self.deployed.cluster.kubectl("delete", "pod", victim, "-n", NAMESPACE, "--wait=false")
        self.wait_ready("backend", REPLICAS, 180, besides={victim})
        return [f"deleted {victim}"]

    def _kubelet_restarted(self) -> list[str]:
        said = self.deployed.cluster.restart_kubelet()
        for name in APPS:
            self.wait_ready(name, REPLICAS, 120)
        return [line.strip() for line in said.splitlines() if "restarted" in line][-1:]

    def _postgres_pod_deleted(self) -> list[str]:
        cluster = self.deployed.cluster
        cluster.kubectl("delete", "pod", "postgres-0", "-n", NAMESPACE, "--wait=true", timeout=180)
        cluster.kubectl("wait", "pod/postgres-0", "-n", NAMESPACE, "--for=condition=Ready", "--timeout=180s")
        self.wait_api_ready(120)
        return []

    def _redis_pod_deleted(self) -> list[str]:
        (victim,) = [p["metadata"]["name"] for p in self.deployed.pods("redis")]
        self.deployed.cluster.kubectl("delete", "pod", victim, "-n", NAMESPACE, "--wait=false")
        deadline = time.monotonic() + 120
        while not [p for p in self.deployed.pods("redis") if p["metadata"]["name"] != victim and pod_ready(p)]:
            assert time.monotonic() < deadline, "no new Redis pod Ready within 120 s"
            time.sleep(0.5)
        self.wait_api_ready(120)
        for name in APPS:
            self.wait_ready(name, REPLICAS, 180)
        return [f"deleted {victim}"]

    FAULTS: dict[str, Callable[["Scenario"], list[str]]] = {
        "rolling release": _rolling_release,
        "backend pod deleted": _backend_pod_deleted,
        "kubelet restarted": _kubelet_restarted,
        "PostgreSQL pod deleted": _postgres_pod_deleted,
        "Redis pod deleted": _redis_pod_deleted,
    }

    def run(self, fault: str) -> FaultResult:
        """`fault` under load, from STEADY_SECONDS before it until STEADY_SECONDS after the recovery."""
        restarts = self.restarts()
        recovered = threading.Event()
        load = Load(f"http://127.0.0.1:{self.deployed.cluster.ingress_port}", self.rate, 2 * STEADY_SECONDS,
                    until=recovered, host_header=self.host, seed=sum(map(ord, fault))).start()
        time.sleep(STEADY_SECONDS)
        self.log(f"{fault}: under {self.rate:g} requests/s")
        started = time.monotonic()
        try:
            notes = self.FAULTS[fault](self)
        finally:
            recovery = time.monotonic() - started
            time.sleep(STEADY_SECONDS)
            recovered.set()
            load.wait(timeout=REQUEST_TIMEOUT + 60)
        accepted = list(dict.fromkeys(load.submitted))
        deadline = time.monotonic() + SETTLE_SECONDS
        recorded = self.recorded(accepted)
        while len(recorded) < len(accepted) and time.monotonic() < deadline:
            time.sleep(3)
            recorded = self.recorded(accepted)
        samples = load.samples
        # While a data service is away its documented 503s are answers, not failures.
        documented = [fault in DATA_FAULTS and s.error is None and s.status == 503 for s in samples]
        unavailable = sum(documented)
        failed = [s for s, answered in zip(samples, documented) if not s.ok and not answered]
        result = FaultResult(
            fault=fault, seconds=round(load.sent_for, 1), recovery_seconds=round(recovery, 1), requests=len(samples),
            failed=len(failed), failures=dict(Counter(_failure(s) for s in failed)), unavailable=unavailable,
            p99_ms=round(percentile([s.latency for s in samples], 99) * 1000), tasks_accepted=len(accepted),
            tasks_recorded=len(recorded), tasks_lost=len(accepted) - len(recorded),
            restarts=self.restarts() - restarts, notes=notes)
        self.log(f"{fault}: {result.requests} requests, {result.failed} failed, {result.unavailable} answered 503, "
                 f"{result.tasks_lost}/{result.tasks_accepted} tasks lost, recovered in {result.recovery_seconds} s")
        return result


def _failure(sample: Sample) -> str:
    return f"{sample.kind} {sample.status} {(sample.error or '').split(':')[0]}".strip()
