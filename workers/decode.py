"""The decode stage (CPU pool): fetch each source, check what it is, turn it into items.

Media handlers are looked up by the kind sniffed from the content. Items carry
references: an image's pixels go to the artifact area as a thumbnail, which is also
what the embed stage reads.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path, PurePosixPath

from shared import artifacts
from shared.documents import Item, Space, document_id
from shared.errors import PermanentError, RetryableError, SourceNotFound, UnsupportedMedia, one_line
from shared.ledger import SourceRecord, State
from shared.media import MediaKind
from shared.media.image import open_rgb, thumbnail_jpeg
from shared.media.sniff import kind_from_name, sniff
from shared.runtime import Runtime, get_runtime
from workers.app import Queue
from workers.task import Payload, PipelineTask, fail_sources, payload_sources, pipeline_task

Handler = Callable[[SourceRecord, Path, Runtime], list[Item]]


def decode_image(record: SourceRecord, path: Path, runtime: Runtime) -> list[Item]:
    settings = runtime.settings.image
    image = open_rgb(path, max_pixels=settings.max_pixels, min_side=settings.thumbnail_px)
    storage = runtime.storage(record.uri)
    thumbnail = artifacts.thumbnail_uri(storage, record, 0)
    storage.put(thumbnail, thumbnail_jpeg(image, settings.thumbnail_px), "image/jpeg")
    return [
        Item(
            id=document_id(record.root, record.key, record.version, 0, Space.VISION),
            source_id=record.id,
            source=record.uri,
            version=record.version,
            uri=record.uri,
            modality=MediaKind.IMAGE,
            item=0,
            space=Space.VISION,
            input_uri=thumbnail,
            thumbnail=thumbnail,
        )
    ]


HANDLERS: dict[MediaKind, Handler] = {MediaKind.IMAGE: decode_image}
"""Decoders by media kind; a kind without one is reported as unsupported."""


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
    if kind not in HANDLERS:
        raise UnsupportedMedia(f"{kind.value} files are not indexed yet (supported: {', '.join(HANDLERS)})")


def decode_source(record: SourceRecord, runtime: Runtime) -> list[Item]:
    """One source's items: fetch, sniff, decode. PermanentError or RetryableError when it cannot."""
    with runtime.storage(record.uri).fetch(record.uri) as path:
        kind = sniff(path)
        check_kind(record, kind)
        return HANDLERS[kind](record, path, runtime)


def decode_all(records: list[SourceRecord], runtime: Runtime) -> list[list[Item] | Exception]:
    """Each source's items, or the error that stopped it; several sources at once on this process's cores."""

    def attempt(record: SourceRecord) -> list[Item] | Exception:
        try:
            return decode_source(record, runtime)
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
    """Decode a group of sources; queue their items for embedding in batches."""
    from workers.embed import embed

    runtime = get_runtime()
    sources = payload_sources(payload)
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
    for record, found in zip(records, decode_all(records, runtime), strict=True):
        source = (record.id, record.version)
        if isinstance(found, PermanentError):
            fail_sources([source], one_line(found), gone=isinstance(found, SourceNotFound))
        elif isinstance(found, RetryableError):
            retry.append(source)
            last_error = found
        elif isinstance(found, Exception):  # a decoder bug must not take the rest of the group with it
            fail_sources([source], f"cannot decode: {one_line(found)}")
        elif runtime.ledger.decoded(record.id, record.version, len(found)):
            items.extend(found)  # only while this version is still the current one
    for batch in batches(items, runtime.settings.models.batch_size):
        batch_sources = sorted({(item.source_id, item.version) for item in batch})
        embed.delay({"sources": batch_sources, "items": [item.to_message() for item in batch]})
    if retry and last_error is not None:
        if self.request.retries >= self.max_retries:
            fail_sources(retry, f"gave up after {self.request.retries} retries: {one_line(last_error)}")
            return
        # Retry only the sources that hit a transient fault; the rest went on.
        raise self.retry(args=({"sources": retry},), exc=last_error, countdown=2 ** (self.request.retries + 1))
