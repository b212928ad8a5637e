"""An open-loop HTTP load for the reliability test and benchmark (tests/e2e/reliability.py):
reads of task results and task submissions at a fixed rate, each request on a fresh connection,
with every request's status, error and latency kept.
"""

from __future__ import annotations

import http.client
import json
import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

LOOPBACK = "127.0.0.1"
REQUEST_TIMEOUT = 15.0


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
                 seed: int = 12, until: threading.Event | None = None, host_header: str | None = None) -> None:
        parts = urlsplit(base)
        self.host, self.port = parts.hostname or LOOPBACK, parts.port or 80
        # Sent as Host (an ingress routes by it) while connecting to `base`'s address.
        self.host_header = host_header
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
        self._stopped = threading.Event()

    def _request(self, kind: str, at: float, n: int) -> None:
        if kind == "submit":
            method, path, body = "POST", "/api/v1/tasks", json.dumps({"n": n}).encode()
        else:
            with self._lock:
                known = self._random.choice(self.submitted) if self.submitted else str(uuid.uuid4())
            method, path, body = "GET", f"/api/v1/tasks/{known}", None
        headers = {"Content-Type": "application/json"} if body else {}
        if self.host_header:
            headers["Host"] = self.host_header
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
        while not self._stopped.is_set() and (
                i < int(self.rate * self.duration) or (self.until is not None and not self.until.is_set())):
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

    def stop(self, timeout: float = REQUEST_TIMEOUT + 60) -> None:
        """End the load now (what is in flight completes) and wait for it."""
        self._stopped.set()
        self.wait(timeout)

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
