"""Operators' view: Flower on the broker lists every pool's worker and queue; `mmindex ping` checks a worker.

Both only look at the workers, so one set of them, on a Redis server of this module's own, serves both."""

from __future__ import annotations

import base64
import json
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.cli import Cli, mmindex_environment
from tests.support.services import BIN, free_port, running_redis, stop, wait_for_port
from tests.support.workers import POOLS, Workers, running_workers

CREDENTIALS = "ops:correct-horse"


def get(url: str, credentials: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url)
    if credentials:
        request.add_header("Authorization", "Basic " + base64.b64encode(credentials.encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
            kind = response.headers.get("Content-Type", "")
            return response.status, json.loads(body) if "json" in kind else body.decode()
    except urllib.error.HTTPError as error:
        return error.code, None


@pytest.fixture(scope="module")
def pools_env(
    tmp_path_factory: pytest.TempPathFactory,
    tiny_clip: Path,
    minilm: Path,
    whisper: Path,
    s3_endpoint: str,
    aws_credentials: None,
) -> Iterator[dict[str, str]]:
    """Distributed mode on a Redis server of the module's own."""
    home = tmp_path_factory.mktemp("pools") / "home"
    with running_redis() as redis:
        yield {**mmindex_environment(home, tiny_clip, minilm, whisper, s3_endpoint), "MMINDEX_BROKER_URL": f"{redis}/0"}


@pytest.fixture(scope="module")
def pools(pools_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workers]:
    """One real worker per pool for the module's tests, which only look at them."""
    with running_workers(pools_env, tmp_path_factory.mktemp("pools-logs")) as running:
        yield running


def test_flower_lists_each_pools_worker_and_queue(pools: Workers, pools_env: dict[str, str], tmp_path: Path) -> None:
    workers, distributed_env = pools, pools_env
    port = free_port()
    log = (tmp_path / "flower.log").open("w")
    flower = subprocess.Popen(
        [str(BIN / "mmindex"), "flower", f"--port={port}"],
        env={**distributed_env, "FLOWER_BASIC_AUTH": CREDENTIALS},
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for_port(port, flower, timeout=60)
        base = f"http://127.0.0.1:{port}"

        assert get(f"{base}/api/workers")[0] == 401  # basic auth guards the API
        deadline = time.monotonic() + 60
        listed: dict[str, Any] = {}
        while time.monotonic() < deadline and not all(f"{pool}@test" in listed for pool in POOLS):
            status, listed = get(f"{base}/api/workers?refresh=1", CREDENTIALS)
            assert status == 200
            time.sleep(1)

        for pool in POOLS:
            worker = listed.get(f"{pool}@test")
            assert worker, f"Flower does not list the {pool} worker: {sorted(listed)}"
            assert [queue["name"] for queue in worker["active_queues"]] == [pool]
        status, page = get(f"{base}/workers", CREDENTIALS)
        assert status == 200 and "decode@test" in page
        status, metrics = get(f"{base}/metrics", CREDENTIALS)
        assert status == 200 and 'flower_worker_online{worker="embed@test"} 1.0' in metrics
        assert all(alive for alive in workers.alive().values())
    finally:
        stop(flower)


def test_ping_answers_for_a_running_worker_only(pools: Workers, pools_env: dict[str, str], tmp_path: Path) -> None:
    distributed_cli = Cli(env=pools_env, cwd=tmp_path)
    assert distributed_cli("ping", "index", "--hostname", "index@test").returncode == 0
    missing = distributed_cli("ping", "embed", "--hostname", "embed@elsewhere", "--timeout", "1")
    assert missing.returncode == 1
    assert "embed@elsewhere did not answer within 1 s" in missing.stderr
