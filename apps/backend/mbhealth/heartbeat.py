"""The worker's heartbeat: a file touched only when the worker proves progress.

Progress means a round trip through the broker into the worker's own consumer loop:

1. a daemon thread of the worker's main process publishes a small remote-control message
   (``mbhealth_heartbeat``) addressed to this worker's node name, every
   WORKER_HEARTBEAT_INTERVAL seconds, with a nonce only this process knows;
2. the worker's consumer receives it from the broker like any control message, in its
   event loop (the same loop that takes tasks off the queue and hands them to the pool);
3. its handler touches the heartbeat file.

So the file stays fresh only while the event loop turns *and* its broker connection delivers.
A blocked event loop, a consumer wedged in a reconnection, a half-open broker connection that
never delivers again: no beat. `python -m mbhealth probe worker-alive` fails once the file is
older than WORKER_HEARTBEAT_MAX_AGE (default 60 s), and the kubelet restarts the worker.

What does not stop the beat: a running task, however slow (tasks run in the pool's child
processes, the main loop keeps turning), and a broker blip shorter than the max age.

The probe reads only the file's age: it needs neither the broker nor the app config. The
file is removed at worker shutdown. A thread that merely touched the file on a timer (the
previous design) proved only that the process existed.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the probe imports this module: it must stay light (no Celery import)
    from celery import Celery

log = logging.getLogger(__name__)

BEAT_COMMAND = "mbhealth_heartbeat"
# Seconds one publish may take (connect, send, the broker's reply) before it is abandoned.
PUBLISH_TIMEOUT = 5.0


class HeartbeatFile:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)

    def beat(self, detail: dict[str, object] | None = None) -> None:
        """Rewrite the file (its mtime is what the probe reads)."""
        try:
            tmp = self.path.with_name(self.path.name + ".tmp")
            tmp.write_text(json.dumps({"at": time.time(), **(detail or {})}))
            os.replace(tmp, self.path)
        except OSError as exc:
            log.error("cannot write the heartbeat file", extra={"path": str(self.path), "error": str(exc)})

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


class BrokerHeartbeat:
    """Publishes this worker's heartbeat pings; the consumer's handler writes the file."""

    def __init__(self, app: "Celery", node: str, path: str | os.PathLike[str], interval: float) -> None:
        self.app = app
        self.node = node
        self.file = HeartbeatFile(path)
        self.interval = interval
        self.nonce = secrets.token_hex(16)
        self.sent = 0
        self.received = 0
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_error: str | None = None

    # -- the consumer side (event loop) ---------------------------------------------------

    def received_ping(self, nonce: object) -> bool:
        if nonce != self.nonce:  # another process's ping (e.g. a second worker with this node name)
            return False
        self.received += 1
        self.file.beat({"node": self.node, "received": self.received})
        return True

    # -- the publishing side (a daemon thread) -------------------------------------------

    def publish(self) -> None:
        """One ping to this node, through the broker; raises on any broker error."""
        from kombu import Producer

        options = dict(self.app.conf.broker_transport_options or {}, socket_timeout=PUBLISH_TIMEOUT)
        with self.app.connection_for_write(transport_options=options) as conn:
            conn.connect()
            mailbox = self.app.control.mailbox(conn)
            with conn.channel() as channel:
                Producer(channel).publish(
                    {"method": BEAT_COMMAND, "arguments": {"nonce": self.nonce}, "destination": [self.node],
                     "pattern": None, "matcher": None},
                    exchange=mailbox.exchange.name,
                    declare=[mailbox.exchange],
                    serializer="json",
                    headers={"clock": mailbox.clock.forward(), "expires": time.time() + self.interval * 3},
                    retry=False,
                )
        self.sent += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.publish()
                if self._last_error is not None:
                    log.info("heartbeat pings reach the broker again", extra={"node": self.node})
                    self._last_error = None
            except Exception as exc:  # noqa: BLE001 - a broker outage: keep trying, no beat meanwhile
                error = type(exc).__name__
                if error != self._last_error:
                    log.warning("heartbeat ping not sent", extra={"node": self.node, "error": error})
                self._last_error = error
            self._wake.wait(self.interval)
            self._wake.clear()

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._run, name="heartbeat-ping", daemon=True)
        self._thread.start()
        log.info("heartbeat started", extra={"path": str(self.file.path), "interval": self.interval,
                                             "node": self.node})

    def kick(self) -> None:
        """Ping now (the consumer has just connected) instead of at the next interval."""
        self._wake.set()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=PUBLISH_TIMEOUT + 1)
            self._thread = None
        self.file.remove()


# The heartbeat of this worker process, if it runs one (set by mbhealth.worker).
_current: BrokerHeartbeat | None = None


def install(heartbeat: BrokerHeartbeat | None) -> None:
    """Make `heartbeat` the one the control command beats for, and register the command."""
    global _current
    from celery.worker.control import Panel, control_command

    _current = heartbeat
    if BEAT_COMMAND not in Panel.data:
        control_command(name=BEAT_COMMAND)(_heartbeat_command)


def _heartbeat_command(state, nonce: object = None, **_: object) -> dict[str, str]:  # noqa: ANN001 - Celery's signature
    """Runs in the consumer's event loop when this worker's own ping arrives from the broker."""
    if _current is not None and _current.received_ping(nonce):
        return {"ok": "beat"}
    return {"ok": "ignored"}


def age_seconds(path: str | os.PathLike[str], now: float | None = None) -> float | None:
    """Seconds since the file was last written, or None if it does not exist."""
    try:
        mtime = os.stat(path).st_mtime
    except FileNotFoundError:
        return None
    return max(0.0, (time.time() if now is None else now) - mtime)
