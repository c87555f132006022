"""Every queue, with the worker command that consumes it."""

from __future__ import annotations

from enum import StrEnum


class Queue(StrEnum):
    """Every queue, with the worker command that consumes it."""

    DECODE = "decode"  # mmindex worker decode: CPU, prefork, one process per core
    EMBED = "embed"  # mmindex worker embed: GPU, one process per GPU
    INDEX = "index"  # mmindex worker index: IO, threads
    QUERY = "query"  # mmindex worker query: its own pool so ingestion never starves search
