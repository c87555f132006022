"""Local files as sources; artifacts under MMINDEX_HOME."""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

from shared.config import Settings
from shared.errors import PermanentError, SourceNotFound, TooLarge
from shared.storage import ObjectInfo


def content_hash(path: Path) -> str:
    """A file's SHA-256, read in chunks: the version of a local source."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()[:32]


class LocalStorage:
    """Files on this machine, named by absolute path."""

    def __init__(self, settings: Settings) -> None:
        self._max_bytes = settings.s3.max_object_bytes
        self._artifacts = settings.artifacts_dir.resolve()

    def _info(self, path: Path) -> ObjectInfo:
        return ObjectInfo(
            uri=str(path), root="local", key=str(path), size=path.stat().st_size, version=content_hash(path)
        )

    def list(self, uri: str) -> Iterator[ObjectInfo]:
        path = Path(uri).expanduser().resolve()
        if path.is_file():
            yield self._info(path)
            return
        if not path.is_dir():
            raise SourceNotFound(f"{uri}: no such file or directory")
        for directory, subdirs, files in os.walk(path):
            subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
            here = Path(directory)
            if here == self._artifacts or self._artifacts in here.parents:
                continue
            for name in sorted(files):
                if not name.startswith("."):
                    yield self._listed(here / name)

    def _listed(self, path: Path) -> ObjectInfo:
        """A listed file's info; one that cannot be read still becomes a source, to fail with its reason."""
        try:
            return self._info(path)
        except OSError:
            return ObjectInfo(uri=str(path), root="local", key=str(path), size=0, version="unreadable")

    def stat(self, uri: str) -> ObjectInfo:
        path = Path(uri)
        if not path.is_file():
            raise SourceNotFound(f"{uri}: no such file")
        return self._info(path)

    @contextmanager
    def fetch(self, uri: str) -> Iterator[Path]:
        path = Path(uri)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            raise SourceNotFound(f"{uri}: no such file (deleted, or a link to nothing)") from None
        if not os.access(path, os.R_OK):
            raise PermanentError(f"{uri}: permission denied; the worker's user cannot read it")
        if size > self._max_bytes:
            raise TooLarge(f"{uri}: {size} bytes exceeds the limit of {self._max_bytes} (MMINDEX_S3__MAX_OBJECT_BYTES)")
        yield path

    def head(self, uri: str, size: int) -> bytes:
        with self.fetch(uri) as path, path.open("rb") as handle:
            return handle.read(size)

    def media_url(self, uri: str, expires_s: float) -> str | None:
        return None  # the file is read where it is

    def put(self, uri: str, data: bytes, content_type: str) -> None:
        path = Path(uri)
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.part")
        partial.write_bytes(data)
        partial.replace(path)

    def artifact_uri(self, source: ObjectInfo, name: str) -> str:
        return str(self._artifacts / name)

    def delete_tree(self, uri: str, keep: Collection[str] = ()) -> int:
        folder = Path(uri)
        if not folder.is_dir():
            return 0
        deleted = 0
        for child in folder.iterdir():
            if child.name in keep:
                continue
            if child.is_dir():
                deleted += sum(1 for path in child.rglob("*") if path.is_file())
                shutil.rmtree(child, ignore_errors=True)
            else:
                child.unlink(missing_ok=True)
                deleted += 1
        if not keep:
            shutil.rmtree(folder, ignore_errors=True)
        return deleted
