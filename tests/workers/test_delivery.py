"""A worker killed mid-task loses nothing: its task runs again elsewhere and the index ends the same.

Real Redis, moto's S3 server, an OpenSearch node and one real worker process per pool. The decode worker
and then the embed worker are killed with SIGKILL (the main process and its pool children: nothing gets to
clean up, nothing is acknowledged) while they hold a task, and a replacement is started for each. The
broker hands their unacknowledged messages out again once `MMINDEX_TASKS__VISIBILITY_TIMEOUT_S` has passed:
kombu's Redis transport keeps every delivered message in its `unacked` hash until it is acknowledged, and a
consuming worker's periodic sweep (`QoS.restore_visible`) puts back those older than the visibility timeout.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import boto3
import psutil
import redis

from shared.ledger import State
from shared.ledger.redis import RedisLedger
from tests.support.cli import Cli
from tests.support.media import near_copy, photo
from tests.support.services import on_opensearch
from tests.support.workers import Workers, start_workers, stop_together

PHOTOS = 24
LIMITS = {
    # Short limits, so that a redelivery comes within the test: the broker gives a message out again once it
    # has been unacknowledged for longer than the visibility timeout, which must exceed the hard limit.
    # A task here takes a second or less, but a new embed worker's first batch up to 8 s on two loaded cores:
    # the soft limit leaves twice that.
    "MMINDEX_TASKS__SOFT_TIME_LIMIT_S": "16",
    "MMINDEX_TASKS__TIME_LIMIT_S": "20",
    "MMINDEX_TASKS__VISIBILITY_TIMEOUT_S": "25",
    "MMINDEX_INGEST__SOURCE_TIMEOUT_S": "10",  # a document's limit stays below the task's
    # Many small tasks: six decode tasks of four photos, each making one embed batch.
    "MMINDEX_INGEST__SOURCES_PER_TASK": "4",
    "MMINDEX_MODELS__BATCH_SIZE": "4",
}
SETTLE_S = 180
"""The longest the sources may take to finish after the last kill: the visibility timeout, up to 10 s until a
worker's next sweep for expired messages (workers/app.py has kombu scan on every 10 s tick), and the work itself."""


def held(broker: redis.Redis, queue: str) -> set[str]:
    """Ids of the tasks of `queue` that a worker received and has not acknowledged (kombu's `unacked` hash)."""
    ids = set()
    for raw in broker.hvals("unacked"):
        message, _exchange, routing_key = json.loads(raw)
        if routing_key == queue:
            ids.add(message["headers"]["id"])
    return ids


def kill_mid_task(
    workers: Workers, pool: str, broker: redis.Redis, ledger: RedisLedger, stage: State, timeout: float = 90
) -> set[str]:
    """Once the ledger shows sources in `stage` and the pool's worker holds a task, SIGKILL the worker's main
    process and its pool processes; return the ids of the tasks it held, which it never acknowledged."""
    deadline = time.monotonic() + timeout
    while not (ledger.counts()[stage] and held(broker, pool)):
        assert time.monotonic() < deadline, f"no {pool} task ran within {timeout} s: {ledger.counts()}"
        assert workers.processes[pool].poll() is None, workers.log(pool)[-2000:]
        time.sleep(0.02)
    main = psutil.Process(workers.processes[pool].pid)
    processes = [main, *main.children(recursive=True)]
    for process in processes:
        process.kill()
    psutil.wait_procs(processes, timeout=10)
    workers.processes[pool].wait(10)
    lost = held(broker, pool)
    assert lost, f"the {pool} worker was killed between tasks, not during one"
    return lost


def test_workers_killed_mid_task_are_replaced_and_every_task_runs_again(
    redis_url: str,
    mmindex_env: dict[str, str],
    opensearch_url: str,
    s3_endpoint: str,
    bucket: str,
    tmp_path: Path,
) -> None:
    env, store = on_opensearch({**mmindex_env, **LIMITS}, redis_url, opensearch_url, bucket)
    ledger = RedisLedger(redis_url)
    broker = redis.Redis.from_url(redis_url)
    cli = Cli(env=env, cwd=tmp_path)
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    photos = [photo(tmp_path / f"p{i:02d}.jpg", seed=300 + i, size=(2400, 1800)) for i in range(PHOTOS)]
    for path in photos:
        s3.put_object(Bucket=bucket, Key=f"trip/{path.name}", Body=path.read_bytes())
    workers = start_workers(env, tmp_path / "logs")
    replacements: list[Workers] = []
    try:
        queued = cli.json("ingest", f"s3://{bucket}/trip/")
        assert queued["failed"] == [] and len(queued["indexed"]) + len(queued.get("queued", [])) == PHOTOS

        # The decode worker dies while it decodes; a new one takes its place and the queue's other tasks.
        lost_decode = kill_mid_task(workers, "decode", broker, ledger, State.DECODING)
        replacements.append(start_workers(env, tmp_path / "replacement-decode", pools=("decode",)))
        # The embed worker (one process) dies with a batch in hand.
        lost_embed = kill_mid_task(workers, "embed", broker, ledger, State.EMBEDDING)
        replacements.append(start_workers(env, tmp_path / "replacement-embed", pools=("embed",)))

        deadline = time.monotonic() + SETTLE_S
        while (status := cli.json("status"))["pending"]:
            assert time.monotonic() < deadline, f"sources still pending {SETTLE_S} s after the kills: {status}"
            time.sleep(0.5)

        assert status["counts"]["done"] == PHOTOS, status
        assert status["failed"] == []
        # Every task the dead workers held ran again, in their replacements.
        decode, embed = replacements[0].log("decode"), replacements[1].log("embed")
        assert all(f"[{id}] received" in decode for id in lost_decode), (lost_decode, decode[-3000:])
        assert all(f"[{id}] received" in embed for id in lost_embed), (lost_embed, embed[-3000:])
        # Each photo is in the index once, and found.
        assert store.count() == PHOTOS
        target = photos[7]
        hits = cli.json("search", "--image", str(near_copy(target, tmp_path / "query.jpg")), "--k", "3")
        assert hits[0]["uri"] == f"s3://{bucket}/trip/{target.name}"
        assert all(alive for replacement in replacements for alive in replacement.alive().values())
        assert workers.alive() == {"decode": False, "embed": False, "index": True, "query": True}
    finally:
        stop_together(process for running in (workers, *replacements) for process in running.processes.values())
        broker.close()
