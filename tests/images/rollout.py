"""A release rolling under load, run for real: the test (test_reliability.py) and the benchmark
(bench/reliability.py) both run `run_scenario`.

What runs, all on loopback with host networking (tests/images/kubelet.py, the synthesized pod specs):

- two backend replicas, each on a port of its own (a pod IP of its own, in a cluster);
- a **Service** in front of them: `ServiceProxy`, kube-proxy's part (a connection to the Service
  port goes to one ready endpoint, chosen per connection; an endpoint removed gets no new
  connections, established ones carry on) and the endpoints controller's (a pod is an endpoint
  once Ready, and stops being one when its deletion starts, after a propagation delay);
- the frontend's nginx, its `/api` proxy pointed at the Service (`BACKEND_URL`, the deployed
  DNS name with the Service's port);
- two workers.

Then, under a steady open-loop load through nginx (reads of task results and task submissions):

1. **the roll**, as a Deployment with maxSurge 1 / maxUnavailable 0 does it, replica by replica:
   start the new pod, wait until its readiness probe passes, add it to the endpoints; delete the
   old pod: the endpoints drop it (after ENDPOINT_PROPAGATION_SECONDS) while the kubelet runs its
   preStop pause, then SIGTERM, SIGKILL at the grace period;
2. **a worker stopped with tasks in flight**, the Deployment's way: a replacement worker first,
   slow tasks submitted so the old one is running some, then its preStop pause and SIGTERM
   (warm shutdown);
3. **a worker killed with tasks in flight** (SIGKILL: an OOM kill, a lost node): its unacked
   messages go back to the queue after the visibility timeout and run on the other worker.

Afterwards every task whose submission was accepted (202) must have exactly one row in
PostgreSQL. A task run twice (a redelivered message) is counted from the workers' "task started"
log lines; its second write lands on the same row (`runs` counts the writes).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import random
import statistics
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlsplit, urlunsplit

from tests.images import kubelet
from tests.images.harness import Release

LOOPBACK = "127.0.0.1"
# Seconds from a pod's deletion until kube-proxy stops sending it new connections (the
# endpoints controller and kube-proxy's sync, typically well under the 5 s preStop pause).
ENDPOINT_PROPAGATION_SECONDS = 1.0
REQUEST_TIMEOUT = 15.0
# The test-only task delay (honoured with ENVIRONMENT=test) that keeps a task in flight.
SLOW_TASK_SECONDS = 8.0


# --------------------------------------------------------------------------- the Service


class ServiceProxy:
    """A Service's port on 127.0.0.1: kube-proxy plus the endpoints controller, per connection."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or kubelet.free_port()
        self._endpoints: tuple[int, ...] = ()
        self._next = 0
        self._lock = threading.Lock()
        self.connections: Counter[int] = Counter()
        self.rejected = 0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="service-proxy", daemon=True)

    # endpoints ---------------------------------------------------------------------------

    @property
    def endpoints(self) -> tuple[int, ...]:
        return self._endpoints

    def add(self, port: int) -> None:
        with self._lock:
            if port not in self._endpoints:
                self._endpoints = (*self._endpoints, port)

    def remove(self, port: int, after: float = 0.0) -> None:
        def drop() -> None:
            with self._lock:
                self._endpoints = tuple(p for p in self._endpoints if p != port)

        if after > 0:
            timer = threading.Timer(after, drop)
            timer.daemon = True
            timer.start()
        else:
            drop()

    def _pick(self) -> int | None:
        with self._lock:
            if not self._endpoints:
                return None
            port = self._endpoints[self._next % len(self._endpoints)]
            self._next += 1
            self.connections[port] += 1
            return port

    # proxying ----------------------------------------------------------------------------

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            try:
                writer.close()
            except (ConnectionError, OSError):
                pass

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        port = self._pick()
        if port is None:  # no ready endpoint: kube-proxy rejects the connection
            self.rejected += 1
            client_writer.close()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(LOOPBACK, port)
        except OSError:
            self.rejected += 1
            client_writer.close()
            return
        await asyncio.gather(self._pipe(client_reader, upstream_writer), self._pipe(upstream_reader, client_writer))

    def start(self) -> ServiceProxy:
        self._thread.start()
        future = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._handle, LOOPBACK, self.port, backlog=512), self._loop)
        self._server = future.result(10)
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


# --------------------------------------------------------------------------- the load


@dataclass
class Sample:
    kind: str  # "read" or "submit"
    at: float  # seconds since the load started (scheduled time)
    latency: float
    status: int | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.status == (202 if self.kind == "submit" else 200)


class Load:
    """An open-loop load: `rate` requests/s through `base` for `duration` s, on fresh connections.

    A share `reads` of the requests read a task (`GET /api/v1/tasks/{id}` of a task submitted
    earlier), the rest submit one (`POST /api/v1/tasks`). Each request is sent at its scheduled
    time whatever the previous ones are doing (a pool of threads), so a slow or stuck backend
    shows as latency and errors, never as a lower rate.
    """

    def __init__(self, base: str, rate: float, duration: float, reads: float = 0.6, threads: int = 64,
                 seed: int = 12, until: threading.Event | None = None) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or LOOPBACK, parts.port or 80
        self.rate, self.duration, self.reads = rate, duration, reads
        # Keep going past `duration` until this is set (the roll must happen under load).
        self.until = until
        self.sent_for = 0.0
        self.samples: list[Sample] = []
        self.submitted: list[str] = []
        self._random = random.Random(seed)
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="load")
        self._thread = threading.Thread(target=self._run, name="load", daemon=True)
        self._lock = threading.Lock()
        self.started_at = 0.0
        self.done = threading.Event()

    def _request(self, kind: str, at: float, n: int) -> None:
        if kind == "submit":
            method, path, body = "POST", "/api/v1/tasks", json.dumps({"n": n}).encode()
        else:
            with self._lock:
                known = self._random.choice(self.submitted) if self.submitted else str(uuid.uuid4())
            method, path, body = "GET", f"/api/v1/tasks/{known}", None
        headers = {"Content-Type": "application/json"} if body else {}
        started = time.monotonic()
        status, error, task_id = None, None, None
        conn = http.client.HTTPConnection(self.host, self.port, timeout=REQUEST_TIMEOUT)
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            raw = resp.read()
            status = resp.status
            if kind == "submit" and status == 202:
                task_id = json.loads(raw)["task_id"]
        except Exception as exc:  # noqa: BLE001 - every failure is a failed request
            error = f"{type(exc).__name__}: {exc}"
        finally:
            conn.close()
        sample = Sample(kind, at, time.monotonic() - started, status, error)
        with self._lock:
            self.samples.append(sample)
            if task_id:
                self.submitted.append(task_id)

    def _run(self) -> None:
        self.started_at = start = time.monotonic()
        futures = []
        i = 0
        while i < int(self.rate * self.duration) or (self.until is not None and not self.until.is_set()):
            at = i / self.rate
            i += 1
            time.sleep(max(0.0, start + at - time.monotonic()))
            kind = "read" if self._random.random() < self.reads else "submit"
            futures.append(self._pool.submit(self._request, kind, at, self._random.randint(1, 1000)))
        self.sent_for = i / self.rate
        for f in futures:
            f.result()
        self.done.set()

    def start(self) -> Load:
        self._thread.start()
        return self

    def elapsed(self) -> float:
        return time.monotonic() - self.started_at if self.started_at else 0.0

    def wait(self, timeout: float | None = None) -> None:
        if not self.done.wait(timeout):
            raise TimeoutError("the load did not finish")
        self._pool.shutdown(wait=True)

    def window(self, start: float, end: float) -> list[Sample]:
        with self._lock:
            return [s for s in self.samples if start <= s.at <= end]


def percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


# --------------------------------------------------------------------------- the scenario


@dataclass
class RollStep:
    old_port: int
    new_port: int
    new_ready_seconds: float
    old_exit_code: int
    old_killed: bool
    old_prestop_seconds: float
    old_signal_to_exit_seconds: float


@dataclass
class WorkerStop:
    how: str  # "SIGTERM after preStop" or "SIGKILL"
    in_flight: int  # the stopped worker's tasks started and not finished when it got the signal
    exit_code: int
    killed: bool
    seconds: float  # signal to exit


@dataclass
class ScenarioResult:
    rate: float
    duration: float  # seconds the load ran (at least the asked duration, longer if the roll was)
    requests: int
    failed: int
    failures: Counter
    p50: float
    p99: float
    max_latency: float
    roll_window: tuple[float, float]
    roll_requests: int
    roll_failed: int
    roll_p99: float
    roll_steps: list[RollStep]
    replica_connections: dict[int, int]
    worker_stops: list[WorkerStop]
    tasks_submitted: int
    tasks_recorded: int
    tasks_missing: list[str]
    tasks_duplicated: list[str]  # more than one row: must never happen (unique task_id)
    tasks_run_twice: list[str]  # started more than once (redelivered)
    tasks_written_twice: list[str]  # runs >= 2 in PostgreSQL
    slow_tasks: int
    settle_seconds: float
    notes: list[str] = field(default_factory=list)


def _with_port(url: str, port: int) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(netloc=f"{parts.hostname}:{port}"))


def _started_tasks(logs: str) -> Counter:
    started: Counter = Counter()
    for line in logs.splitlines():
        if line.startswith("{") and '"task started"' in line:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if record.get("message") == "task started":
                started[record["task_id"]] += 1
    return started


def run_scenario(
    release: Release,
    broker_url: str,
    query: Callable[[str], list[tuple]],
    *,
    rate: float,
    duration: float,
    roll_at: float = 3.0,
    slow_tasks: int = 8,
    visibility_timeout: float = 20.0,
    log: Callable[[str], None] = lambda msg: None,
) -> ScenarioResult:
    """Run the whole scenario (see the module docstring); `query(sql)` reads the release's database."""
    from celery import Celery

    service = ServiceProxy().start()
    web_port = kubelet.free_port()
    backend_url = _with_port(release.env_value("Deployment", "frontend", "BACKEND_URL"), service.port)
    # Workers: ENVIRONMENT=test only so the test-only task delay is honoured (tasks in flight);
    # a short visibility timeout so the killed worker's messages come back within the run.
    worker_env = {"ENVIRONMENT": "test", "WORKER_VISIBILITY_TIMEOUT": str(visibility_timeout)}
    containers: list[kubelet.Container] = []

    def backend() -> tuple[kubelet.Container, int]:
        port = kubelet.free_port()
        c = release.container("Deployment", "backend", port=port, env={"PORT": str(port)}, name_prefix="mbh-roll")
        containers.append(c)
        return c, port

    def worker() -> kubelet.Container:
        c = release.container("Deployment", "worker", env=worker_env, name_prefix="mbh-roll")
        containers.append(c)
        return c

    try:
        replicas = [backend() for _ in range(2)]
        workers = [worker() for _ in range(2)]
        for c, port in replicas:
            c.wait_ready(poll=0.25)
            service.add(port)
        for w in workers:
            w.wait_ready(poll=0.5)
        web = release.container("Deployment", "frontend", port=web_port,
                                env={"NGINX_LISTEN": str(web_port), "BACKEND_URL": backend_url}, name_prefix="mbh-roll")
        containers.append(web)
        web.wait_ready(poll=0.25)
        log(f"release up: backend replicas on {[p for _, p in replicas]}, Service on {service.port}, "
            f"nginx on {web_port}, 2 workers")

        roll_done = threading.Event()
        load = Load(f"http://{LOOPBACK}:{web_port}", rate, duration, until=roll_done).start()
        time.sleep(max(0.0, roll_at - load.elapsed()))

        # 1. The roll: new pod Ready -> endpoint; old pod deleted -> endpoint dropped, preStop, SIGTERM.
        roll_start = load.elapsed()
        steps: list[RollStep] = []
        for old, old_port in list(replicas):
            new, new_port = backend()
            ready = new.wait_ready(poll=0.25)
            service.add(new_port)
            service.remove(old_port, after=ENDPOINT_PROPAGATION_SECONDS)
            term = old.terminate()
            steps.append(RollStep(old_port, new_port, ready, term.exit_code, term.killed, term.prestop_seconds,
                                  term.signal_to_exit_seconds))
            log(f"replaced backend :{old_port} by :{new_port} (ready in {ready:.1f}s; old exited {term.exit_code} "
                f"{term.signal_to_exit_seconds:.1f}s after SIGTERM)")
        roll_end = load.elapsed()
        roll_done.set()

        # 2. and 3. Workers stopped with tasks in flight.
        client = Celery("reliability", broker=broker_url, backend=broker_url)
        stops: list[WorkerStop] = []
        slow_ids: list[str] = []
        try:
            replacement = worker()  # maxSurge 1: the new worker first
            replacement.wait_ready(poll=0.5)
            old_worker, other = workers

            # A batch larger than the free pool processes (3 workers x 2 here): every worker,
            # the one about to stop included, is running slow tasks when it gets the signal.
            def slow_batch() -> list[str]:
                ids = [client.send_task("mbhealth.analyze_number", args=[500 + i],
                                        kwargs={"test_delay_seconds": SLOW_TASK_SECONDS}).id
                       for i in range(slow_tasks)]
                slow_ids.extend(ids)
                return ids

            def in_flight(c: kubelet.Container, ids: list[str]) -> int:
                started = _started_tasks(c.logs())
                finished = {json.loads(line).get("task_id") for line in c.logs().splitlines()
                            if line.startswith("{") and '"task finished"' in line}
                return sum(1 for i in ids if started.get(i) and i not in finished)

            # Graceful: the preStop pause, then SIGTERM; what it runs at that moment must finish.
            slow_batch()
            at_signal: list[int] = []
            term = old_worker.terminate(before_signal=lambda: at_signal.append(in_flight(old_worker, slow_ids)))
            running = at_signal[0]
            stops.append(WorkerStop("SIGTERM after the preStop pause", running, term.exit_code, term.killed,
                                    term.signal_to_exit_seconds))
            log(f"worker stopped (SIGTERM) with {running} task(s) running: exit {term.exit_code} after "
                f"{term.signal_to_exit_seconds:.1f}s")

            # Hard: SIGKILL while running tasks (nothing acked, nothing restored at exit).
            slow_batch()
            deadline = time.monotonic() + 30
            while in_flight(other, slow_ids) == 0 and time.monotonic() < deadline:
                time.sleep(0.2)
            running = in_flight(other, slow_ids)
            killed_at = time.monotonic()
            kubelet.docker("kill", "--signal", "SIGKILL", other.id, check=False)
            stops.append(WorkerStop("SIGKILL", running, int(other.state().get("ExitCode", -1)), True,
                                    time.monotonic() - killed_at))
            log(f"worker killed (SIGKILL) with {running} task(s) running")
        finally:
            client.close()

        load.wait(timeout=duration + REQUEST_TIMEOUT + 60)
        log(f"load done: {len(load.samples)} requests")

        # Settle: every accepted task recorded (the killed worker's after the visibility timeout).
        submitted = list(dict.fromkeys(load.submitted + slow_ids))
        settle_start = time.monotonic()
        settle_deadline = settle_start + visibility_timeout + 90

        def recorded_rows() -> list[tuple]:
            ids = ",".join(f"'{i}'" for i in submitted)
            return query(f"SELECT task_id::text, runs FROM task_results WHERE task_id IN ({ids})") if ids else []

        rows = recorded_rows()
        while len({r[0] for r in rows}) < len(submitted) and time.monotonic() < settle_deadline:
            time.sleep(2)
            rows = recorded_rows()
        settle_seconds = time.monotonic() - settle_start
        log(f"recorded {len({r[0] for r in rows})}/{len(submitted)} tasks after {settle_seconds:.0f}s of settling")

        starts: Counter = Counter()
        for c in containers:
            if c.id and "worker" in c.name:
                starts.update(_started_tasks(c.logs()))
        per_task = Counter(r[0] for r in rows)
        samples = load.samples
        roll_samples = load.window(roll_start, roll_end)
        failures = Counter((s.kind, s.status, (s.error or "").split(":")[0]) for s in samples if not s.ok)
        latencies = [s.latency for s in samples]
        return ScenarioResult(
            rate=rate, duration=load.sent_for, requests=len(samples), failed=sum(1 for s in samples if not s.ok),
            failures=failures, p50=statistics.median(latencies) if latencies else 0.0,
            p99=percentile(latencies, 99), max_latency=max(latencies, default=0.0),
            roll_window=(roll_start, roll_end), roll_requests=len(roll_samples),
            roll_failed=sum(1 for s in roll_samples if not s.ok),
            roll_p99=percentile([s.latency for s in roll_samples], 99), roll_steps=steps,
            replica_connections=dict(service.connections), worker_stops=stops,
            tasks_submitted=len(submitted), tasks_recorded=len(per_task),
            tasks_missing=[i for i in submitted if i not in per_task],
            tasks_duplicated=[i for i, n in per_task.items() if n > 1],
            tasks_run_twice=sorted(i for i in submitted if starts.get(i, 0) > 1),
            tasks_written_twice=sorted(r[0] for r in rows if r[1] > 1),
            slow_tasks=len(slow_ids), settle_seconds=settle_seconds,
        )
    finally:
        service.stop()
        for c in containers:
            c.remove()


def summary(result: ScenarioResult) -> dict[str, Any]:
    """The figures a report quotes."""
    return {
        "requests": result.requests, "failed": result.failed, "p99_ms": round(result.p99 * 1000),
        "roll_requests": result.roll_requests, "roll_failed": result.roll_failed,
        "roll_p99_ms": round(result.roll_p99 * 1000), "tasks_submitted": result.tasks_submitted,
        "tasks_recorded": result.tasks_recorded, "tasks_missing": len(result.tasks_missing),
        "tasks_run_twice": len(result.tasks_run_twice), "tasks_written_twice": len(result.tasks_written_twice),
    }
