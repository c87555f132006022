"""Worker start: the embed and query pools load their models before the first task asks for them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.support.services import stop
from tests.support.workers import Workers, start_workers


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
        assert "reranking" not in workers.log("embed")  # the reranker is the query pool's only
        assert all(workers.alive().values())
    finally:
        workers.stop()


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
        # The default reranker, not cached and no hub answering: said at start, once, and searches go on without it.
        log = wait_for(workers, "query", "searching without reranking")
        assert "MMINDEX_MODELS__RERANK" in log and log.count("searching without reranking") == 1
        assert workers.alive()["query"]
    finally:
        stop(workers.processes["query"])


# ---------------------------------------------------------------- no work at import time

START_UP = """
import json
import sys

import PIL.Image

pillow_limit = PIL.Image.MAX_IMAGE_PIXELS
import shared.media.image
import workers.app
import workers.task
from kombu.transport import redis as kombu_redis

from shared.config import Settings


def state():
    return {
        "configured": workers.app.app.configured or "broker_url" in workers.app.app.conf,  # read, or given settings
        "patched": getattr(kombu_redis.Channel._connparams, "survives_lost_connections", False),
        "pillow_limit_kept": PIL.Image.MAX_IMAGE_PIXELS == pillow_limit,
    }


imported = state()
if sys.argv[1] != "environment":
    workers.app.configure(Settings(broker_url=sys.argv[1]))
broker_url = workers.app.app.conf.broker_url  # the first read of the configuration
print(json.dumps({"imported": imported, "read": state(), "broker_url": broker_url}))
"""


def start_up(configure_with: str) -> dict[str, object]:
    """What importing the app did, and what the first read of its configuration did, in a fresh process whose
    environment names a broker; `configure_with` another broker URL to configure the app with before that read."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("MMINDEX_")}
    env["MMINDEX_BROKER_URL"] = "redis://127.0.0.1:9/0"  # never connected to
    result = subprocess.run(
        [sys.executable, "-c", START_UP, configure_with], env=env, capture_output=True, text=True, check=True
    )
    answer: dict[str, object] = json.loads(result.stdout)
    return answer


def test_importing_the_app_configures_and_patches_nothing_until_its_configuration_is_read() -> None:
    answer = start_up("environment")
    assert answer["imported"] == {"configured": False, "patched": False, "pillow_limit_kept": True}
    assert answer["read"] == {"configured": True, "patched": True, "pillow_limit_kept": True}
    assert answer["broker_url"] == "redis://127.0.0.1:9/0"  # configured from the environment's settings


def test_an_app_configured_before_its_configuration_is_read_keeps_those_settings() -> None:
    answer = start_up("redis://127.0.0.1:10/0")
    assert answer["read"] == {"configured": True, "patched": True, "pillow_limit_kept": True}
    assert answer["broker_url"] == "redis://127.0.0.1:10/0"  # not the environment's
