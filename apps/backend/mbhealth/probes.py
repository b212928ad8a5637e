"""`python -m mbhealth probe <name>`: exec probes for Kubernetes and Docker HEALTHCHECK.

Exit 0 when healthy, 1 otherwise, with one line on stderr saying why. Each probe
finishes within PROBE_TIMEOUT seconds (an alarm ends a probe stuck on the network),
so a probe timeoutSeconds of 5 is enough.
"""

from __future__ import annotations

import os
import signal
import sys
import urllib.error
import urllib.request
from collections.abc import Callable

PROBE_TIMEOUT = 4
PING_TIMEOUT = 2.0


def worker_alive() -> tuple[bool, str]:
    """The worker's heartbeat file is fresh: within WORKER_HEARTBEAT_MAX_AGE its consumer loop
    received its own ping through the broker (mbhealth.heartbeat). The probe itself reads only
    the file: no broker, no app config."""
    from mbhealth.config import get_worker_settings
    from mbhealth.heartbeat import age_seconds

    ws = get_worker_settings()
    age = age_seconds(ws.heartbeat_file)
    if age is None:
        return False, f"no heartbeat file at {ws.heartbeat_file} (no ping has come back through the broker yet)"
    if age > ws.heartbeat_max_age:
        return False, (f"heartbeat is {age:.0f}s old (limit {ws.heartbeat_max_age:.0f}s): the worker's event loop "
                       "has not received its own ping through the broker since")
    return True, f"heartbeat {age:.1f}s old"


def worker_ready() -> tuple[bool, str]:
    """`celery inspect ping` against this host's own worker node, celery@<hostname>."""
    from mbhealth.celery_app import configure_celery
    from mbhealth.config import get_settings
    from mbhealth.worker import node_name

    app = configure_celery(get_settings())
    name = node_name()
    try:
        replies = app.control.ping(destination=[name], timeout=PING_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
        return False, f"ping {name} failed: {type(exc).__name__}"
    if any(name in reply for reply in replies or ()):
        return True, f"{name} answered"
    return False, f"{name} did not answer within {PING_TIMEOUT:.0f}s"


def _http(path: str) -> Callable[[], tuple[bool, str]]:
    def probe() -> tuple[bool, str]:
        port = os.environ.get("PORT", "8000")
        url = f"http://127.0.0.1:{port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=PROBE_TIMEOUT - 1) as resp:  # noqa: S310 - fixed loopback URL
                return resp.status == 200, f"{path}: {resp.status}"
        except urllib.error.HTTPError as exc:
            return False, f"{path}: {exc.code}"
        except OSError as exc:
            return False, f"{path}: {type(exc).__name__}"

    probe.__doc__ = f"GET {path} on the local API answers 200."
    return probe


PROBES: dict[str, Callable[[], tuple[bool, str]]] = {
    "worker-alive": worker_alive,
    "worker-ready": worker_ready,
    "api-live": _http("/api/v1/health/live"),
    "api-ready": _http("/api/v1/health/ready"),
}


def _timeout(signum: int, frame: object) -> None:
    raise TimeoutError


def run_probe(name: str) -> int:
    signal.signal(signal.SIGALRM, _timeout)
    signal.alarm(PROBE_TIMEOUT)
    try:
        ok, detail = PROBES[name]()
    except TimeoutError:
        ok, detail = False, f"timed out after {PROBE_TIMEOUT}s"
    finally:
        signal.alarm(0)
    print(f"{name}: {'ok' if ok else 'FAIL'}: {detail}", file=sys.stderr if not ok else sys.stdout)
    return 0 if ok else 1
