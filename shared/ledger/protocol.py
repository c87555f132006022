"""The ledger's protocol and records: source states, what a submission decides, and the `Ledger` both stores keep."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from shared.storage import ObjectInfo


class State(StrEnum):
    QUEUED = "queued"
    DECODING = "decoding"
    EMBEDDING = "embedding"
    INDEXING = "indexing"
    DONE = "done"
    FAILED = "failed"  # a permanent error: the input or the configuration must change
    DEAD = "dead"  # a transient fault outlasted its retries (dead letter): `mmindex retry` replays it
    DELETED = "deleted"  # the object left storage; its documents left the index


FINAL = frozenset({State.DONE, State.FAILED, State.DEAD, State.DELETED})
PENDING = frozenset(State) - FINAL
FAILURES = frozenset({State.FAILED, State.DEAD})


class Action(StrEnum):
    """What `submit` decided."""

    NEW = "new"
    REPLACE = "replace"  # a known source with a new version or pipeline, or one that failed before
    SKIP = "skip"  # the same version is done or on its way
    STALE = "stale"  # an event older (by its sequencer) than one already applied


@dataclass
class SourceRecord:
    id: str
    root: str
    key: str
    uri: str
    version: str
    pipeline: str
    state: State
    items: int | None = None  # set by decode: how many items the version has
    indexed: int = 0  # how many of them are in the store
    error: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    sequencer: str | None = None  # of the last storage event applied, to tell a late event from a new one


def source_id(root: str, key: str) -> str:
    """The stable id of a source, whatever its version."""
    return hashlib.sha256(f"{root}\x1f{key}".encode()).hexdigest()[:32]


def decide(existing: SourceRecord | None, version: str, pipeline: str, in_flight_timeout_s: float) -> Action:
    """Whether a submitted version is new work, a replacement, or nothing to do.

    The same version is skipped when it is done, or when it is on its way and was heard of within
    `in_flight_timeout_s` (the broker redelivers its task until then); after that, or if it failed,
    it is queued again: tasks are idempotent, so the worst case is work done twice.
    """
    if existing is None:
        return Action.NEW
    if existing.version == version and existing.pipeline == pipeline:
        if existing.state is State.DONE:
            return Action.SKIP
        if existing.state in PENDING and time.time() - existing.updated_at < in_flight_timeout_s:
            return Action.SKIP
    return Action.REPLACE


def stale(existing: SourceRecord | None, sequencer: str | None) -> bool:
    """Whether an event with `sequencer` is older than (or the same as) the last one applied to the source."""
    from shared.notifications import newer

    return existing is not None and sequencer is not None and not newer(sequencer, existing.sequencer)


class Ledger(Protocol):
    def submit(self, source: ObjectInfo, pipeline: str, sequencer: str | None = None) -> tuple[str, Action]:
        """Record a version as queued unless it is already done or on its way (see `decide`).

        A storage event's `sequencer` orders it against the events applied before: an older one is STALE.
        """
        ...

    def remove(self, source: ObjectInfo, sequencer: str | None = None) -> SourceRecord | None:
        """Record that the object left storage (DELETED); None if the event is stale. The record is returned
        so that its documents can be removed; a source never seen before is recorded too, so that a late
        event of its creation is recognised as stale."""
        ...

    def get(self, ids: Sequence[str]) -> list[SourceRecord]:
        """The records of these ids that exist, in the same order."""
        ...

    def advance(self, id: str, version: str, state: State) -> bool:
        """Move a version to a non-final state; False if the version was superseded or already final."""
        ...

    def decoded(self, id: str, version: str, items: int, part: int = 0, parts: int = 1) -> bool:
        """Record how many items one part of a version has; False if superseded.

        Long media is decoded in `parts` windows, each reported once (a repeat changes nothing). When every
        part is in, the version's item count is their sum, and it is done if that many are indexed already
        (zero items means done at once).
        """
        ...

    def indexed(self, id: str, version: str, item_ids: Iterable[str]) -> bool:
        """Record items as written; True when this completed the version (it is now done)."""
        ...

    def fail(self, id: str, version: str, reason: str, dead: bool = False) -> bool:
        """Mark a version failed (or `dead`: retries ran out) with a one-line reason; False if superseded."""
        ...

    def counts(self) -> dict[State, int]:
        """How many sources are in each state."""
        ...

    def failures(self, limit: int = 100) -> list[SourceRecord]:
        """Failed and dead sources, most recent first."""
        ...

    def finished_since(self, since: float) -> int:
        """How many sources reached done, failed or dead at or after the time `since` (for an ETA)."""
        ...

    def idle(self, before: float, limit: int = 10_000) -> list[SourceRecord]:
        """Sources in flight (queued, decoding, embedding, indexing) whose record last changed before the time
        `before`: the candidates for stranded work, at most `limit`."""
        ...

    def epoch(self, create: bool = False) -> str | None:
        """The id this ledger was given when first used (written now if `create` and there is none). A worker
        that knew one and finds it gone, or changed, is looking at a ledger that lost its state."""
        ...
