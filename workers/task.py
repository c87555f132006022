"""The one task decorator: delivery, limits, retries, failure bookkeeping and timing for every task.

Every pipeline task takes one payload dict whose `sources` lists the [id, version]
pairs it works for; when a task gives up, those sources are marked failed with the
reason, so nothing is lost silently.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from celery import Task
from celery.exceptions import Retry, SoftTimeLimitExceeded
from kombu.exceptions import OperationalError as BrokerUnreachable

from shared import artifacts
from shared.config import get_settings
from shared.errors import RETRYABLE, one_line
from shared.ledger import SourceRecord, State
from shared.runtime import Runtime, get_runtime
from workers import metrics
from workers.app import app
from workers.queues import Queue

log = logging.getLogger("mmindex.tasks")

Payload = dict[str, Any]


def payload_sources(payload: Payload) -> list[tuple[str, str]]:
    return [(str(id), str(version)) for id, version in payload.get("sources", [])]


def forget(
    runtime: Runtime, record: SourceRecord, *, keep_version: str | None = None, only_version: str | None = None
) -> None:
    """Delete a source's documents and artifacts: all, all but `keep_version`'s, or only `only_version`'s."""
    runtime.store.delete_source(record.uri, keep_version=keep_version, only_version=only_version)
    artifacts.remove(runtime.storage(record.uri), record, keep_version=keep_version, only_version=only_version)


def fail_sources(sources: list[tuple[str, str]], reason: str, *, gone: bool = False, dead: bool = False) -> None:
    """Mark source versions failed (`dead`: retries ran out) with `reason`; drop what the index holds of them.

    Documents of other versions stay (a bad new upload does not erase the last good one), unless the
    source is `gone` from storage. A version that is already done keeps its documents: a late, failing
    redelivery must not undo finished work.
    """
    runtime = get_runtime()
    versions = dict(sources)
    for id, version in versions.items():
        runtime.ledger.fail(id, version, reason, dead=dead)
    for record in runtime.ledger.get(list(versions)):
        version = versions[record.id]
        if record.version == version and record.state is State.DONE:
            continue
        log.warning("source %s failed: %s", record.uri, reason)
        try:
            if gone and record.version == version:
                forget(runtime, record)
            else:
                forget(runtime, record, only_version=version)
        except RETRYABLE as error:  # the failure is recorded; what it left behind goes with the next version
            log.warning("could not clean up after %s: %s", record.uri, one_line(error))


class PipelineTask(Task):  # type: ignore[misc]
    """Base of every task: late acks, redelivery on worker loss, bounded retries of retryable errors."""

    acks_late = True
    reject_on_worker_lost = True
    autoretry_for = (*RETRYABLE, BrokerUnreachable)
    retry_backoff = 2
    retry_backoff_max = 300
    retry_jitter = True
    ignore_result = True

    @property
    def max_retries(self) -> int:  # type: ignore[override]
        """Read from the settings on each use, so a process's current configuration applies."""
        return get_settings().tasks.max_retries

    def retry(self, *args: Any, countdown: float | None = None, **kwargs: Any) -> Any:
        """Celery's retry; in-process (embedded mode) it runs at once, so wait out the backoff here."""
        if self.request.is_eager and countdown:
            time.sleep(min(countdown, self.retry_backoff_max))
        return super().retry(*args, countdown=countdown, **kwargs)

    stage: Queue
    """The queue, and so the stage, this task belongs to."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        outcome = "failed"
        try:
            result = super().__call__(*args, **kwargs)
            outcome = "succeeded"
            return result
        except Retry:
            outcome = "retried"
            raise
        finally:
            seconds = time.perf_counter() - started
            log.info("%s took %.3f s", self.name, seconds)
            if not self.request.is_eager:
                payload = args[0] if args else kwargs.get("payload", {})
                metrics.record(self.stage, outcome, seconds, metrics.work_units(self.stage, payload))

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        payload = args[0] if args else kwargs.get("payload", {})
        if isinstance(exc, BrokerUnreachable):
            # Our own broker was down for longer than a send waits (it could not even take the retry): the input
            # is not at fault. The sources stay in flight in the ledger, and the sweeper queues them again.
            log.error(
                "%s could not reach the broker (%s); its %d source(s) are left to the sweeper",
                self.name,
                one_line(exc),
                len(payload_sources(payload)),
            )
            return
        dead = isinstance(exc, RETRYABLE)
        if isinstance(exc, SoftTimeLimitExceeded):
            reason = f"{self.name} ran past its time limit ({self.soft_time_limit} s, MMINDEX_TASKS__SOFT_TIME_LIMIT_S)"
        elif isinstance(exc, RETRYABLE):
            reason = f"gave up after {self.request.retries} retries: {one_line(exc)}"
        else:
            reason = f"{self.name} failed: {one_line(exc)}"
        sources = payload_sources(payload)
        try:
            fail_sources(sources, reason, dead=dead)
        except Exception as error:  # a failure handler must never end the worker, whatever it runs into
            # Most likely the ledger is unreachable (an outage): the sources stay in flight in the ledger, and the
            # sweeper (workers/sweep.py) queues them again once they have been idle for the stranded threshold.
            log.error(
                "could not record that %d source(s) of %s failed (%s), leaving them to the sweeper: %s",
                len(sources),
                self.name,
                one_line(error),
                reason,
            )


def pipeline_task(queue: Queue, *, ignore_result: bool = True) -> Callable[[Callable[..., Any]], PipelineTask]:
    """Register a task on `queue` with the project's delivery and retry policy."""
    settings = get_settings()

    def decorate(function: Callable[..., Any]) -> PipelineTask:
        task: PipelineTask = app.task(
            bind=True,
            base=PipelineTask,
            name=f"workers.{queue.value}.{function.__name__}",
            ignore_result=ignore_result,
            soft_time_limit=settings.tasks.soft_time_limit_s,
            time_limit=settings.tasks.time_limit_s,
            stage=queue,
        )(function)
        return task

    return decorate
