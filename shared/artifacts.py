"""Where a source's derived artifacts (thumbnails, frames) live, one folder per version.

    <artifact area>/thumbnails/<source id>/<version folder>/<item>.jpg

so that a replaced, failed or deleted version's files can be removed with its documents. The version folder is a
digest of the version (`version_folder`), never the version itself: a version comes from storage or from an event
("../../x" must not reach outside the artifact area), and a digest has one safe shape whatever it says.
"""

from __future__ import annotations

import hashlib

from shared.ledger import SourceRecord
from shared.storage import ObjectInfo, ObjectStorage


def _info(record: SourceRecord) -> ObjectInfo:
    return ObjectInfo(uri=record.uri, root=record.root, key=record.key, size=0, version=record.version)


def version_folder(version: str) -> str:
    """The folder name of a version's artifacts: 32 hex digits of its SHA-256."""
    return hashlib.sha256(version.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _source_folder(record: SourceRecord) -> str:
    # The id is the ledger's own digest of (root, key); a record read back from a tampered ledger must not
    # shape a path either.
    id = record.id if record.id.isalnum() and record.id.isascii() else version_folder(record.id)
    return f"thumbnails/{id}/"


def thumbnail_uri(storage: ObjectStorage, record: SourceRecord, item: int) -> str:
    """Where the thumbnail of one item of the record's version goes."""
    name = f"{_source_folder(record)}{version_folder(record.version)}/{int(item)}.jpg"
    return storage.artifact_uri(_info(record), name)


def remove(
    storage: ObjectStorage, record: SourceRecord, *, keep_version: str | None = None, only_version: str | None = None
) -> int:
    """Delete a source's artifacts: all, all but `keep_version`'s, or only `only_version`'s; return how many."""
    folder = _source_folder(record) + (f"{version_folder(only_version)}/" if only_version is not None else "")
    keep = (version_folder(keep_version),) if keep_version is not None and only_version is None else ()
    return storage.delete_tree(storage.artifact_uri(_info(record), folder), keep=keep)
