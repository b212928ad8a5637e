"""`python -m mbhealth worker`: the Celery worker, node name celery@<hostname>.

SIGTERM starts Celery's warm shutdown: no new tasks are taken, running ones finish
(bounded by the task time limits), then the process exits 0. The heartbeat
(mbhealth.heartbeat: a ping through the broker into this worker's own consumer loop)
runs from worker_init to worker_shutdown, which removes its file.
"""

from __future__ import annotations

import logging
import socket
import time

from celery.signals import worker_init, worker_ready, worker_shutdown, worker_shutting_down

from mbhealth import heartbeat as heartbeats
from mbhealth.celery_app import celery_app, configure_celery
from mbhealth.config import Settings, WorkerSettings

log = logging.getLogger(__name__)


def node_name(hostname: str | None = None) -> str:
    """The worker's node name; probes address it as celery@<socket.gethostname()>."""
    return f"celery@{hostname or socket.gethostname()}"


# A test-only remote control command (ENVIRONMENT=test): blocks the consumer's event loop,
# as a hung call in it would, to prove the heartbeat stops.
TEST_BLOCK_COMMAND = "mbhealth_test_block_event_loop"
MAX_TEST_BLOCK_SECONDS = 600.0


def _block_event_loop(state, seconds: float = 60.0, **_: object) -> dict[str, str]:  # noqa: ANN001
    log.warning("test: blocking the event loop", extra={"seconds": seconds})
    time.sleep(min(float(seconds), MAX_TEST_BLOCK_SECONDS))
    return {"ok": "unblocked"}


# Seconds between this worker's sweeps for messages a dead worker left unacked (kombu's
# default sweeps every 10 s x 10 calls; one ZRANGE on Redis per sweep).
UNACKED_RESTORE_INTERVAL = 10


def run_worker(settings: Settings, worker_settings: WorkerSettings) -> int:
    configure_celery(settings)
    celery_app.conf.broker_transport_options = {
        **(celery_app.conf.broker_transport_options or {}),
        "visibility_timeout": worker_settings.visibility_timeout,
        "unacked_restore_interval": UNACKED_RESTORE_INTERVAL,
        "unacked_restore_throttle": 1,
    }
    heartbeat = heartbeats.BrokerHeartbeat(
        celery_app, node_name(), worker_settings.heartbeat_file, worker_settings.heartbeat_interval
    )
    heartbeats.install(heartbeat)
    if settings.environment == "test":
        from celery.worker.control import Panel, control_command

        if TEST_BLOCK_COMMAND not in Panel.data:
            control_command(name=TEST_BLOCK_COMMAND)(_block_event_loop)

    def start_heartbeat(**_: object) -> None:
        heartbeat.start()

    def consumer_ready(**_: object) -> None:
        heartbeat.kick()

    def stop_heartbeat(**_: object) -> None:
        heartbeat.stop()

    def shutting_down(sig: str = "", how: str = "", **_: object) -> None:
        log.info("worker shutdown requested", extra={"signal": sig, "how": how})

    worker_init.connect(start_heartbeat, weak=False)
    worker_ready.connect(consumer_ready, weak=False)
    worker_shutdown.connect(stop_heartbeat, weak=False)
    worker_shutting_down.connect(shutting_down, weak=False)

    worker = _QuietWorker(
        app=celery_app,
        hostname=node_name(),
        loglevel=settings.log_level,
        concurrency=worker_settings.concurrency,
        pool_cls="prefork",
        without_gossip=True,
        without_mingle=True,
        quiet=True,
    )
    try:
        worker.start()
    finally:
        heartbeat.stop()
    return int(worker.exitcode or 0)


class _QuietWorker(celery_app.Worker):  # type: ignore[misc, name-defined]
    """Celery's worker, with the SIGTERM (warm shutdown) handler re-installed without
    its plain-text stdout message, so stdout stays JSON (we log the request instead)."""

    def install_platform_tweaks(self, worker):  # noqa: ANN001 - Celery's signature
        super().install_platform_tweaks(worker)
        from celery.apps.worker import install_worker_term_handler

        install_worker_term_handler(worker, verbose=False)
