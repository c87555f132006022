"""What every object storage offers: the `ObjectStorage` protocol, the objects it lists, and their versions."""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from shared.errors import PermanentError


class SentinelVersion(StrEnum):
    """The version of a source recorded without its content ever being read: it names why, never a version the
    storage gave (an ETag, a version id, a content hash), so a real version never takes it for its own."""

    MISSING = "missing"  # the object was not there when it was looked for
    DELETED = "deleted"  # its deletion was notified without a version id
    HIDDEN = "hidden"  # a dotfile or a dot-folder: skipped
    REFUSED = "refused"  # listed but not to be read (a link out of the folder, a FIFO)


@dataclass(frozen=True)
class ObjectInfo:
    """One source object as storage lists it."""

    uri: str
    root: str  # bucket, or "local" for files
    key: str
    size: int
    version: str  # S3 version id or ETag; content hash for local files; a SentinelVersion when it was never read
    refused: str | None = None  # why listing will not let it be read (a link out of the folder, a FIFO): it fails so
    hidden: bool = False  # a dotfile or a dot-folder: reported as skipped, never read


@dataclass(frozen=True)
class MediaUrl:
    """Where a reader fetches an object's bytes over HTTP(S), and the headers to send with every request (If-Match:
    only the version planned). The URL may carry a signature: it never appears in a message."""

    url: str
    headers: tuple[tuple[str, str], ...] = ()


class SourceChanged(PermanentError):
    """The object no longer holds the version its task was queued for: the new one is indexed as a version of its
    own (on its event, or when it is ingested again)."""


class ObjectStorage(Protocol):
    """Listing, fetching and writing objects in one kind of storage."""

    def list(self, uri: str) -> Iterator[ObjectInfo]:
        """The object `uri` names, or every object under it; SourceNotFound when there is none. An object that must
        not be read comes with the reason (`refused`), a hidden one marked `hidden`: the intake records and reports
        them without reading them."""
        ...

    def stat(self, uri: str) -> ObjectInfo:
        """One object's info; SourceNotFound when it does not exist."""
        ...

    def fetch(self, uri: str, version: str | None = None) -> AbstractContextManager[Path]:
        """A local file holding the object's bytes, valid inside the context; TooLarge past the cap. With `version`
        (an S3 ETag), only that version's bytes: `SourceChanged` when the object holds another."""
        ...

    def put(self, uri: str, data: bytes, content_type: str) -> None:
        """Write a derived artifact."""
        ...

    def head(self, uri: str, size: int, version: str | None = None) -> bytes:
        """The object's first `size` bytes (to tell what it is without fetching it); the same errors as `fetch`."""
        ...

    def media_url(self, uri: str, expires_s: float, version: str | None = None) -> MediaUrl | None:
        """A URL valid for `expires_s` from which a reader can fetch byte ranges of the object, so that one window
        of a long video needs only its part (of `version` only, with the headers that say so); None where the file
        is local anyway."""
        ...

    def browser_link(self, uri: str, expires_s: float) -> str | None:
        """A URL valid for `expires_s` from which a browser fetches the object (a presigned link, through the
        endpoint browsers reach); None where the server sends the file itself."""
        ...

    def artifact_uri(self, source: ObjectInfo, name: str) -> str:
        """Where an artifact of `source` called `name` is kept."""
        ...

    def delete_tree(self, uri: str, keep: Collection[str] = ()) -> int:
        """Delete every object under the folder `uri` but its sub-folders named in `keep`; return how many."""
        ...
