"""workers/sweep.py: stranded sources are queued again and finish; a ledger that lost its state is reported.

Real Redis, real worker processes, the real `mmindex` command. A source is stranded the way an outage strands
one: its ledger record says it is on its way, but the broker holds no task for it (the message was lost).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from shared.config import get_settings
from shared.ledger import State
from shared.ledger.redis import RedisLedger
from shared.runtime import get_runtime, reset_runtime
from shared.stores.embedded import EmbeddedStore
from tests.shared.stores.test_contract import doc, unit
from tests.support.cli import Cli
from tests.support.media import photo
from tests.support.workers import start_workers

SWEEP = {"MMINDEX_TASKS__SWEEP_INTERVAL_S": "1", "MMINDEX_TASKS__STRANDED_AFTER_S": "2"}


def wait_until(condition: object, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what} not within {timeout} s"
        time.sleep(0.5)


@pytest.fixture
def settings_env(distributed_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """This process's settings and runtime read from `distributed_env` (and SWEEP), and forgotten after."""
    env = {**distributed_env, **SWEEP}
    from workers.app import configure

    for name, value in env.items():
        if name.startswith("MMINDEX_"):
            monkeypatch.setenv(name, value)
    reset_runtime()
    configure(get_settings())  # the app may have been configured in this process before, for another broker
    yield env
    monkeypatch.undo()
    reset_runtime()
    configure(get_settings())


def strand(cli: Cli, folder: Path, broker: redis.Redis) -> list[str]:
    """Ingest `folder` with no worker running, then lose its decode tasks: ids of the sources left in flight."""
    report = cli.json("ingest", str(folder))
    assert len(report["queued"]) == len(list(folder.iterdir())), report
    assert broker.delete("decode") == 1  # the broker lost the messages: nothing will ever run them
    ledger = get_runtime().ledger
    return [record.id for record in ledger.idle(time.time() + 1)]


def test_stranded_sources_are_queued_again_by_the_workers_and_end_done(
    settings_env: dict[str, str], redis_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "in"
    for n in range(3):
        photo(folder / f"p{n}.jpg", seed=n, size=(160, 120))
    broker = redis.Redis.from_url(redis_url)
    ledger = RedisLedger(redis_url)
    ids = strand(Cli(settings_env, tmp_path), folder, broker)
    # One was decoding when its task was lost, one embedding: each starts over from decode.
    assert ledger.advance(ids[1], ledger.get([ids[1]])[0].version, State.DECODING)
    assert ledger.advance(ids[2], ledger.get([ids[2]])[0].version, State.EMBEDDING)

    workers = start_workers(settings_env, tmp_path / "logs", pools=("decode", "embed", "index"))
    try:
        wait_until(lambda: ledger.counts()[State.DONE] == 3, 120, f"all done ({ledger.counts()})")
        assert all(workers.alive().values())
    finally:
        workers.stop()
    logs = "".join(workers.log(pool) for pool in ("decode", "embed", "index"))
    assert all(f"queued {folder / f'p{n}.jpg'} again: stranded in" in logs for n in range(3)), logs[-3000:]
    assert EmbeddedStore(Path(settings_env["MMINDEX_HOME"]) / "store").count() == 3
    broker.close()


def test_a_source_whose_task_is_still_queued_is_not_stranded(
    settings_env: dict[str, str], redis_url: str, tmp_path: Path
) -> None:
    from workers.sweep import stranded

    folder = tmp_path / "in"
    photo(folder / "p.jpg", seed=1, size=(160, 120))
    report = Cli(settings_env, tmp_path).json("ingest", str(folder))
    assert len(report["queued"]) == 1
    time.sleep(2.5)  # past the stranded threshold
    assert stranded() == []  # its decode task waits in the queue
    broker = redis.Redis.from_url(redis_url)
    broker.delete("decode")
    assert [record.uri for record in stranded()] == [str(folder / "p.jpg")]
    broker.close()


def test_a_source_whose_record_changes_between_two_sweeps_is_not_queued_again(
    settings_env: dict[str, str], redis_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """One sweep may read the broker while a task hands the source on to the next stage, and find it nowhere: the
    source is queued again only if the next sweep finds it stranded too, its record unchanged."""
    from workers.sweep import LOCK, Sweeper

    folder = tmp_path / "in"
    photo(folder / "p.jpg", seed=3, size=(160, 120))
    broker = redis.Redis.from_url(redis_url)
    ledger = RedisLedger(redis_url)
    (id,) = strand(Cli(settings_env, tmp_path), folder, broker)
    (record,) = ledger.get([id])
    sweeper = Sweeper()

    def sweep() -> list[str]:
        """What this sweep queued again, as the sweeper's log says."""
        time.sleep(2.5)  # past the stranded threshold
        broker.delete(LOCK)  # this sweeper's own lock of the round before
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="mmindex.sweep"):
            sweeper.round()
        return [entry.getMessage() for entry in caplog.records if "again: stranded" in entry.getMessage()]

    assert sweep() == []  # looked stranded once: not queued yet
    assert ledger.get([id])[0].updated_at == record.updated_at
    assert ledger.advance(id, record.version, State.DECODING)  # a task was alive after all: the source moved on
    assert sweep() == []  # its record changed since the sweep before: not queued again
    assert ledger.get([id])[0].state is State.DECODING
    (queued,) = sweep()  # stranded in two sweeps in a row, unchanged: queued again
    assert str(folder / "p.jpg") in queued
    assert ledger.get([id])[0].state is not State.DECODING  # moved back to queued (or on, if a worker took it)
    broker.close()


def test_retry_queues_stranded_sources_again(settings_env: dict[str, str], redis_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "in"
    photo(folder / "p.jpg", seed=2, size=(160, 120))
    broker = redis.Redis.from_url(redis_url)
    cli = Cli(settings_env, tmp_path)
    strand(cli, folder, broker)
    time.sleep(2.5)  # past the stranded threshold

    report = cli.json("retry")

    assert report["queued"] == [str(folder / "p.jpg")]
    assert broker.llen("decode") == 1  # a decode task is on its way again
    broker.close()


def test_a_wiped_ledger_is_reported_in_the_worker_log(
    settings_env: dict[str, str], redis_url: str, tmp_path: Path
) -> None:
    """Redis restarted without persistence: a worker that saw the ledger's epoch finds it gone and says so."""
    broker = redis.Redis.from_url(redis_url)
    workers = start_workers(settings_env, tmp_path / "logs", pools=("index",))
    try:
        wait_until(lambda: broker.exists("mmindex:ledger:epoch"), 30, "the epoch written")
        time.sleep(1.5)  # a round of the sweeper has seen it
        broker.flushdb()
        wait_until(lambda: "lost its state" in workers.log("index"), 30, "the loss reported")
        assert workers.alive() == {"index": True}
    finally:
        workers.stop()
    log = workers.log("index")
    assert "the ledger's Redis lost its state (its epoch key is gone)" in log
    assert "appendonly yes" in log and "mmindex ingest" in log
    broker.close()


def test_an_empty_ledger_beside_a_store_with_documents_is_reported(
    settings_env: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    """A worker starting on a ledger with no epoch and no sources, while the store holds documents."""
    from workers.sweep import EpochWatch

    EmbeddedStore(Path(settings_env["MMINDEX_HOME"]) / "store").upsert([doc("a.jpg", unit(0)), doc("b.jpg", unit(1))])
    with caplog.at_level(logging.ERROR, logger="mmindex.sweep"):
        EpochWatch().check(get_runtime())
    assert "lost its state (it is empty, but the store holds 2 documents)" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.ERROR, logger="mmindex.sweep"):
        EpochWatch().check(get_runtime())  # the epoch is written now: a later start is not alarmed
    assert caplog.text == ""


def test_no_epoch_beside_a_store_with_documents_is_reported_though_sources_were_recorded_since(
    settings_env: dict[str, str], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis and the workers restarted together and an intake recorded a source before the first check: the
    ledger is not empty, yet it lost its state."""
    from workers.sweep import EpochWatch

    EmbeddedStore(Path(settings_env["MMINDEX_HOME"]) / "store").upsert([doc("a.jpg", unit(0)), doc("b.jpg", unit(1))])
    photo(tmp_path / "in" / "p.jpg", seed=4, size=(160, 120))
    assert len(Cli(settings_env, tmp_path).json("ingest", str(tmp_path / "in"))["queued"]) == 1
    with caplog.at_level(logging.ERROR, logger="mmindex.sweep"):
        EpochWatch().check(get_runtime())
    assert "lost its state (its epoch key is missing, but the store holds 2 documents" in caplog.text


def test_a_prefork_worker_reports_no_epoch_beside_a_store_with_documents(
    settings_env: dict[str, str], tmp_path: Path
) -> None:
    """The decode pool is prefork: its main process counts the store's documents in a process of its own (its
    children must not inherit the store), and reports the loss like the other pools."""
    EmbeddedStore(Path(settings_env["MMINDEX_HOME"]) / "store").upsert([doc("a.jpg", unit(0)), doc("b.jpg", unit(1))])
    workers = start_workers(settings_env, tmp_path / "logs", pools=("decode",))
    try:
        wait_until(lambda: "lost its state" in workers.log("decode"), 60, "the loss reported")
        assert workers.alive() == {"decode": True}
    finally:
        workers.stop()
    assert "the ledger's Redis lost its state (it is empty, but the store holds 2 documents)" in workers.log("decode")
