"""Object storage: where sources come from and derived artifacts go.

Two implementations behind one protocol: local paths and S3 (or any S3-compatible
endpoint). A source is named by a URI: an absolute path, or `s3://bucket/key`.
"""

from __future__ import annotations

from pathlib import Path

from shared.config import Settings
from shared.storage.protocol import MediaUrl, ObjectInfo, ObjectStorage, SentinelVersion, SourceChanged

__all__ = [
    "MediaUrl",
    "ObjectInfo",
    "ObjectStorage",
    "SentinelVersion",
    "SourceChanged",
    "is_s3",
    "locate",
    "storage_for",
]


def is_s3(uri: str) -> bool:
    return uri.startswith("s3://")


def locate(uri: str) -> ObjectInfo:
    """Where a URI points, without asking storage: for recording a source that turned out missing."""
    if is_s3(uri):
        from shared.storage.s3 import split_uri

        bucket, key = split_uri(uri)
        return ObjectInfo(uri=f"s3://{bucket}/{key}", root=bucket, key=key, size=0, version=SentinelVersion.MISSING)
    path = str(Path(uri).expanduser().resolve())
    return ObjectInfo(uri=path, root="local", key=path, size=0, version=SentinelVersion.MISSING)


def storage_for(uri: str, settings: Settings) -> ObjectStorage:
    """A storage that serves `uri` (callers keep one per kind: see shared.runtime)."""
    if is_s3(uri):
        from shared.storage.s3 import S3Storage

        return S3Storage(settings)
    from shared.storage.local import LocalStorage

    return LocalStorage(settings)
