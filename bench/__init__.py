"""Benchmarks for `mmindex bench NAME`: a stage measured against a plain baseline in the same run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bench.api import bench_api
from bench.decode import bench_decode
from bench.embed import bench_embed
from bench.events import bench_events
from bench.ocr import bench_ocr
from bench.opensearch import bench_opensearch
from bench.reindex import bench_reindex

Benchmark = Callable[..., dict[str, Any]]

BENCHMARKS: dict[str, Benchmark] = {
    "embed": bench_embed,
    "opensearch": bench_opensearch,
    "decode": bench_decode,
    "events": bench_events,
    "api": bench_api,
    "reindex": bench_reindex,
    "ocr": bench_ocr,
}
"""Benchmarks by name, as `mmindex bench NAME` finds them; each takes `log` and the options it names."""
