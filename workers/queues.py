"""Every queue, with the worker command that consumes it and the pool that command starts."""

from __future__ import annotations

import os
from enum import StrEnum


class Queue(StrEnum):
    """Every queue, with the worker command that consumes it."""

    DECODE = "decode"  # mmindex worker decode: CPU, prefork, one process per core
    EMBED = "embed"  # mmindex worker embed: GPU, one process per GPU
    INDEX = "index"  # mmindex worker index: IO, threads
    QUERY = "query"  # mmindex worker query: its own pool so ingestion never starves search


POOLS: dict[Queue, tuple[str, ...]] = {
    Queue.DECODE: ("--pool", "prefork", "--concurrency", str(os.cpu_count() or 1)),
    Queue.EMBED: ("--pool", "threads", "--concurrency", "8"),  # tasks side by side share model calls (gather.py)
    Queue.INDEX: ("--pool", "threads", "--concurrency", "4"),
    Queue.QUERY: ("--pool", "threads", "--concurrency", "4"),
}
"""The `celery worker` options `mmindex worker QUEUE` starts each queue's pool with; options given after the
pool's name on the command line come after these, so they win."""
