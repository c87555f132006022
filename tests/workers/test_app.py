"""Worker start: the embed and query pools load their models before the first task asks for them."""

from __future__ import annotations

import time
from pathlib import Path

from tests.conftest import Workers, start_workers, stop


def wait_for(workers: Workers, pool: str, text: str, timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    while text not in (log := workers.log(pool)):
        assert time.monotonic() < deadline, f"not in the {pool} log within {timeout:.0f} s: {text!r}\n{log[-3000:]}"
        assert workers.alive()[pool], f"the {pool} worker exited:\n{log[-3000:]}"
        time.sleep(0.5)
    return log


def test_embed_and_query_workers_load_both_models_at_start(distributed_env: dict[str, str], tmp_path: Path) -> None:
    workers = start_workers(distributed_env, tmp_path / "logs", pools=("embed", "query", "index"))
    try:
        for pool in ("embed", "query"):
            wait_for(workers, pool, "preload: vision model")
            log = wait_for(workers, pool, "preload: text model")
            assert f"preload: vision model {distributed_env['MMINDEX_MODELS__VISION']} ready" in log
            assert "Received task" not in log  # loaded before any work arrived
        assert "preload" not in workers.log("index")  # a pool without models loads none
        assert all(workers.alive().values())
    finally:
        for process in workers.processes.values():
            stop(process)


def test_a_model_that_cannot_load_is_reported_when_the_worker_starts(
    distributed_env: dict[str, str], tmp_path: Path
) -> None:
    """The operator learns of a wrong model path from the worker's start, not from the first failed upload; the
    worker stays up (the tasks that need the model fail with the same reason)."""
    missing = tmp_path / "no-such-model"
    env = {**distributed_env, "MMINDEX_MODELS__VISION": str(missing)}
    workers = start_workers(env, tmp_path / "logs", pools=("query",))
    try:
        log = wait_for(workers, "query", "preload: text model")
        assert f"preload: the vision model is not ready: model '{missing}' cannot be loaded" in log
        assert "MMINDEX_MODELS__VISION" in log  # what to change
        assert workers.alive()["query"]
    finally:
        stop(workers.processes["query"])
