"""The decode stage (CPU pool): fetch each source, check what it is, turn it into items.

Decoders (workers/decoders.py) are looked up by the kind sniffed from the content; a
long video or recording comes back as windows, each decoded by a task of its own.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import PurePosixPath

from shared.documents import Item
from shared.errors import PermanentError, RetryableError, SourceNotFound, UnsupportedMedia, one_line
from shared.ledger import SourceRecord, State
from shared.media import MediaKind
from shared.media.ffmpeg import Remote
from shared.media.sniff import SNIFF_BYTES, kind_from_name, sniff, sniff_bytes
from shared.runtime import Runtime, get_runtime
from workers.app import Queue
from workers.decoders import DECODERS, WHOLE, WINDOWED, Decoded, Window
from workers.task import Payload, PipelineTask, fail_sources, payload_sources, pipeline_task


def check_kind(record: SourceRecord, kind: MediaKind) -> None:
    """Refuse empty, unrecognised and mislabelled content with a reason a person can act on."""
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


def decode_source(
    record: SourceRecord, runtime: Runtime, window: Window | None = None, kind: MediaKind | None = None
) -> Decoded:
    """One source's items (or one window's), or the windows to decode it in: fetch, sniff, decode.

    A video or recording in object storage is read in place through a URL, so only the parts ffmpeg asks for
    travel (a window task is told the `kind` by the task that planned it). PermanentError or RetryableError
    when it cannot.
    """
    storage = runtime.storage(record.uri)
    # In object storage a video or recording is read in place, never downloaded whole. A name that promises an
    # image or a document is fetched at once (its content is checked there, against the name, all the same).
    maybe_media = kind in WINDOWED or kind_from_name(record.key) not in {MediaKind.IMAGE, MediaKind.TEXT}
    expires_s = 3 * runtime.settings.media.ffmpeg_timeout_s + 60  # probe, frames and sound of a window
    url = storage.media_url(record.uri, expires_s) if maybe_media else None
    if url is not None and kind is None:
        kind = sniff_bytes(storage.head(record.uri, SNIFF_BYTES))
        check_kind(record, kind)
    if url is not None and kind in WINDOWED:
        assert kind is not None
        decoded = WINDOWED[kind](record, Remote(url, PurePosixPath(record.key).name), runtime, window)
        decoded.kind = kind
        return decoded
    with storage.fetch(record.uri) as path:
        kind = sniff(path)
        check_kind(record, kind)
        decoded = DECODERS[kind](record, path, runtime, window)
        decoded.kind = kind
        return decoded


def decode_all(
    records: list[SourceRecord], runtime: Runtime, window: Window | None = None, kind: MediaKind | None = None
) -> list[Decoded | Exception]:
    """What each source gave, or the error that stopped it; several sources at once on this process's cores."""

    def attempt(record: SourceRecord) -> Decoded | Exception:
        try:
            return decode_source(record, runtime, window, kind)
        except Exception as error:  # sorted by the caller; one source's failure never stops the others
            return error

    if len(records) <= 1:
        return [attempt(record) for record in records]
    with ThreadPoolExecutor(max_workers=min(len(records), runtime.settings.decode_threads())) as pool:
        return list(pool.map(attempt, records))


def batches(items: list[Item], size: int) -> list[list[Item]]:
    """Items grouped by space into model-sized batches."""
    by_space: dict[str, list[Item]] = {}
    for item in items:
        by_space.setdefault(item.space, []).append(item)
    return [group[i : i + size] for group in by_space.values() for i in range(0, len(group), size)]


@pipeline_task(Queue.DECODE)
def decode(self: PipelineTask, payload: Payload) -> None:
    """Decode a group of sources, or one window of a long one; queue their items for embedding in batches."""
    from workers.embed import embed
    from workers.index import settle

    runtime = get_runtime()
    sources = payload_sources(payload)
    window = Window.from_message(payload["window"]) if payload.get("window") else None
    kind = MediaKind(payload["kind"]) if payload.get("kind") else None
    versions = dict(sources)
    retry: list[tuple[str, str]] = []
    last_error: RetryableError | None = None
    items: list[Item] = []
    records = [
        record
        for record in runtime.ledger.get(list(versions))
        # Skip a version superseded by a newer one, or finished by an earlier delivery of this message.
        if record.version == versions[record.id] and runtime.ledger.advance(record.id, record.version, State.DECODING)
    ]
    settled: set[tuple[str, str]] = set()
    for record, found in zip(records, decode_all(records, runtime, window, kind), strict=True):
        source = (record.id, record.version)
        if isinstance(found, PermanentError):
            fail_sources([source], one_line(found), gone=isinstance(found, SourceNotFound))
        elif isinstance(found, RetryableError):
            retry.append(source)
            last_error = found
        elif isinstance(found, Exception):  # a decoder bug must not take the rest of the group with it
            fail_sources([source], f"cannot decode: {one_line(found)}")
        elif found.windows:  # a long one: a task per window
            for part in found.windows:
                decode.delay({"sources": [source], "window": part.to_message(), "kind": found.kind})
        else:
            part = window or WHOLE
            if runtime.ledger.decoded(record.id, record.version, len(found.items), part.part, part.parts):
                items.extend(found.items)  # only while this version is still the current one
                if part.parts > 1 or not found.items:  # this may have finished it: replace older versions
                    settled.add(source)
    if settled:
        settle(runtime, settled)
    for batch in batches(items, runtime.settings.models.batch_size):
        batch_sources = sorted({(item.source_id, item.version) for item in batch})
        embed.delay({"sources": batch_sources, "items": [item.to_message() for item in batch]})
    if retry and last_error is not None:
        if self.request.retries >= self.max_retries:
            fail_sources(retry, f"gave up after {self.request.retries} retries: {one_line(last_error)}", dead=True)
            return
        # Retry only the sources that hit a transient fault; the rest went on.
        again = {"sources": retry, **({"window": payload["window"], "kind": payload.get("kind")} if window else {})}
        raise self.retry(args=(again,), exc=last_error, countdown=2 ** (self.request.retries + 1))
