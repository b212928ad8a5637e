"""The Celery application shared by the API (producer) and the worker (consumer).

The app object exists at import time so tasks can register on it; its broker and
result backend come from the settings when :func:`configure_celery` runs (the API at
start-up, the worker and the probes before they connect).
"""

from __future__ import annotations

from celery import Celery
from celery.backends.redis import RedisBackend
from celery.signals import setup_logging, worker_process_init

from mbhealth.config import Settings

# Bounds (seconds) that keep every worker shutdown inside the 60 s drain window.
TASK_SOFT_TIME_LIMIT = 40  # SoftTimeLimitExceeded raised inside the task
TASK_TIME_LIMIT = 50  # the pool kills the child process
SOFT_SHUTDOWN_TIMEOUT = 45  # cold shutdown (SIGQUIT) first waits this long for tasks
BROKER_CONNECT_TIMEOUT = 2

celery_app = Celery("mbhealth", include=["mbhealth.tasks"])
celery_app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_accept_content=["json"],
    timezone="UTC",
    enable_utc=True,
    # STARTED state is visible to GET /api/v1/tasks/{id}.
    task_track_started=True,
    # Ack after the task ran: a worker killed mid-task leaves the message to be redelivered.
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    task_soft_time_limit=TASK_SOFT_TIME_LIMIT,
    task_time_limit=TASK_TIME_LIMIT,
    worker_soft_shutdown_timeout=SOFT_SHUTDOWN_TIMEOUT,
    result_expires=24 * 3600,
    result_extended=False,
    # Logging belongs to mbhealth.logs (JSON); Celery must not replace it.
    worker_hijack_root_logger=False,
    worker_redirect_stdouts=False,
    broker_connection_retry_on_startup=True,
    # The worker waits out a broker outage (its liveness is broker-independent).
    broker_connection_max_retries=None,
    broker_connection_timeout=BROKER_CONNECT_TIMEOUT,
    broker_transport_options={"socket_connect_timeout": BROKER_CONNECT_TIMEOUT},
    redis_socket_connect_timeout=BROKER_CONNECT_TIMEOUT,
    redis_socket_timeout=5,
    result_backend_transport_options={"retry_policy": {"timeout": 5.0}},
    # Publishing from the API fails fast (-> 503) when Redis is down.
    task_publish_retry_policy={"max_retries": 2, "interval_start": 0, "interval_step": 0.5, "interval_max": 1},
    worker_send_task_events=False,
    # On a broker connection loss, cancel running late-ack tasks: their messages go back
    # to the queue and the (idempotent) task runs again. Celery 6's default.
    worker_cancel_long_running_tasks_on_connection_loss=True,
)


class PollingRedisBackend(RedisBackend):
    """Celery's Redis result backend without the per-task pub/sub subscription.

    The stock backend subscribes to every task it sends, for a later `.get()`. The API
    only polls state, and that subscription's reconnect logic turns a short Redis
    outage into a permanently broken producer ("Celery must be restarted"). `.get()`
    still works: it subscribes when it is called.
    """

    def on_task_call(self, producer, task_id):  # noqa: ANN001 - Celery's signature
        pass


def configure_celery(settings: Settings) -> Celery:
    redis_url = settings.redis_url.get_secret_value()
    backend = f"{PollingRedisBackend.__module__}.{PollingRedisBackend.__qualname__}"
    celery_app.conf.update(broker_url=redis_url, result_backend=f"{backend}+{redis_url}")
    return celery_app


@setup_logging.connect
def _keep_our_logging(**_: object) -> None:
    """Connected so Celery skips its own logging set-up (mbhealth.logs already ran)."""


@worker_process_init.connect
def _after_fork(**_: object) -> None:
    from mbhealth.db import dispose_engine

    dispose_engine(close=False)
