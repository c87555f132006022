"""The Celery app: queues, routes and delivery settings. Without a broker, tasks run in-process."""

from __future__ import annotations

from enum import StrEnum

from celery import Celery
from celery.signals import worker_process_init

from shared.config import Settings, get_settings
from shared.runtime import reset_runtime


class Queue(StrEnum):
    """Every queue, with the worker command that consumes it."""

    DECODE = "decode"  # mmindex worker decode: CPU, prefork, one process per core
    EMBED = "embed"  # mmindex worker embed: GPU, one process per GPU
    INDEX = "index"  # mmindex worker index: IO, threads
    QUERY = "query"  # mmindex worker query: its own pool so ingestion never starves search


app = Celery("mmindex", include=["workers.decode", "workers.embed", "workers.index", "workers.query"])


def configure(settings: Settings) -> None:
    """Point the app at the settings' broker, or make every task run in-process."""
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
        broker_connection_retry_on_startup=True,
        # A dead worker's unacknowledged tasks go to another after the visibility timeout; the broker is
        # checked for them every 10 s (kombu's default is every 100 s).
        broker_transport_options={
            "visibility_timeout": settings.tasks.visibility_timeout_s,
            "unacked_restore_throttle": 1,
        },
        result_backend_transport_options={"visibility_timeout": settings.tasks.visibility_timeout_s},
    )


@worker_process_init.connect  # type: ignore[untyped-decorator]
def _fresh_process(**_: object) -> None:
    """A forked pool process opens its own connections and loads its own models."""
    reset_runtime()


configure(get_settings())
