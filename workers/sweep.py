"""The sweeper: finds work a broker or ledger outage stranded, and a ledger that lost its state.

Every worker runs one in a background thread of its main process (`Sweeper`), so a deployment fed by
storage events, where nobody runs `ingest` again, recovers by itself. Each round:

- checks the ledger's epoch (written at first start): a worker that knew it and finds it gone or changed,
  or that finds no epoch while the store holds documents (whether or not sources were recorded since), says
  loudly that the ledger's Redis lost its state (it does not persist: turn on AOF, then ingest again);
- takes a short lock in the broker's Redis (one sweeper per interval, whichever worker gets it) and queues
  again, from decode, every source in flight (queued, decoding, embedding or indexing) whose record has not
  changed for `MMINDEX_TASKS__STRANDED_AFTER_S` and that no task queued or held by a worker names, in this
  sweep and in the one before, its record unchanged in between.

One look at the broker cannot be sure: a task hands its source on to the next queue and acknowledges its own
message while the lists and the held messages are read one after the other, so a source in motion can be in
none of the places read. Its record changes as it moves, though, so a source must look stranded to two sweeps
(the suspects the first found are kept in the broker's Redis, for whichever worker sweeps next) with the same
record before it is queued again. `mmindex retry`, which a person runs on purpose, takes one look (`stranded`).

Decode is where a source starts over: its items are made there, and every later stage works from them.
Requeueing is idempotent: the record is moved back to `queued` first (which also dates it, so it is not taken
again before the threshold passes), only while its version is still the one in flight; if a task was alive
after all, the source gets one duplicate task, and tasks are idempotent, so the index does not change.
"""

from __future__ import annotations

import base64
import json
import logging
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from typing import Any

from celery.signals import worker_ready

from shared.config import get_settings
from shared.errors import one_line
from shared.ledger import SourceRecord, State
from shared.runtime import Runtime, get_runtime
from workers.intakes.submission import decode_groups
from workers.messages import sources_of

log = logging.getLogger("mmindex.sweep")

LOCK = "mmindex:sweep:lock"
"""Held by the worker sweeping this interval; it expires by itself, so a worker that dies holding it blocks none."""
PIPELINE_QUEUES = ("decode", "embed", "index")
"""The queues whose messages name sources (as the Queue enum names them)."""
PRIORITY_SUFFIXES = ("", "\x06\x163", "\x06\x166", "\x06\x169")
"""kombu's Redis transport keeps a queue's messages of each priority step in a list of its own."""
UNACKED = "unacked"
"""kombu's hash of the messages workers hold (running, prefetched, or waiting for a retry's countdown)."""
SUSPECTS = "mmindex:sweep:suspects"
"""The sources the last sweep found stranded, for the next to confirm: id → version and time of their record."""

LOST_STATE = (
    "the ledger's Redis lost its state ({why}): sources queued or in flight before are forgotten and will not be"
    " indexed, and `status` no longer counts them. Make that Redis persist (appendonly yes, as docker-compose.yml"
    " configures it), then run `mmindex ingest` again on your sources (unchanged ones already in the store are"
    " indexed again, which changes nothing)"
)


def _sources(message: Any) -> Iterable[str]:
    """The source ids a kombu message's task payload names (protocol 2: body = [args, kwargs, embed])."""
    try:
        body = message["body"]
        if message.get("properties", {}).get("body_encoding") == "base64":
            body = base64.b64decode(body)
        args = json.loads(body)[0]
        return [id for id, _version in sources_of(args[0])]
    except (KeyError, IndexError, TypeError, ValueError, AttributeError):
        return []  # not one of our tasks' messages


def alive(broker: Any, ids: set[str], page: int = 500) -> set[str]:
    """Which of `ids` a pipeline task queued in the broker, or held by a worker, names.

    The held messages are read before the queues and again after: a task acknowledges its message after queueing
    the next stage's, which the first read catches, and a worker takes a message from a queue into the held ones,
    which the second catches. It still is one look, not a snapshot (see the module's docstring)."""
    found = _held(broker, page)
    for queue in PIPELINE_QUEUES:
        for key in (queue + suffix for suffix in PRIORITY_SUFFIXES):
            start = 0
            while raw := broker.lrange(key, start, start + page - 1):
                for message in raw:
                    found.update(_sources(json.loads(message)))
                start += page
    return (found | _held(broker, page)) & ids


def _held(broker: Any, page: int) -> set[str]:
    """The source ids the messages workers hold name."""
    found: set[str] = set()
    cursor = 0
    while True:
        cursor, held = broker.hscan(UNACKED, cursor, count=page)
        for raw in held.values():
            found.update(_sources(json.loads(raw)[0]))
        if cursor == 0:
            return found


def stranded(runtime: Runtime | None = None) -> list[SourceRecord]:
    """Sources in flight, untouched for `MMINDEX_TASKS__STRANDED_AFTER_S`, that no task queued or held names.

    One look (what `mmindex retry` queues again, as a person asked): a source moving on between two stages in
    that moment is among them; queueing it again costs a duplicate decode, never a wrong index."""
    runtime = runtime or get_runtime()
    before = time.time() - runtime.settings.tasks.stranded_threshold_s
    idle = runtime.ledger.idle(before)
    if not idle or runtime.broker is None:
        return idle
    living = alive(runtime.broker, {record.id for record in idle})
    return [record for record in idle if record.id not in living]


def requeue(runtime: Runtime | None = None) -> list[SourceRecord]:
    """Queue again from decode every source stranded now that the previous sweep found stranded too, its record
    unchanged since; the ones queued are returned. The others found now are left for the next sweep to confirm."""
    runtime = runtime or get_runtime()
    confirmed = _confirmed(runtime.broker, stranded(runtime))
    queued = []
    with decode_groups(runtime) as queue:
        for record in confirmed:
            # Only while this version is still in flight; it also dates the record, so it waits a threshold again.
            if runtime.ledger.advance(record.id, record.version, State.QUEUED):
                queue(record.id, record.version)
                queued.append(record)
    for record in queued:
        log.warning("queued %s again: stranded in %s since %s", record.uri, record.state.value, _when(record))
    return queued


def _confirmed(broker: Any, found: list[SourceRecord]) -> list[SourceRecord]:
    """Those of `found` the previous sweep found too, with the same record; the rest replace the suspects."""
    marks = {record.id: f"{record.version} {record.updated_at!r}" for record in found}
    before = broker.hgetall(SUSPECTS)
    confirmed = [record for record in found if before.get(record.id) == marks[record.id]]
    later = {id: mark for id, mark in marks.items() if before.get(id) != mark}
    with broker.pipeline() as pipe:
        pipe.delete(SUSPECTS)
        if later:
            pipe.hset(SUSPECTS, mapping=later)
        pipe.execute()
    return confirmed


def _when(record: SourceRecord) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.updated_at))


class EpochWatch:
    """Tells when the ledger lost its state: the epoch this process saw is gone or changed, or there is none while
    the store holds documents (sources recorded since, by an intake that was quicker than the first check, do not
    hide the loss). `open_store` False (a prefork pool's main process, whose children are forked from it and must
    not inherit the store's connections): the store is counted in a process of its own."""

    def __init__(self, open_store: bool = True) -> None:
        self.seen: str | None = None
        self.open_store = open_store

    def check(self, runtime: Runtime) -> None:
        ledger = runtime.ledger
        current = ledger.epoch()
        why = None
        if self.seen is not None and current != self.seen:
            why = "its epoch key is gone" if current is None else "its epoch key was written again by a fresh start"
        elif self.seen is None and current is None and (documents := self._documents(runtime)):
            sources = sum(ledger.counts().values())
            why = (
                f"it is empty, but the store holds {documents} documents"
                if not sources
                else f"its epoch key is missing, but the store holds {documents} documents (sources recorded since:"
                f" {sources})"
            )
        if why is not None:
            log.error(LOST_STATE.format(why=why))
        self.seen = current if current is not None else ledger.epoch(create=True)

    def _documents(self, runtime: Runtime) -> int:
        try:
            return runtime.store.count() if self.open_store else _count_elsewhere()
        except Exception as error:  # an unreachable store must not keep the epoch from being written
            log.warning("could not count the store's documents to check the ledger: %s", one_line(error))
            return 0


def _count_elsewhere() -> int:
    """The store's documents, counted by a short-lived Python process with this one's settings (its environment)."""
    script = "from shared.runtime import get_runtime; print(get_runtime().store.count())"
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False)
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        raise RuntimeError(f"counting in a process of its own failed: {lines[-1]}")
    return int(done.stdout.strip().splitlines()[-1])


class Sweeper(threading.Thread):
    """A daemon thread: an epoch check and a sweep every `MMINDEX_TASKS__SWEEP_INTERVAL_S`, the first at once.

    A round that fails (the broker or the ledger is unreachable) is logged and tried again next interval; the
    thread never ends the worker.
    """

    def __init__(self, open_store: bool = True) -> None:
        super().__init__(name="sweeper", daemon=True)
        self.stopping = threading.Event()
        self.epoch = EpochWatch(open_store)
        self.owner = f"{socket.gethostname()}:{id(self)}"

    def run(self) -> None:
        interval = get_runtime().settings.tasks.sweep_interval_s
        while True:
            try:
                self.round()
            except Exception as error:  # an outage, most likely: the next round tries again
                log.warning("sweep skipped, will try again in %.0f s: %s", interval, one_line(error))
            if self.stopping.wait(interval):
                return

    def round(self) -> None:
        runtime = get_runtime()
        self.epoch.check(runtime)
        interval = runtime.settings.tasks.sweep_interval_s
        if runtime.broker.set(LOCK, self.owner, nx=True, px=max(1, int(interval * 1000))):
            requeue(runtime)


@worker_ready.connect  # type: ignore[untyped-decorator]
def _start_sweeper(sender: Any = None, **_: object) -> None:
    """Every worker looks for stranded sources, and for a ledger that lost its state, in the background (Celery
    imports this module in every worker: it is in the app's `include`, workers/app.py). A prefork pool's main process
    does not open the store (its children are forked from it and must start without its connections): it counts the
    store's documents in a short-lived process instead."""
    from celery.concurrency.prefork import TaskPool as Prefork  # imports billiard's pool: only in a worker

    if sender is None or not get_settings().distributed:
        return
    Sweeper(open_store=not isinstance(sender.pool, Prefork)).start()
