"""`mmindex bench events`: objects/s end to end through S3 notifications and the SQS intake, against
`mmindex ingest --wait` over the same images, in one run; duplicates in the store; Redis peak memory.

What it needs: a broker (`MMINDEX_BROKER_URL`; give it a Redis database of its own: the bench refuses to
run where workers already consume it, and the ledger keeps its records of the bench's sources), and an S3
endpoint that sends bucket notifications to SQS (`MMINDEX_S3__ENDPOINT_URL` and
`MMINDEX_EVENTS__SQS_ENDPOINT_URL`, AWS where unset; moto's server serves both on one port). It starts
what it measures as child processes, with the configured settings and their default options: one
`mmindex worker` per ingestion pool (decode, embed, index; the query pool plays no part) and
`mmindex events sqs`. It writes to a store of its own, a temporary `MMINDEX_HOME` (embedded) or a fresh
alias on the configured OpenSearch node, and removes it at the end with its buckets and queue.

- **Images**: `objects` different 64x64 JPEGs, made in the run, uploaded at once (16 uploads at a time).
  A few other objects go through the pipeline first, so that every worker has loaded what it loads once.
- **SQS path**: bucket A notifies a queue of every object created; the intake applies the notifications
  (`workers.intakes.submission.apply`). Timed from the first upload until the ledger records the last source done
  (`end_to_end_s`), and until it recorded the last source queued (`queued_s`: how long the intake took
  to hear of everything).
- **Ingest path**: the same images into bucket B, then `mmindex ingest s3://B/photos/ --wait`, as a user
  without notifications would do it: timed the same way (`queued_s`: until `ingest` had listed and queued
  everything); `ingest_s` is how long the command ran.
- **Duplicates**: documents in the store minus sources done (one document per image); 0 when every task
  that ran twice wrote over its own documents.
- **On moto's server** every SQS call takes time in proportion to the messages in the queue (sending the
  2,000th message took 38 ms against 9 ms for the first, and a receive from a queue 2,000 deep about 1 s, on
  two cores), and its notifications carry no `sequencer`, so the intake asks S3 for each object's version:
  there the SQS path measures the emulator more than the intake.
- **Redis memory**: the server's `used_memory` when each path starts, and its highest during the path,
  sampled every 100 ms; and the server's own `used_memory_peak`, which covers its whole life (`CONFIG
  RESETSTAT` does not reset it: Valkey 9.1 was tried).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from rich.console import Console

from bench.aws import UPLOADERS, clients, create_bucket, create_queue, delete_bucket, notify
from shared.config import Settings, StoreKind, get_settings
from shared.errors import PermanentError
from shared.ledger import FINAL, SourceRecord, State, source_id
from shared.runtime import Runtime
from tests.support.media import photo_bytes
from tests.support.workers import Workers, running_workers

IMAGE_PX = 64
PREFIX = "photos/"
WARMUP = 8
"""Objects through the pipeline before anything is timed."""
POOLS = ("decode", "embed", "index")
POLL_S = 0.5
SAMPLE_S = 0.1
READY_S = 180.0
"""How long the children may take to start."""
STOP_S = 30.0
"""How long a child may take to stop after SIGTERM (the intake finishes its long poll of up to 20 s)."""
MMINDEX = [sys.executable, "-c", "from workers.cli import main; main()"]
"""The `mmindex` command, run with this interpreter."""


def human(size: int) -> str:
    """Bytes as Redis writes them in INFO (`used_memory_peak_human`): 1.23M."""
    value = float(size)
    for unit in ("B", "K", "M", "G"):
        if value < 1024 or unit == "G":
            return f"{value:.2f}{unit}" if unit != "B" else f"{size}B"
        value /= 1024
    raise AssertionError("unreachable")


# ---------------------------------------------------------------- child processes


@dataclass
class Child:
    """A process the bench started, with its output in a file."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path

    def check(self) -> None:
        """Raise, with the end of its output, if it has exited."""
        if self.process.poll() is not None:
            tail = self.log.read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{self.name} exited with {self.process.returncode}:\n{tail}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_S)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start(name: str, args: Sequence[str], env: dict[str, str], logs: Path, cleanup: ExitStack) -> Child:
    """Start `mmindex ARGS`; `cleanup` stops it."""
    log = logs / f"{name.replace(' ', '-')}.log"
    with log.open("wb") as out:
        process = subprocess.Popen([*MMINDEX, *args], env=env, stdout=out, stderr=subprocess.STDOUT)
    child = Child(name, process, log)
    cleanup.callback(child.stop)
    return child


def start_pools(env: dict[str, str], logs: Path, token: str) -> AbstractContextManager[Workers]:
    """One worker per ingestion pool, with its default options, once each answers a ping; stopped on exit."""
    from workers.app import app

    hostname = f"{{pool}}-{token}@bench"
    return running_workers(
        env, logs, POOLS, hostname=hostname, options={}, command=MMINDEX, ping_with=app, ready_s=READY_S, stop_s=STOP_S
    )


def start_intake(queue_url: str, env: dict[str, str], logs: Path, cleanup: ExitStack) -> Child:
    """`mmindex events sqs`, once it listens."""
    intake = start("events sqs", ["events", "sqs", "--queue-url", queue_url], env, logs, cleanup)
    deadline = time.monotonic() + READY_S
    while "listening to" not in intake.log.read_text(errors="replace"):
        intake.check()
        if time.monotonic() > deadline:
            raise TimeoutError(f"`mmindex events sqs` not listening after {READY_S:.0f} s")
        time.sleep(0.1)
    return intake


# ---------------------------------------------------------------- the store


def own_store(base: Settings, scratch: Path, token: str) -> tuple[Settings, dict[str, str]]:
    """Settings (and the environment for the children) that write to a store of the bench's own."""
    if base.store is StoreKind.OPENSEARCH:
        alias = f"mmindex-bench-{token}"
        options = base.opensearch.model_copy(update={"index": alias})
        return base.model_copy(update={"opensearch": options}), {"MMINDEX_OPENSEARCH__INDEX": alias}
    home = scratch / "home"
    return base.model_copy(update={"home": home}), {"MMINDEX_HOME": str(home)}


def drop_store(settings: Settings) -> None:
    """Delete the OpenSearch indices behind the bench's alias (an embedded store goes with its directory)."""
    if settings.store is not StoreKind.OPENSEARCH:
        return
    from opensearchpy import NotFoundError

    from shared.stores.opensearch import make_client

    client = make_client(settings.opensearch)
    try:
        indices = list(client.indices.get_alias(name=settings.opensearch.index))
    except NotFoundError:
        return
    client.indices.delete(index=",".join(indices))


# ---------------------------------------------------------------- measuring


class MemoryPeak:
    """The Redis server's highest `used_memory` while the block runs, sampled every `SAMPLE_S`."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.start = 0
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="redis-memory", daemon=True)

    def __enter__(self) -> MemoryPeak:
        self._read()
        self.start = self.peak
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self._read()

    def _read(self) -> None:
        self.peak = max(self.peak, int(self.client.info("memory")["used_memory"]))

    def _sample(self) -> None:
        while True:
            self._read()
            if self._stop.wait(SAMPLE_S):
                return


def upload(s3: Any, bucket: str, objects: dict[str, bytes]) -> tuple[float, float]:
    """Put every object, `UPLOADERS` at a time: (wall-clock time of the first upload, seconds it all took)."""
    started, began = time.time(), time.perf_counter()
    with ThreadPoolExecutor(max_workers=UPLOADERS) as pool:
        list(pool.map(lambda item: s3.put_object(Bucket=bucket, Key=item[0], Body=item[1]), objects.items()))
    return started, time.perf_counter() - began


def path_figures(records: list[SourceRecord], started: float, upload_s: float, memory: MemoryPeak) -> dict[str, Any]:
    """One path's figures: from the first upload (wall clock) until the ledger recorded the last source queued,
    and until its last update of a source (done or failed)."""
    seconds = max(record.updated_at for record in records) - started
    failed = [record for record in records if record.state is not State.DONE]
    return {
        "upload_s": round(upload_s, 3),
        "queued_s": round(max(record.created_at for record in records) - started, 3),
        "end_to_end_s": round(seconds, 3),
        "objects_per_s": round(len(records) / seconds, 2),
        "done": len(records) - len(failed),
        "failed": len(failed),
        "errors": sorted({record.error or record.state.value for record in failed})[:5],
        "redis_start_bytes": memory.start,
        "redis_peak_bytes": memory.peak,
        "redis_peak_human": human(memory.peak),
    }


@dataclass
class Pipeline:
    """The running system the paths go through: the bench's runtime, the children that must stay up, the broker."""

    runtime: Runtime
    s3: Any
    broker: Any
    env: dict[str, str]
    children: list[Workers | Child]

    def wait_done(self, ids: list[str], timeout: float | None = None) -> list[SourceRecord]:
        """The records of `ids` once every one is done or failed; raise if a child dies or time runs out."""
        timeout = timeout or self.runtime.settings.ingest.wait_timeout_s
        pending, finished = set(ids), []
        deadline = time.monotonic() + timeout
        while pending:
            for child in self.children:
                child.check()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(pending)} of {len(ids)} sources not finished after {timeout:.0f} s")
            for record in self.runtime.ledger.get(sorted(pending)):
                if record.state in FINAL:
                    finished.append(record)
                    pending.discard(record.id)
            if pending:
                time.sleep(POLL_S)
        return finished

    def through_sqs(self, bucket: str, objects: dict[str, bytes]) -> dict[str, Any]:
        """Upload everything to the notifying bucket; figures once the intake's work is done."""
        with MemoryPeak(self.broker) as memory:
            started, upload_s = upload(self.s3, bucket, objects)
            records = self.wait_done([source_id(bucket, key) for key in objects])
        return path_figures(records, started, upload_s, memory)

    def through_ingest(self, bucket: str, objects: dict[str, bytes]) -> dict[str, Any]:
        """Upload everything, then `mmindex ingest --wait` the folder; figures once it is done."""
        timeout = self.runtime.settings.ingest.wait_timeout_s
        with MemoryPeak(self.broker) as memory:
            started, upload_s = upload(self.s3, bucket, objects)
            began = time.perf_counter()
            cli = subprocess.run(
                [*MMINDEX, "ingest", f"s3://{bucket}/{PREFIX}", "--wait", "--json"],
                env=self.env,
                capture_output=True,
                text=True,
                check=False,
                timeout=timeout + 60,
            )
            ingest_s = time.perf_counter() - began
            if cli.returncode not in (0, 1):  # 1: some sources failed, which the figures say
                raise RuntimeError(f"mmindex ingest exited with {cli.returncode}: {cli.stderr[-2000:]}")
            records = self.wait_done([source_id(bucket, key) for key in objects])
        return {**path_figures(records, started, upload_s, memory), "ingest_s": round(ingest_s, 3)}


def connect(base: Settings) -> Any:
    """The broker's Redis, once it answers and no other worker consumes it."""
    from workers.app import app

    if not base.distributed:
        raise PermanentError(
            "the events benchmark needs a broker: set MMINDEX_BROKER_URL (a Redis database of its own)"
        )
    broker = redis.Redis.from_url(str(base.broker_url))
    try:
        broker.ping()
    except redis.RedisError as error:
        raise PermanentError(f"cannot reach the broker at {base.broker_url} ({error})") from None
    others = sorted(name for reply in app.control.ping(timeout=1.0) for name in reply)
    if others:
        broker.close()
        raise PermanentError(
            f"workers already consume this broker ({', '.join(others)}); the benchmark starts its own: "
            "stop them or point MMINDEX_BROKER_URL at a Redis database of its own"
        )
    return broker


def bench_events(*, objects: int = 2000, log: Console) -> dict[str, Any]:
    """Objects/s through S3 notifications and the SQS intake against `ingest --wait`, duplicates, Redis memory."""
    from workers.intakes.submission import submit

    base = get_settings()
    token = uuid.uuid4().hex[:8]
    names = f"mmindex-bench-{token}"
    with connect(base) as broker, ExitStack() as cleanup:
        s3, sqs = clients(base)
        images = [photo_bytes(seed, (IMAGE_PX, IMAGE_PX)) for seed in range(objects + WARMUP)]
        photos = {f"{PREFIX}{index:05d}.jpg": data for index, data in enumerate(images[:objects])}
        warm = {f"warmup/{index:02d}.jpg": data for index, data in enumerate(images[objects:])}
        scratch = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="mmindex-bench-events-")))
        settings, overrides = own_store(base, scratch, token)
        cleanup.callback(drop_store, settings)
        env = {**os.environ, **overrides, "MMINDEX_EVENTS__PREFIX": "", "MMINDEX_EVENTS__SUFFIX": ""}
        runtime = Runtime(settings)
        for bucket in (f"{names}-sqs", f"{names}-ingest"):
            create_bucket(s3, bucket)
            cleanup.callback(delete_bucket, s3, bucket)
        queue_url = create_queue(sqs, names)
        cleanup.callback(sqs.delete_queue, QueueUrl=queue_url)
        notify(s3, sqs, f"{names}-sqs", queue_url)

        log.print(f"bench: starting workers ({', '.join(POOLS)}) and `mmindex events sqs`", highlight=False)
        workers = cleanup.enter_context(start_pools(env, scratch, token))
        intake = start_intake(queue_url, env, scratch, cleanup)
        pipeline = Pipeline(runtime, s3, broker, env, [workers, intake])
        log.print(f"bench: warming up with {len(warm)} objects", highlight=False)
        upload(s3, f"{names}-ingest", warm)
        warmed = pipeline.wait_done(submit([f"s3://{names}-ingest/warmup/"], runtime).ids, timeout=READY_S)

        log.print(f"bench: SQS path: {objects} objects into s3://{names}-sqs/", highlight=False)
        through_sqs = pipeline.through_sqs(f"{names}-sqs", photos)
        log.print(f"bench: SQS path: {through_sqs['objects_per_s']} objects/s", highlight=False)
        pipeline.children.remove(intake)
        intake.process.terminate()  # it stops after its long poll, while the other path runs

        log.print(f"bench: ingest path: {objects} objects into s3://{names}-ingest/, then ingest", highlight=False)
        through_ingest = pipeline.through_ingest(f"{names}-ingest", photos)
        log.print(f"bench: ingest path: {through_ingest['objects_per_s']} objects/s", highlight=False)

        documents = runtime.store.count()
        sources = sum(record.state is State.DONE for record in warmed) + through_sqs["done"] + through_ingest["done"]
        server = broker.info("memory")
    return {
        "objects": objects,
        "image_size": f"{IMAGE_PX}x{IMAGE_PX}",
        "cpus": os.cpu_count(),
        "store": base.store.value,
        "vision_model": base.models.vision,
        "pools": list(POOLS),
        "sources_per_task": base.ingest.sources_per_task,
        "batch_size": base.models.batch_size,
        "linger_s": base.events.linger_s,
        "sqs": through_sqs,
        "ingest": through_ingest,
        "ratio": round(through_sqs["objects_per_s"] / through_ingest["objects_per_s"], 3),
        "documents": documents,
        "sources": sources,
        "duplicates": documents - sources,
        "redis_used_memory_peak": int(server["used_memory_peak"]),
        "redis_used_memory_peak_human": server["used_memory_peak_human"],
    }
