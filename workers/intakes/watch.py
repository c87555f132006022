"""`mmindex events watch DIR`: a local folder as an event source, for the embedded mode.

The folder is scanned every `MMINDEX_EVENTS__WATCH_INTERVAL_S` (polling works on every file system,
network mounts included). A file whose size and modification time have not changed for
`MMINDEX_EVENTS__SETTLE_S` has finished being written and is ingested (new or changed content only: the
ledger compares content hashes); a file that disappears leaves the index. On start, everything in the
folder is ingested the same way. Hidden files are left alone, and links, FIFOs and devices meet the rules of
`ingest` (shared/storage/local.py), judged against the watched folder.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from shared.notifications import EventFilter, ObjectEvent
from shared.runtime import Runtime, get_runtime
from shared.storage import locate
from shared.storage.local import LocalStorage, walk
from workers.intakes.submission import apply, submit_listed

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Seen:
    size: int
    mtime_ns: int
    since: float  # when this size and time were first seen


def scan(folder: Path, artifacts: Path) -> dict[Path, tuple[int, int]]:
    """Every entry under `folder` but hidden ones and folders (links to folders are not followed), with its size
    and modification time: a link's own where it leads nowhere, and a FIFO's or a device's, which are never
    opened (they fail with their reason when submitted)."""
    found: dict[Path, tuple[int, int]] = {}
    for path, hidden in walk(folder, artifacts):
        if hidden:
            continue
        try:
            stat = path.stat() if path.exists() else path.lstat()
        except OSError:  # gone between listing and stat
            continue
        found[path] = (stat.st_size, stat.st_mtime_ns)
    return found


class Watcher:
    """Remembers what it saw; each `step` ingests files that settled and removes files that went."""

    def __init__(self, folder: Path, runtime: Runtime | None = None) -> None:
        self.folder = folder.resolve()
        self.runtime = runtime or get_runtime()
        self.seen: dict[Path, Seen] = {}
        self.done: dict[Path, tuple[int, int]] = {}  # what was ingested, by size and time

    def step(self, now: float | None = None) -> tuple[list[str], list[str]]:
        """One scan: (uris submitted, uris removed)."""
        now = time.time() if now is None else now
        current = scan(self.folder, self.runtime.settings.artifacts_dir.resolve())
        settle = self.runtime.settings.events.settle_s
        ready: list[Path] = []
        for path, (size, mtime) in current.items():
            before = self.seen.get(path)
            if before is None or (before.size, before.mtime_ns) != (size, mtime):
                self.seen[path] = Seen(size, mtime, now)
            elif now - before.since >= settle and self.done.get(path) != (size, mtime):
                ready.append(path)
        removed = [path for path in self.seen if path not in current]
        for path in removed:
            del self.seen[path]
            self.done.pop(path, None)
        if removed:  # through `apply`, as every intake's removals: a file written again since stays indexed
            gone = [ObjectEvent.file_removed(locate(str(path)).key) for path in removed]
            apply(gone, EventFilter(ignore_prefix=""), self.runtime)
        if ready:
            # Listed here, against the watched folder, so that a link is followed only as MMINDEX_INGEST__LINKS
            # says: a link out of the folder, a FIFO or a device fails with its reason and is never read.
            storage = LocalStorage(self.runtime.settings)
            submit_listed([storage.listed(path, self.folder) for path in sorted(ready)], self.runtime)
            for path in ready:
                self.done[path] = current[path]
        return [str(path) for path in sorted(ready)], [str(path) for path in removed]

    def run(self, stop: threading.Event | None = None) -> None:
        stop = stop or threading.Event()
        log.info("watching %s", self.folder)
        while not stop.is_set():
            submitted, removed = self.step()
            if submitted or removed:
                log.info("%d files submitted, %d removed", len(submitted), len(removed))
            stop.wait(self.runtime.settings.events.watch_interval_s)
