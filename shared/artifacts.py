"""Where a source's derived artifacts (thumbnails, frames) live, one folder per version.

    <artifact area>/thumbnails/<source id>/<version>/<item>.jpg

so that a replaced, failed or deleted version's files can be removed with its documents.
"""

from __future__ import annotations

from shared.ledger import SourceRecord
from shared.storage import ObjectInfo, ObjectStorage


def _info(record: SourceRecord) -> ObjectInfo:
    return ObjectInfo(uri=record.uri, root=record.root, key=record.key, size=0, version=record.version)


def thumbnail_uri(storage: ObjectStorage, record: SourceRecord, item: int) -> str:
    """Where the thumbnail of one item of the record's version goes."""
    return storage.artifact_uri(_info(record), f"thumbnails/{record.id}/{record.version}/{item}.jpg")


def remove(
    storage: ObjectStorage, record: SourceRecord, *, keep_version: str | None = None, only_version: str | None = None
) -> int:
    """Delete a source's artifacts: all, all but `keep_version`'s, or only `only_version`'s; return how many."""
    folder = f"thumbnails/{record.id}/" + (f"{only_version}/" if only_version is not None else "")
    keep = (keep_version,) if keep_version is not None and only_version is None else ()
    return storage.delete_tree(storage.artifact_uri(_info(record), folder), keep=keep)
