"""The decode stage (CPU pool): fetch each source, check what it is, turn it into items.

Decoders (workers/decoders.py) are looked up by the kind sniffed from the content; a
long video or recording comes back as windows, each decoded by a task of its own.

Every task reads only the version its source was queued for (an S3 ETag, checked with If-Match on each read and
on the URL ffmpeg reads) and sniffs it again, a window task too. A document's chunks go on to the embed stage in
batches as they are made, never held whole; a document past MMINDEX_TEXT__MAX_CHUNKS, or one slower to read than
MMINDEX_INGEST__SOURCE_TIMEOUT_S (read in a child process that is killed then), fails alone. Documents are read one
after another, so each is read only within what is left of the task's soft time limit (less a margin): one that the
task has no time left for is queued again in a task of its own, never failed for it. A reason never holds a URL other
than the source's own s3:// URI.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import PurePosixPath

from celery.exceptions import SoftTimeLimitExceeded, Terminated, TimeLimitExceeded

from shared.documents import Item
from shared.errors import PermanentError, RetryableError, SourceNotFound, UnsupportedMedia, one_line
from shared.ledger import SourceRecord, State
from shared.lifecycle import Source, fail_sources, settle
from shared.media import MediaKind
from shared.media.ffmpeg import Remote
from shared.media.sniff import SNIFF_BYTES, kind_from_name, sniff, sniff_bytes
from shared.media.text_child import OutOfTime, read_by
from shared.notifications import valid_etag
from shared.runtime import Runtime, get_runtime
from shared.storage import is_s3
from workers.decoders import DECODERS, WHOLE, Decoded, reads_in_place
from workers.embed import embed
from workers.messages import DecodeMessage, EmbedMessage, Payload, Window
from workers.queues import Queue
from workers.task import PipelineTask, pipeline_task

log = logging.getLogger("mmindex.decode")

STOPS = (SoftTimeLimitExceeded, TimeLimitExceeded, Terminated)
"""Errors that stop the task, not one source: never sorted as a source's failure, but left to the task's handler."""


class NotSent(Exception):
    """Sending a document's items on failed (`error`): the task's trouble, never the document's reason to fail."""

    def __init__(self, error: Exception) -> None:
        super().__init__(str(error))
        self.error = error


def check_kind(record: SourceRecord, kind: MediaKind, planned: MediaKind | None = None) -> None:
    """Refuse empty, unrecognised and mislabelled content with a reason a person can act on; and content that is no
    longer the `planned` kind (a window task's object replaced since its windows were planned)."""
    if planned is not None and kind is not planned:
        raise UnsupportedMedia(
            f"content is now {kind.value}, not the {planned.value} whose windows were planned: the object was replaced;"
            " its new content is indexed when it is ingested again or its upload event arrives"
        )
    if kind is MediaKind.EMPTY:
        raise UnsupportedMedia("empty file (0 bytes)")
    if kind is MediaKind.UNKNOWN:
        raise UnsupportedMedia("unrecognised content: not an image, video, audio or text file")
    claimed = kind_from_name(record.key)
    if claimed is not None and claimed is not kind:
        suffix = PurePosixPath(record.key).suffix
        raise UnsupportedMedia(f"content is {kind.value} but the name says {claimed.value} ({suffix})")
    if kind not in DECODERS:
        raise UnsupportedMedia(f"{kind.value} files are not indexed yet (supported: {', '.join(DECODERS)})")


def pinned_version(record: SourceRecord) -> str | None:
    """The version every read of the record's object must find (an S3 ETag, sent as If-Match), or None where the
    storage names versions otherwise (a local file's content hash)."""
    return record.version if is_s3(record.uri) and valid_etag(record.version) else None


def decode_source(
    record: SourceRecord, runtime: Runtime, window: Window | None = None, kind: MediaKind | None = None
) -> Decoded:
    """One source's items (or one window's), or the windows to decode it in: fetch, sniff, decode.

    Every read is of the version the record was queued for (S3: If-Match on its ETag), and every task sniffs what it
    reads, a window task too: an object replaced since it was planned (by a playlist naming other URLs, say) fails
    instead of being decoded as the `kind` planned. A video or recording in object storage is read in place through a
    URL, so only the parts ffmpeg asks for travel. A document comes back as a stream of items (`Decoded.stream`) that
    holds its fetched file until it is read to the end or closed. PermanentError or RetryableError when it cannot.
    """
    storage = runtime.storage(record.uri)
    version = pinned_version(record)
    planned = kind
    # In object storage a video or recording is read in place, never downloaded whole. A name that promises an
    # image or a document is fetched at once (its content is checked there, against the name, all the same).
    maybe_media = reads_in_place(planned) or kind_from_name(record.key) not in {MediaKind.IMAGE, MediaKind.TEXT}
    expires_s = 3 * runtime.settings.media.ffmpeg_timeout_s + 60  # probe, frames and sound of a window
    media = storage.media_url(record.uri, expires_s, version=version) if maybe_media else None
    if media is not None:
        kind = sniff_bytes(storage.head(record.uri, SNIFF_BYTES, version=version))
        check_kind(record, kind, planned)
        if reads_in_place(kind):
            remote = Remote(media.url, PurePosixPath(record.key).name, headers=media.headers)
            decoded = DECODERS[kind].decode(record, remote, runtime, window)
            decoded.kind = kind
            return decoded
    with ExitStack() as stack:
        path = stack.enter_context(storage.fetch(record.uri, version=version))
        kind = sniff(path)
        check_kind(record, kind, planned)
        decoded = DECODERS[kind].decode(record, path, runtime, window)
        decoded.kind = kind
        if decoded.stream is not None:  # the fetched file lives as long as the stream reads it
            decoded.stream = Held(decoded.stream, stack.pop_all())
        return decoded


class Held(Iterator[Item]):
    """A document's items with what they are read from (a fetched file, a child process): released at the end of the
    items, or by `close`, whichever comes first."""

    def __init__(self, items: Iterator[Item], resources: ExitStack) -> None:
        self._items = items
        self._resources = resources

    def __next__(self) -> Item:
        try:
            return next(self._items)
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        try:
            close = getattr(self._items, "close", None)
            if close is not None:
                close()
        finally:
            self._resources.close()


def close_stream(decoded: Decoded | Exception) -> None:
    """Release what an unread stream holds."""
    if isinstance(decoded, Decoded) and decoded.stream is not None:
        close = getattr(decoded.stream, "close", None)
        if close is not None:
            close()


def decode_all(
    records: list[SourceRecord], runtime: Runtime, window: Window | None = None, kind: MediaKind | None = None
) -> list[Decoded | Exception]:
    """What each source gave, or the error that stopped it; several sources at once on this process's cores.

    A document's items are not read here: its `stream` is, by the caller (who must close it if it stops early).
    """

    def attempt(record: SourceRecord) -> Decoded | Exception:
        try:
            return decode_source(record, runtime, window, kind)
        except STOPS:
            raise
        except Exception as error:  # sorted by the caller; one source's failure never stops the others
            return error

    if len(records) <= 1:
        return [attempt(record) for record in records]
    with ThreadPoolExecutor(max_workers=min(len(records), runtime.settings.decode_threads())) as pool:
        return list(pool.map(attempt, records))


_URL = re.compile(r"\b(?!s3://)[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]*[^\s'\"<>).,;\]]")
"""A URL in a message, but a source's own s3:// URI; punctuation after it is kept."""


def reason(error: Exception) -> str:
    """The one-line reason a source fails with; no URL in it (a presigned one carries a signature, and one named by
    the content may be an internal address), only the source's own s3:// URI."""
    return _URL.sub("<URL>", one_line(error))


def reading_deadline(started: float, soft_time_limit_s: float) -> float:
    """When a decode task that started at `started` (time.monotonic()) must have stopped reading documents: at its
    soft time limit less a margin for what follows the reads (the last batches, settling), a tenth of the limit and
    never more than 30 s."""
    return started + soft_time_limit_s - min(30.0, soft_time_limit_s / 10)


def batches(items: list[Item], size: int) -> list[list[Item]]:
    """Items grouped by space into model-sized batches."""
    by_space: dict[str, list[Item]] = {}
    for item in items:
        by_space.setdefault(item.space, []).append(item)
    return [group[i : i + size] for group in by_space.values() for i in range(0, len(group), size)]


class Batcher:
    """Items on their way to the embed stage: sent in model-sized batches of one space as soon as a batch is full, so
    that a document of any length is never held whole."""

    def __init__(self, size: int, send: Callable[[list[Item]], None]) -> None:
        self._size = size
        self._send = send
        self._open: dict[str, list[Item]] = {}

    def add(self, item: Item) -> None:
        batch = self._open.setdefault(item.space, [])
        batch.append(item)
        if len(batch) >= self._size:
            del self._open[item.space]
            self._send(batch)

    def drop(self, source: Source) -> None:
        """Forget the items of a source that failed and were not sent yet."""
        for space, batch in self._open.items():
            self._open[space] = [item for item in batch if (item.source_id, item.version) != source]

    def flush(self) -> None:
        for batch in self._open.values():
            if batch:
                self._send(batch)
        self._open.clear()


@pipeline_task(Queue.DECODE)
def decode(self: PipelineTask, payload: Payload) -> None:
    """Decode a group of sources, or one window of a long one; queue their items for embedding in batches.

    A document's items go on as they are made, in batches, and the ledger learns how many there were at its end.
    Sources that met a transient fault are retried in a task of their own (`PipelineTask.retry_sources`). It stays
    one function because every source's outcome is sorted in one place, against the task's one deadline.
    """
    started = time.monotonic()
    runtime = get_runtime()
    message = DecodeMessage.from_message(payload)
    window, kind = message.window, message.kind
    versions = dict(message.sources)
    retry: list[Source] = []
    unread: list[Source] = []  # documents this task had no time left for
    last_error: RetryableError | None = None
    records = [
        record
        for record in runtime.ledger.get(list(versions))
        # Skip a version superseded by a newer one, or finished by an earlier delivery of this message.
        if record.version == versions[record.id] and runtime.ledger.advance(record.id, record.version, State.DECODING)
    ]

    def send(batch: list[Item]) -> None:
        embed.delay(EmbedMessage.of(batch).to_message())

    batcher = Batcher(runtime.settings.models.batch_size, send)
    settled: set[Source] = set()
    part = window or WHOLE
    decoded = decode_all(records, runtime, window, kind)
    # Documents are read one after another, each for up to MMINDEX_INGEST__SOURCE_TIMEOUT_S: the first in full, the
    # others only up to the deadline, so that the task ends within its soft time limit; those cut short or left
    # unread are queued again in a task of their own, which reads the first of them in full (so each is read in the
    # end, and fails only by its own limit).
    deadline = reading_deadline(started, runtime.settings.tasks.soft_time_limit_s)
    too_little_s = runtime.settings.ingest.source_timeout_s / 10
    streams_read = 0
    try:
        for record, result in zip(records, decoded, strict=True):
            source = (record.id, record.version)
            found = result
            if isinstance(found, Decoded) and found.stream is not None:
                if streams_read and deadline - time.monotonic() < too_little_s:
                    unread.append(source)
                    continue
                streams_read += 1
                count = 0
                try:
                    with read_by(deadline if streams_read > 1 else None):
                        for item in found.stream:
                            try:
                                batcher.add(item)
                            except Exception as error:  # sending, not reading, failed: not the document's fault
                                raise NotSent(error) from error
                            count += 1
                except STOPS:
                    raise
                except NotSent as failed:  # e.g. the broker is gone: the task retries or leaves it to the sweeper
                    raise failed.error from failed.error.__cause__
                except OutOfTime:  # the task's time, not the document's, ran out: what was sent is sent again
                    batcher.drop(source)
                    unread.append(source)
                    continue
                except Exception as error:  # sorted below, like an error met before the first item
                    batcher.drop(source)
                    found = error
                else:
                    runtime.ledger.decoded(record.id, record.version, count, part.part, part.parts)
                    settled.add(source)  # done already if every item was indexed: then it replaces older versions
                    continue
            if isinstance(found, PermanentError):
                fail_sources([source], reason(found), gone=isinstance(found, SourceNotFound))
            elif isinstance(found, RetryableError):
                retry.append(source)
                last_error = found
            elif isinstance(found, Exception):  # a decoder bug must not take the rest of the group with it
                fail_sources([source], f"cannot decode: {reason(found)}")
            elif found.windows:  # a long one: a task per window
                for planned in found.windows:
                    decode.delay(DecodeMessage([source], planned, found.kind).to_message())
            elif runtime.ledger.decoded(record.id, record.version, len(found.items), part.part, part.parts):
                for item in found.items:  # only while this version is still the current one
                    batcher.add(item)
                if part.parts > 1 or not found.items:  # this may have finished it: replace older versions
                    settled.add(source)
    finally:
        for found in decoded:
            close_stream(found)
    batcher.flush()
    if settled:
        settle(runtime, settled)
    if unread:
        log.info("decode task ran short of time; %d document(s) queued again to be read by another", len(unread))
        decode.delay(DecodeMessage(unread).to_message())
    if retry and last_error is not None:  # only the sources that hit a transient fault; the rest went on
        self.retry_sources(DecodeMessage(retry, window, kind), last_error, reason(last_error))
