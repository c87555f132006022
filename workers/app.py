"""The Celery app: queues, routes and delivery settings. Without a broker, tasks run in-process.

Importing this module configures nothing and patches nothing. The app is set up when Celery first reads its
configuration (Celery's `on_configure` signal: the first task sent, a worker's or Flower's start, a `control`
call): then kombu's Redis transport learns to survive a lost connection (workers/broker.py), and, unless
`configure` pointed the app at other settings before, the app is configured from the environment's settings.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from celery import Celery
from celery.signals import worker_init, worker_process_init, worker_ready

from shared.config import Settings, get_settings
from shared.documents import Space
from shared.errors import MmindexError, one_line
from shared.runtime import get_runtime, reset_runtime
from workers import broker
from workers.queues import Queue

log = logging.getLogger(__name__)

app = Celery("mmindex", include=["workers.decode", "workers.embed", "workers.index", "workers.query", "workers.sweep"])

_configured = threading.Event()
"""Set once `configure` has pointed the app at some settings: the app's start-up leaves them as they are."""


@app.on_configure.connect  # type: ignore[untyped-decorator]
def _start_up(sender: Celery, **_: object) -> None:
    """Run by Celery when the app's configuration is first read, before any connection to the broker is made:
    make kombu's Redis channels survive a lost connection, and configure the app from the environment's settings
    unless `configure` was called already (a test re-pointing the app, say)."""
    broker.survive_lost_connections()
    if not _configured.is_set():
        configure(get_settings())


def configure(settings: Settings) -> None:
    """Point the app at the settings' broker, or make every task run in-process.

    Called by the app's start-up with the environment's settings; callable again, to re-point the app at other
    settings (tests that change the environment do)."""
    _configured.set()
    app.conf.update(
        broker_url=settings.broker_url or "memory://localhost/",
        result_backend=settings.broker_url,
        task_always_eager=not settings.distributed,
        task_eager_propagates=False,
        task_store_eager_result=False,
        task_routes={f"workers.{queue.value}.*": {"queue": queue.value} for queue in Queue},
        task_default_queue=Queue.DECODE.value,
        task_serializer="json",
        result_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        worker_hijack_root_logger=False,
        worker_send_task_events=True,
        task_send_sent_event=True,
        result_expires=3600,
        # A broker outage is waited out: workers reconnect with backoff for as long as it takes, at start and
        # after a connection is lost, and an idle connection is checked before it is trusted.
        broker_connection_retry=True,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        worker_consumer="workers.broker:Consumer",
        # A dead worker's unacknowledged tasks go to another after the visibility timeout; the broker is
        # checked for them every 10 s (kombu's default is every 100 s).
        broker_transport_options={
            "visibility_timeout": settings.tasks.visibility_timeout_s,
            "unacked_restore_throttle": 1,
            "retry_on_timeout": True,
            "health_check_interval": 15,
            "socket_keepalive": True,
            "socket_connect_timeout": 5,
        },
        result_backend_transport_options={"visibility_timeout": settings.tasks.visibility_timeout_s},
        redis_retry_on_timeout=True,
        redis_socket_keepalive=True,
        redis_backend_health_check_interval=15,
        result_backend_always_retry=True,
        result_backend_max_retries=10,
    )


WORKER_PUBLISH_RETRY = {"max_retries": 16, "interval_start": 0, "interval_step": 1, "interval_max": 4}
"""In a worker, a task sent during a broker outage (the next stage's, or a retry) waits about a minute for it;
a command (`ingest`, `search`) keeps kombu's default and says at once that the broker is unreachable."""


@worker_init.connect  # type: ignore[untyped-decorator]
def _patient_sends(**_: object) -> None:
    app.conf.update(task_publish_retry=True, task_publish_retry_policy=WORKER_PUBLISH_RETRY)


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _fresh_process(**_: object) -> None:
    """A forked pool process opens its own connections and loads its own models."""
    reset_runtime()


def preload(rerank: bool = False) -> None:
    """Load both spaces' encoders into this process (downloading them if need be), and the reranker when `rerank`
    (a query worker), logging what happened. A space's encoder is its serving generation's model; a setting that
    names another is said here, once."""
    runtime = get_runtime()
    for space in Space:
        started = time.monotonic()
        try:
            encoder = runtime.encoder(space, runtime.model_for(space, runtime.store.lineage(space).serving))
        except MmindexError as error:
            log.warning("preload: the %s model is not ready: %s", space.value, one_line(error))
            continue
        log.info("preload: %s model %s ready in %.1f s", space.value, encoder.model_id, time.monotonic() - started)
    if rerank:
        started = time.monotonic()
        reranker = get_runtime().reranker()  # one that cannot load says so itself, once
        if reranker is not None:
            log.info("preload: reranker %s ready in %.1f s", reranker.model_id, time.monotonic() - started)


@worker_ready.connect  # type: ignore[untyped-decorator]
def _preload_models(sender: Any = None, **_: object) -> None:
    """An embed or query worker whose tasks run in this process loads its models now, in the background, so the
    first upload or search after start does not wait for a download; a task arriving meanwhile waits for the
    same load. A model that cannot be loaded is reported here, at start, and again by the tasks that need it."""
    if not get_settings().models.preload or sender is None:
        return
    from celery.concurrency.prefork import TaskPool as Prefork

    queues = {queue.name for queue in sender.task_consumer.queues}
    forked = isinstance(sender.pool, Prefork)  # the children would each load their own
    if queues & {Queue.EMBED.value, Queue.QUERY.value} and not forked:
        rerank = Queue.QUERY.value in queues
        threading.Thread(target=preload, args=(rerank,), name="preload", daemon=True).start()
