"""Local files as sources; artifacts under MMINDEX_HOME.

What is read is only what was meant to be read. Listing a folder follows a symbolic link only to a file inside the
folder (`MMINDEX_INGEST__LINKS=anywhere`: to any file), and names the source by the target's real path, so a listed
path goes through no link at all; a link to a folder is refused with its reason, not followed. Anything but a
regular file (a FIFO, a device, a socket) is refused before it is opened. Reading a source later (decode time) opens
it one path component at a time without following any link, so a file swapped for a link after it was listed is
refused, and hands the reader that very open file: nothing swapped in between can be read instead.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path

from shared.config import Settings
from shared.errors import PermanentError, SourceNotFound, TooLarge
from shared.storage.protocol import MediaUrl, ObjectInfo, SentinelVersion

_LINK_ERRORS = {errno.ELOOP, errno.EMLINK}  # what opening a link with O_NOFOLLOW gives (Linux, macOS; the BSDs)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_PROC = "/proc"  # where a process's open files have names (Linux); absent on macOS and the BSDs


class NotRegular(PermanentError):
    """A FIFO, a device or a socket where a file was expected: never opened (it could block for ever)."""


def file_kind(mode: int) -> str:
    """What a non-regular file is, in words."""
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"


def open_regular(path: Path) -> int:
    """A read-only descriptor of the regular file at the absolute `path`, opened one component at a time without
    following any symbolic link and without blocking. SourceNotFound if it is not there; PermanentError if a
    component is a link, the file is not a regular one (NotRegular), or it cannot be read."""
    parts = path.absolute().parts
    folder = os.open(parts[0], os.O_RDONLY | os.O_DIRECTORY | _CLOEXEC)
    try:
        for name in parts[1:-1]:
            try:
                inner = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | _CLOEXEC, dir_fd=folder)
            except NotADirectoryError:  # what Linux says of a link opened so
                if stat.S_ISLNK(os.stat(name, dir_fd=folder, follow_symlinks=False).st_mode):
                    raise OSError(errno.ELOOP, "a symbolic link") from None
                raise
            os.close(folder)
            folder = inner
        mode = os.stat(parts[-1], dir_fd=folder, follow_symlinks=False).st_mode
        if not stat.S_ISREG(mode) and not stat.S_ISLNK(mode):
            raise NotRegular(f"{path}: {file_kind(mode)}, not a regular file; not read")
        fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | _CLOEXEC, dir_fd=folder)
    except (FileNotFoundError, NotADirectoryError):
        raise SourceNotFound(f"{path}: no such file (deleted, or a link to nothing)") from None
    except PermissionError:
        raise PermanentError(f"{path}: permission denied; the worker's user cannot read it") from None
    except OSError as error:
        if error.errno not in _LINK_ERRORS:
            raise
        if not path.exists():
            raise SourceNotFound(f"{path}: no such file (deleted, or a link to nothing)") from None
        raise PermanentError(
            f"{path}: a symbolic link where a file was listed; not followed: ingest its folder"
            " again (links are followed as MMINDEX_INGEST__LINKS says)"
        ) from None
    finally:
        os.close(folder)
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):  # swapped between the check and the open
        os.close(fd)
        raise NotRegular(f"{path}: {file_kind(mode)}, not a regular file; not read")
    return fd


def hash_open(fd: int) -> str:
    """The SHA-256 of an open file, read in chunks from its start: the version of a local source."""
    digest = hashlib.sha256()
    offset = 0
    while chunk := os.pread(fd, 1 << 20, offset):
        digest.update(chunk)
        offset += len(chunk)
    return digest.hexdigest()[:32]


def content_hash(path: Path) -> str:
    """A file's SHA-256, read in chunks: the version of a local source."""
    fd = open_regular(path)
    try:
        return hash_open(fd)
    finally:
        os.close(fd)


def walk(root: Path, artifacts: Path) -> Iterator[tuple[Path, bool]]:
    """(path, hidden) of every entry under the folder `root` that is not a folder, in order; a hidden folder comes
    as one hidden entry, not walked, and a symbolic link to a folder as one entry, not followed (listing refuses it
    with its reason, so that it is never silently missing). `artifacts` (ours) is left out."""
    for directory, subdirs, files in os.walk(root):
        here = Path(directory)
        kept = []
        for name in sorted(subdirs):
            if here / name == artifacts:
                continue
            if name.startswith("."):
                yield here / name, True
            elif (here / name).is_symlink():  # os.walk does not go into it (followlinks=False)
                yield here / name, False
            else:
                kept.append(name)
        subdirs[:] = kept
        for name in sorted(files):
            yield here / name, name.startswith(".")


@contextmanager
def pinned(fd: int, path: Path, max_bytes: int) -> Iterator[Path]:
    """A path that opens the very file `fd` is, named like `path`, so that what is read is what was checked: a link
    to /proc/PID/fd/FD (which ffmpeg can open as well); where there is no /proc (macOS, the BSDs), a private copy
    of the open file, as a name read again could by then be a link to anything. TooLarge past `max_bytes`."""
    proc = Path(_PROC, str(os.getpid()), "fd", str(fd))
    with tempfile.TemporaryDirectory(prefix="mmindex-") as folder:
        pin = Path(folder, path.name)
        if proc.exists():
            pin.symlink_to(proc)
        else:
            copy_open(fd, pin, max_bytes, path)
        yield pin


def copy_open(fd: int, to: Path, max_bytes: int, path: Path) -> None:
    """The open file `fd` (the source `path`), from its start, written to the new file `to`; TooLarge if it has
    grown past `max_bytes` since it was checked."""
    offset = 0
    with to.open("xb") as out:
        while chunk := os.pread(fd, 1 << 20, offset):
            offset += len(chunk)
            if offset > max_bytes:
                raise TooLarge(f"{path}: over the limit of {max_bytes} bytes (MMINDEX_S3__MAX_OBJECT_BYTES)")
            out.write(chunk)


class LocalStorage:
    """Files on this machine, named by absolute path."""

    def __init__(self, settings: Settings) -> None:
        self._max_bytes = settings.s3.max_object_bytes
        self._artifacts = settings.artifacts_dir.resolve()
        self._links = settings.ingest.links

    def _info(self, path: Path) -> ObjectInfo:
        fd = open_regular(path)
        try:
            size, version = os.fstat(fd).st_size, hash_open(fd)
        finally:
            os.close(fd)
        return ObjectInfo(uri=str(path), root="local", key=str(path), size=size, version=version)

    def list(self, uri: str) -> Iterator[ObjectInfo]:
        try:
            # A path given by name is taken through whatever links it goes: the one who typed it chose them.
            path = Path(uri).expanduser().resolve(strict=True)
        except (OSError, RuntimeError):  # RuntimeError: a loop of links (Python before 3.13)
            raise SourceNotFound(f"{uri}: no such file or directory") from None
        if not path.is_dir():
            yield self.listed(path, path.parent)
            return
        seen: set[str] = set()
        for entry, hidden in walk(path, self._artifacts):
            info = self.listed(entry, path, hidden=hidden)
            if info.uri not in seen:  # a link inside the folder leads to a file listed as itself too
                seen.add(info.uri)
                yield info

    def listed(self, path: Path, folder: Path, *, hidden: bool = False) -> ObjectInfo:
        """What the entry `path` met in `folder` is as a source: a link leads to its target if
        MMINDEX_INGEST__LINKS allows (the source is then named by the target's real path); a link elsewhere, a
        FIFO, a device or a file that cannot be read comes refused with its reason, and is never opened."""
        if hidden:
            return ObjectInfo(
                uri=str(path), root="local", key=str(path), size=0, version=SentinelVersion.HIDDEN, hidden=True
            )
        if path.is_symlink():
            # Not strict, and a loop of links not an error: whether an outside target exists is not ours to tell.
            target = Path(os.path.realpath(path))
            if self._links == "inside" and not target.is_relative_to(folder):
                # The reason names neither the target nor whether it exists: it may be read by whoever made the link.
                return self._refused(
                    path,
                    f"{path}: a symbolic link to somewhere outside {folder}; not followed"
                    " (MMINDEX_INGEST__LINKS=anywhere follows links to any file)",
                )
            if not target.exists():
                return self._refused(path, f"{path}: no such file (a link to nothing)")
            if target.is_dir():
                return self._refused(path, f"{path}: a symbolic link to a folder; not followed")
            path = target
        try:
            return self._info(path)
        except PermanentError as error:  # not a regular file, not readable, gone
            return self._refused(path, str(error))
        except OSError as error:
            return self._refused(path, f"{path}: cannot be read ({error.strerror or error})")

    @staticmethod
    def _refused(path: Path, reason: str) -> ObjectInfo:
        return ObjectInfo(
            uri=str(path), root="local", key=str(path), size=0, version=SentinelVersion.REFUSED, refused=reason
        )

    def stat(self, uri: str) -> ObjectInfo:
        try:
            return self._info(Path(uri))
        except NotRegular:
            raise SourceNotFound(f"{uri}: no such file") from None

    @contextmanager
    def _opened(self, uri: str) -> Iterator[int]:
        """The source `uri`, open (see `open_regular`), within the cap on size."""
        fd = open_regular(Path(uri))
        try:
            size = os.fstat(fd).st_size
            if size > self._max_bytes:
                raise TooLarge(
                    f"{uri}: {size} bytes exceeds the limit of {self._max_bytes} (MMINDEX_S3__MAX_OBJECT_BYTES)"
                )
            yield fd
        finally:
            os.close(fd)

    @contextmanager
    def fetch(self, uri: str, version: str | None = None) -> Iterator[Path]:
        with self._opened(uri) as fd, pinned(fd, Path(uri), self._max_bytes) as path:
            yield path

    def head(self, uri: str, size: int, version: str | None = None) -> bytes:
        with self._opened(uri) as fd:
            return os.pread(fd, size, 0)

    def media_url(self, uri: str, expires_s: float, version: str | None = None) -> MediaUrl | None:
        return None  # the file is read where it is

    def browser_link(self, uri: str, expires_s: float) -> str | None:
        return None  # the API serves the file itself

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
