"""Prometheus metrics: what each stage did, counted by the workers, and what waits, read at scrape time.

Every task adds to a few counters in one Redis hash on the broker's server (one round trip per task), so
the figures are those of all workers on all hosts and survive restarts of any of them. `mmindex metrics`
serves them at `/metrics` with what it reads when scraped: each queue's depth, the tasks workers hold
unacknowledged, and the ledger's sources per state.

| metric | labels | meaning |
|---|---|---|
| `mmindex_queue_length` | `queue` | tasks waiting in the queue |
| `mmindex_tasks_unacked` | | tasks delivered to workers and not yet acknowledged (running or reserved) |
| `mmindex_tasks_total` | `stage`, `outcome` | tasks that `succeeded`, `failed` or were `retried` |
| `mmindex_task_seconds_total` | `stage` | time spent in tasks |
| `mmindex_work_total` | `stage`, `unit` | work of succeeded tasks (decode: sources; embed, index: items) |
| `mmindex_sources` | `state` | sources per ledger state (`failed` and `dead` are the failures) |
| `mmindex_broker_up` | | 1 when the broker's Redis answered this scrape |
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

import redis
from prometheus_client import CollectorRegistry, make_wsgi_app
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from shared.errors import one_line
from shared.ledger import State
from shared.runtime import Runtime, get_runtime
from workers.messages import MESSAGES, Payload
from workers.queues import Queue

log = logging.getLogger(__name__)

KEY = "mmindex:metrics"
"""The Redis hash holding the counters; fields are `tasks:STAGE:OUTCOME`, `seconds:STAGE`, `work:STAGE`."""

OUTCOMES = ("succeeded", "failed", "retried")

UNITS = {Queue.DECODE: "sources", Queue.EMBED: "items", Queue.INDEX: "items", Queue.QUERY: "queries"}
"""What each stage's work is counted in."""

PRIORITY_SEPARATOR = "\x06\x16"
PRIORITY_STEPS = (3, 6, 9)
"""kombu's Redis transport keeps messages with a priority in lists named `QUEUE` + separator + step."""

UNACKED = "unacked"
"""kombu's Redis transport: the hash of messages delivered and not yet acknowledged."""


def work_units(stage: Queue, payload: Payload) -> int:
    """How much work a task's message is, in the stage's unit (a query is one)."""
    message = MESSAGES.get(stage)
    return 1 if message is None else message.from_message(payload).units


def record(stage: Queue, outcome: str, seconds: float, units: int, runtime: Runtime | None = None) -> None:
    """Count one finished task run (distributed mode only). Never fails the task: a lost count is logged."""
    runtime = runtime or get_runtime()
    client = runtime.broker
    if client is None:
        return
    try:
        pipe = client.pipeline(transaction=False)
        pipe.hincrby(KEY, f"tasks:{stage.value}:{outcome}", 1)
        pipe.hincrbyfloat(KEY, f"seconds:{stage.value}", seconds)
        if outcome == "succeeded":
            pipe.hincrby(KEY, f"work:{stage.value}", units)
        pipe.execute()
    except redis.RedisError as error:
        log.warning("could not count a %s task: %s", stage.value, one_line(error))


def queue_length(client: Any, queue: str) -> int:
    """Messages waiting in a queue, whatever their priority."""
    names = [queue, *(f"{queue}{PRIORITY_SEPARATOR}{step}" for step in PRIORITY_STEPS)]
    pipe = client.pipeline(transaction=False)
    for name in names:
        pipe.llen(name)
    return sum(pipe.execute())


class PipelineCollector(Collector):
    """Reads the counters, the queues and the ledger on every scrape."""

    def __init__(self, runtime: Runtime | None = None) -> None:
        self._runtime = runtime

    def collect(self) -> Iterator[Metric]:
        runtime = self._runtime or get_runtime()
        up = GaugeMetricFamily("mmindex_broker_up", "1 when the broker's Redis answered this scrape")
        try:
            metrics = list(self._read(runtime))
        except (redis.RedisError, OSError) as error:
            log.warning("cannot read metrics: %s", one_line(error))
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1 if runtime.broker is not None else 0)
        yield up
        yield from metrics

    def _read(self, runtime: Runtime) -> Iterator[Metric]:
        client = runtime.broker
        if client is not None:
            queues = GaugeMetricFamily("mmindex_queue_length", "Tasks waiting in the queue", labels=["queue"])
            for queue in Queue:
                queues.add_metric([queue.value], queue_length(client, queue.value))
            yield queues
            unacked = GaugeMetricFamily(
                "mmindex_tasks_unacked", "Tasks delivered to workers and not yet acknowledged (running or reserved)"
            )
            unacked.add_metric([], client.hlen(UNACKED))
            yield unacked
            yield from self._counters({str(k): float(v) for k, v in client.hgetall(KEY).items()})
        sources = GaugeMetricFamily("mmindex_sources", "Sources per ledger state", labels=["state"])
        counts = runtime.ledger.counts()
        for state in State:
            sources.add_metric([state.value], counts.get(state, 0))
        yield sources

    @staticmethod
    def _counters(fields: dict[str, float]) -> Iterator[Metric]:
        tasks = CounterMetricFamily(
            "mmindex_tasks", "Task runs per stage and outcome (succeeded, failed, retried)", labels=["stage", "outcome"]
        )
        seconds = CounterMetricFamily("mmindex_task_seconds", "Seconds spent in tasks per stage", labels=["stage"])
        work = CounterMetricFamily(
            "mmindex_work",
            "Work done by succeeded tasks: decode sources, embed and index items, query queries",
            labels=["stage", "unit"],
        )
        for stage in Queue:
            for outcome in OUTCOMES:
                tasks.add_metric([stage.value, outcome], fields.get(f"tasks:{stage.value}:{outcome}", 0))
            seconds.add_metric([stage.value], fields.get(f"seconds:{stage.value}", 0))
            work.add_metric([stage.value, UNITS[stage]], fields.get(f"work:{stage.value}", 0))
        yield from (tasks, seconds, work)


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)


def registry(runtime: Runtime | None = None) -> CollectorRegistry:
    """A registry with the pipeline's metrics only (no process metrics of this exporter)."""
    collectors = CollectorRegistry()
    collectors.register(PipelineCollector(runtime))
    return collectors


def server(host: str, port: int, runtime: Runtime | None = None) -> WSGIServer:
    """An HTTP server answering `/metrics` on (host, port); `serve_forever()` runs it. Port 0 picks a free one."""
    return make_server(host, port, make_wsgi_app(registry(runtime)), handler_class=_QuietHandler)
