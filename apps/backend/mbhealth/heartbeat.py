"""A heartbeat file the worker touches so a liveness probe can check it without the broker.

A daemon thread in the worker's main process touches the file every
WORKER_HEARTBEAT_INTERVAL seconds from `worker_init` (before the broker connection,
so a broker outage never fails liveness) until `worker_shutdown` (after the warm
shutdown has drained the running tasks), when the file is removed.
`python -m mbhealth probe worker-alive` passes while the file is younger than
WORKER_HEARTBEAT_MAX_AGE seconds.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path

log = logging.getLogger(__name__)


class Heartbeat:
    def __init__(self, path: str | os.PathLike[str], interval: float) -> None:
        self.path = Path(path)
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self) -> None:
        try:
            self.path.touch()
            os.utime(self.path)
        except OSError as exc:
            log.error("cannot touch the heartbeat file", extra={"path": str(self.path), "error": str(exc)})

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()

    def start(self) -> None:
        if self._thread is not None:
            return
        self.beat()
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self._thread.start()
        log.info("heartbeat started", extra={"path": str(self.path), "interval": self.interval})

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.interval + 1)
            self._thread = None
        self.path.unlink(missing_ok=True)


def age_seconds(path: str | os.PathLike[str], now: float | None = None) -> float | None:
    """Seconds since the file was last touched, or None if it does not exist."""
    try:
        mtime = os.stat(path).st_mtime
    except FileNotFoundError:
        return None
    return max(0.0, (time.time() if now is None else now) - mtime)
