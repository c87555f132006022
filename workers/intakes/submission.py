"""Submitting sources: list them (or hear of them from storage events), ask the ledger what is new,
queue decode tasks in groups.

`submit(uris)` is the Python API behind `mmindex ingest`; `apply(events)` is what the event intakes
(`mmindex events sqs|webhook|watch`) call with the notifications they receive.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from shared.errors import PermanentError, SourceNotFound, one_line
from shared.ledger import FAILURES, FINAL, Action, SourceRecord, State, source_id
from shared.lifecycle import Source, fail_sources, remove
from shared.notifications import EventFilter, EventKind, ObjectEvent
from shared.runtime import Runtime, get_runtime
from shared.storage import ObjectInfo, SentinelVersion, locate
from workers.decode import decode
from workers.messages import DecodeMessage

Send = Callable[[DecodeMessage], None]
"""How a group of sources is sent to decode: by default queued (or, without a broker, decoded right away)."""


def queue_decode(message: DecodeMessage) -> None:
    decode.delay(message.to_message())


@dataclass
class Submission:
    """What `submit` did with each input."""

    queued: list[Source] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # ids of sources recorded as failed: gone, or refused
    skipped: list[str] = field(default_factory=list)  # uris: unchanged, or hidden (never read)
    unlisted: list[dict[str, str]] = field(default_factory=list)  # inputs that could not be listed

    @property
    def ids(self) -> list[str]:
        """Every source this submission recorded in the ledger."""
        return [id for id, _ in self.queued] + self.missing


def submit(uris: Sequence[str], runtime: Runtime | None = None, send: Send | None = None) -> Submission:
    """Queue every new or changed source under `uris` (paths or s3:// URIs). Unchanged ones are skipped.

    Decode tasks go out as soon as a group fills, and whatever was recorded is sent even if listing
    stops half-way, so no source is left queued with no task on its way. Without a broker the tasks run
    right here, so the sources are finished when this returns.

    A path that does not exist is reported (`unlisted`) and recorded only if the ledger knew it: a source that
    was indexed and is gone fails and its documents go, a typo leaves no trace. `send` replaces how the decode
    groups go out (the HTTP server's embedded mode hands them to its background worker).
    """
    runtime = runtime or get_runtime()
    submission = Submission()
    with decode_groups(runtime, send) as queue:
        for uri in uris:
            try:
                for info in runtime.storage(uri).list(uri):
                    record(info, submission, queue, runtime)
            except SourceNotFound as error:
                missing = locate(uri)
                id = source_id(missing.root, missing.key)
                if not runtime.ledger.get([id]):
                    submission.unlisted.append({"uri": uri, "error": one_line(error)})
                    continue
                # Recorded like any failed source, so that `status` shows it; its documents go too.
                runtime.ledger.submit(missing, runtime.settings.pipeline_version)
                fail_sources([(id, missing.version)], one_line(error), gone=True)
                submission.missing.append(id)
            except PermanentError as error:  # e.g. access denied; transient faults abort the submission
                submission.unlisted.append({"uri": uri, "error": one_line(error)})
    return submission


def submit_listed(infos: Iterable[ObjectInfo], runtime: Runtime | None = None) -> Submission:
    """`submit` for sources listed already (by a folder watch)."""
    runtime = runtime or get_runtime()
    submission = Submission()
    with decode_groups(runtime) as queue:
        for info in infos:
            record(info, submission, queue, runtime)
    return submission


def record(info: ObjectInfo, submission: Submission, queue: Callable[[str, str], None], runtime: Runtime) -> None:
    """Queue one listed source if it is new or changed; a hidden one is skipped unread, a refused one fails with
    its reason at once."""
    if info.hidden:
        submission.skipped.append(info.uri)
        return
    id, action = runtime.ledger.submit(info, runtime.settings.pipeline_version)
    if info.refused is not None:
        fail_sources([(id, info.version)], info.refused)
        submission.missing.append(id)
    elif action in (Action.SKIP, Action.STALE):
        submission.skipped.append(info.uri)
    else:
        submission.queued.append((id, info.version))
        queue(id, info.version)


@contextmanager
def decode_groups(runtime: Runtime, send: Send | None = None) -> Iterator[Callable[[str, str], None]]:
    """A function that queues a source version for decoding: decode tasks go out as soon as a group of
    `MMINDEX_INGEST__SOURCES_PER_TASK` fills, and the last group when the block ends, however it ends, so no
    source recorded as queued is left with no task on its way."""
    group: list[Source] = []
    dispatch = send or queue_decode

    def flush() -> None:
        if group:
            dispatch(DecodeMessage(list(group)))
            group.clear()

    def queue(id: str, version: str) -> None:
        group.append((id, version))
        if len(group) >= runtime.settings.ingest.sources_per_task:
            flush()

    try:
        yield queue
    finally:
        flush()


def exists(runtime: Runtime, uri: str) -> bool:
    try:
        runtime.storage(uri).stat(uri)
    except SourceNotFound:
        return False
    return True


@dataclass
class Applied:
    """What `apply` did with a batch of storage events."""

    queued: list[str] = field(default_factory=list)  # uris of versions queued for indexing
    removed: list[str] = field(default_factory=list)  # uris taken out of the index
    unchanged: list[str] = field(default_factory=list)  # duplicates, late (stale) events, versions already done
    ignored: list[str] = field(default_factory=list)  # outside the prefix or suffix, or our own artifacts


def apply(events: Sequence[ObjectEvent], only: EventFilter, runtime: Runtime | None = None) -> Applied:
    """Apply storage events in order: a creation queues its version for indexing, a removal takes the
    source out of the index. Duplicate and out-of-order events (by S3's sequencer) change nothing, so a
    burst of writes to one key settles on the latest. Raises only transient faults (broker, ledger,
    storage unreachable), in which case the caller must not acknowledge the events: applying them again
    is harmless. The folder watch's removals come this way too (`ObjectEvent.file_removed`)."""
    runtime = runtime or get_runtime()
    applied = Applied()
    pipeline = runtime.settings.pipeline_version
    with decode_groups(runtime) as queue:
        for event in events:
            if not only.accepts(event):
                applied.ignored.append(event.uri)
                continue
            if event.kind is EventKind.REMOVED:
                if exists(runtime, event.uri):  # an old version went, or the key was written again since
                    applied.unchanged.append(event.uri)
                    continue
                gone = ObjectInfo(event.uri, event.bucket, event.key, 0, event.version_id or SentinelVersion.DELETED)
                if remove(runtime, gone, event.sequencer) is None:
                    applied.unchanged.append(event.uri)
                else:
                    applied.removed.append(event.uri)
                continue
            version = event.etag
            if version is None or event.sequencer is None:
                # Without a sequencer the event cannot be ordered (S3-compatible stores and emulators may send
                # none): index what storage holds now, which is where a burst of writes settles anyway.
                try:
                    version = runtime.storage(event.uri).stat(event.uri).version
                except SourceNotFound:  # deleted since: its removal event comes (or came) too
                    applied.unchanged.append(event.uri)
                    continue
            info = ObjectInfo(event.uri, event.bucket, event.key, event.size or 0, version)
            id, action = runtime.ledger.submit(info, pipeline, event.sequencer)
            if action in (Action.SKIP, Action.STALE):
                applied.unchanged.append(event.uri)
            else:
                queue(id, version)
                applied.queued.append(event.uri)
    return applied


def outcome(records: Sequence[SourceRecord]) -> tuple[list[str], list[dict[str, str]], list[str]]:
    """(indexed uris, failed {uri, error}, still pending uris) of submitted sources."""
    indexed = [record.uri for record in records if record.state is State.DONE]
    failed = [{"uri": record.uri, "error": record.error or "failed"} for record in records if record.state in FAILURES]
    pending = [record.uri for record in records if record.state not in FINAL]
    return indexed, failed, pending
