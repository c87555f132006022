"""The one task decorator and its base: delivery, limits, retries, failure bookkeeping and timing for every task.

Every pipeline task takes one message (workers/messages.py) whose `sources` lists the [id, version] pairs it
works for; when a task gives up, those sources are marked failed with the reason, so nothing is lost silently.

One retry policy serves a whole task and the sources of a task alike (`PipelineTask`): a retryable error is
tried again after an exponential backoff with full jitter, up to `MMINDEX_TASKS__MAX_RETRIES` times, and then the
sources are dead ("gave up after N retries: ...") rather than failed, as nothing was wrong with them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from celery import Task
from celery.exceptions import Retry, SoftTimeLimitExceeded
from celery.utils.time import get_exponential_backoff_interval
from kombu.exceptions import OperationalError as BrokerUnreachable

from shared.config import get_settings
from shared.errors import RETRYABLE, one_line
from shared.lifecycle import fail_sources
from workers import metrics
from workers.app import app
from workers.messages import Payload, StageMessage, sources_of
from workers.queues import Queue

log = logging.getLogger("mmindex.tasks")


class PipelineTask(Task):  # type: ignore[misc]
    """Base of every task: late acks, redelivery on worker loss, time limits, bounded retries of retryable errors.

    A task that raises one of `retry_for` is tried again whole (`retry_later`); a task that retries only some of
    its sources calls `retry_sources`. Both wait `backoff_s()` and count against `max_retries`; past it, the whole
    task fails (its handler marks its sources dead) or the sources are marked dead at once. Celery's own
    `autoretry_for` is not used, so that this is the only retry mechanism.
    """

    acks_late = True
    reject_on_worker_lost = True
    retry_for = (*RETRYABLE, BrokerUnreachable)
    """Errors a whole task is tried again for: transient faults, and a broker that could not take a message."""
    retry_backoff = 2
    retry_backoff_max = 300
    retry_jitter = True
    ignore_result = True

    stage: Queue
    """The queue, and so the stage, this task belongs to."""

    # Read from the settings on each use, so a process's current configuration applies (a worker reads the time
    # limits when it starts consuming, and a sending process when it first sends the task: Celery caches them).

    @property
    def max_retries(self) -> int:  # type: ignore[override]
        return get_settings().tasks.max_retries

    @property
    def soft_time_limit(self) -> float:  # type: ignore[override]
        return get_settings().tasks.soft_time_limit_s

    @property
    def time_limit(self) -> float:  # type: ignore[override]
        return get_settings().tasks.time_limit_s

    def backoff_s(self) -> float:
        """Seconds to wait before the next try: `retry_backoff` × 2^retries so far, at most `retry_backoff_max`, with
        full jitter (Celery's exponential backoff)."""
        return float(
            get_exponential_backoff_interval(
                factor=self.retry_backoff,
                retries=self.request.retries,
                maximum=self.retry_backoff_max,
                full_jitter=self.retry_jitter,
            )
        )

    def gave_up(self, why: str) -> str:
        """The reason a source is dead with, once retries ran out: how many there were, and the last error."""
        return f"gave up after {self.request.retries} retries: {why}"

    def retry_later(self, error: BaseException, message: StageMessage | None = None) -> Retry:
        """Queue this task again (with `message` instead of its own) after the backoff: raises Retry, or `error`
        itself once retries ran out (the failure handler then marks the sources dead)."""
        args = None if message is None else (message.to_message(),)
        return self.retry(args=args, exc=error, countdown=self.backoff_s())

    def retry_sources(self, message: StageMessage, error: Exception, why: str | None = None) -> None:
        """Try `message`'s sources again in a task of their own after the backoff (raises Retry); once retries ran
        out, mark them dead with `why` (default: the error in one line) and return. The task's other sources went
        on."""
        if self.request.retries >= self.max_retries:
            fail_sources(message.sources, self.gave_up(why or one_line(error)), dead=True)
            return
        raise self.retry_later(error, message)

    def retry(self, *args: Any, countdown: float | None = None, **kwargs: Any) -> Any:
        """Celery's retry; in-process (embedded mode) it runs at once, so wait out the backoff here."""
        if self.request.is_eager and countdown:
            time.sleep(min(countdown, self.retry_backoff_max))
        return super().retry(*args, countdown=countdown, **kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        outcome = "failed"
        try:
            try:
                result = super().__call__(*args, **kwargs)
            except self.retry_for as error:
                raise self.retry_later(error) from error
            outcome = "succeeded"
            return result
        except Retry:
            outcome = "retried"
            raise
        finally:
            seconds = time.perf_counter() - started
            log.info("%s took %.3f s", self.name, seconds)
            if not self.request.is_eager:
                units = metrics.work_units(self.stage, _payload(args, kwargs)) if outcome == "succeeded" else 0
                metrics.record(self.stage, outcome, seconds, units)

    def on_failure(self, exc: BaseException, task_id: str, args: Any, kwargs: Any, einfo: Any) -> None:
        sources = sources_of(_payload(args, kwargs))
        if isinstance(exc, BrokerUnreachable):
            # Our own broker was down for longer than a send waits (it could not even take the retry): the input
            # is not at fault. The sources stay in flight in the ledger, and the sweeper queues them again.
            log.error(
                "%s could not reach the broker (%s); its %d source(s) are left to the sweeper",
                self.name,
                one_line(exc),
                len(sources),
            )
            return
        dead = isinstance(exc, RETRYABLE)
        if isinstance(exc, SoftTimeLimitExceeded):
            reason = f"{self.name} ran past its time limit ({self.soft_time_limit} s, MMINDEX_TASKS__SOFT_TIME_LIMIT_S)"
        elif dead:
            reason = self.gave_up(one_line(exc))
        else:
            reason = f"{self.name} failed: {one_line(exc)}"
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


def _payload(args: Any, kwargs: Any) -> Payload:
    """The one message a task was called with."""
    payload: Payload = args[0] if args else (kwargs or {}).get("payload", {})
    return payload


def pipeline_task(queue: Queue, *, ignore_result: bool = True) -> Callable[[Callable[..., Any]], PipelineTask]:
    """Register a task on `queue` with the project's delivery and retry policy."""

    def decorate(function: Callable[..., Any]) -> PipelineTask:
        task: PipelineTask = app.task(
            bind=True,
            base=PipelineTask,
            name=f"workers.{queue.value}.{function.__name__}",
            ignore_result=ignore_result,
            stage=queue,
        )(function)
        return task

    return decorate
