"""`mmindex metrics`: what waits in each queue, what each stage did, and sources per state, as Prometheus reads it."""

from __future__ import annotations

import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.cli import Cli
from tests.support.media import photo
from tests.support.services import BIN, free_port, stop, wait_for_port
from tests.support.workers import POOLS, start_workers

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def scrape(port: int) -> Samples:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as response:
        text = response.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


@pytest.fixture
def metrics_port(distributed_env: dict[str, str], tmp_path: Path) -> Iterator[int]:
    port = free_port()
    log = (tmp_path / "metrics.log").open("w")
    server = subprocess.Popen(
        [str(BIN / "mmindex"), "metrics", "--port", str(port)], env=distributed_env, stdout=log, stderr=log, text=True
    )
    try:
        wait_for_port(port, server)
        yield port
    finally:
        stop(server)


def test_a_backlog_shows_in_its_queue_then_drains_into_the_stage_counters(
    metrics_port: int, distributed_env: dict[str, str], distributed_cli: Cli, tmp_path: Path
) -> None:
    folder = tmp_path / "inbox"
    for seed in range(3):
        photo(folder / f"p{seed}.jpg", seed=seed)
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")

    queued = distributed_cli.json("ingest", str(folder))  # no worker runs yet: the work waits
    assert len(queued["queued"]) == 4
    before = scrape(metrics_port)
    assert value(before, "mmindex_broker_up") == 1
    assert value(before, "mmindex_queue_length", queue="decode") == 1  # one decode task for the four sources
    assert value(before, "mmindex_sources", state="queued") == 4
    assert value(before, "mmindex_tasks_total", stage="decode", outcome="succeeded") == 0

    running = start_workers(distributed_env, tmp_path / "logs")
    try:
        deadline = time.monotonic() + 180
        after = before
        while time.monotonic() < deadline:
            after = scrape(metrics_port)
            if value(after, "mmindex_sources", state="done") + value(after, "mmindex_sources", state="failed") == 4:
                break
            time.sleep(0.5)
        hits = distributed_cli.json("search", "a photo", "--k", "2", "--min-relevance", "0")  # noise: every hit
        assert len(hits) == 2
        after = scrape(metrics_port)
    finally:
        running.stop()

    assert value(after, "mmindex_sources", state="done") == 3
    assert value(after, "mmindex_sources", state="failed") == 1
    for pool in POOLS:
        assert value(after, "mmindex_queue_length", queue=pool) == 0
        assert value(after, "mmindex_tasks_total", stage=pool, outcome="succeeded") >= 1
        assert value(after, "mmindex_task_seconds_total", stage=pool) > 0
    assert value(after, "mmindex_work_total", stage="decode", unit="sources") == 4
    assert value(after, "mmindex_work_total", stage="embed", unit="items") == 3
    assert value(after, "mmindex_work_total", stage="index", unit="items") == 3
    assert value(after, "mmindex_work_total", stage="query", unit="queries") == 1
    assert value(after, "mmindex_tasks_unacked") == 0


def test_an_unreachable_broker_is_reported_not_fatal(mmindex_env: dict[str, str], tmp_path: Path) -> None:
    port = free_port()
    env = {**mmindex_env, "MMINDEX_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0"}
    server = subprocess.Popen([str(BIN / "mmindex"), "metrics", "--port", str(port)], env=env, text=True)
    try:
        wait_for_port(port, server)
        assert value(scrape(port), "mmindex_broker_up") == 0
        assert value(scrape(port), "mmindex_broker_up") == 0  # and it keeps answering
    finally:
        stop(server)
