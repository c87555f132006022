"""What the command line and the HTTP API report, in one shape: what became of submitted sources, the state of the
index (`status`), one source's record, and queueing failed sources again (`retry`)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from shared.errors import mask
from shared.ledger import PENDING, SourceRecord
from shared.runtime import Runtime
from shared.storage import is_s3
from workers.intakes.submission import Send, Submission, outcome, submit
from workers.sweep import stranded

RETRY_LIMIT = 100_000
"""`retry` replays at most this many of the most recent failures at once."""
RATE_WINDOW_S = 120.0
"""`status` measures throughput over this many seconds for its ETA."""


def submission_report(submission: Submission, runtime: Runtime) -> dict[str, Any]:
    """`ingest --json`: the sources indexed, failed (with their reasons) and skipped, and those still queued."""
    indexed, failed, pending = outcome(runtime.ledger.get(submission.ids))
    report: dict[str, Any] = {"indexed": indexed, "failed": submission.unlisted + failed, "skipped": submission.skipped}
    if pending:
        report["queued"] = pending
    return report


def retry(runtime: Runtime, send: Send | None = None) -> Submission:
    """Queue again the current version in storage of every failed and dead-lettered source, and of every source an
    outage stranded (`mmindex retry`)."""
    failures = runtime.ledger.failures(limit=RETRY_LIMIT) + stranded(runtime)
    kept = [record for record in failures if _link_out(record.uri, runtime)]
    uris = [record.uri for record in failures if record not in kept]
    submission = submit(uris, runtime, send=send) if uris else Submission()
    submission.unlisted += [{"uri": record.uri, "error": mask(record.error or "failed")} for record in kept]
    return submission


def _link_out(uri: str, runtime: Runtime) -> bool:
    """Whether a local source is a symbolic link out of its folder, refused when its folder was listed. It stays
    failed: submitted again by its own name it would be followed, as a path someone typed is."""
    if is_s3(uri) or runtime.settings.ingest.links == "anywhere":
        return False
    path = Path(uri)
    return path.is_symlink() and not Path(os.path.realpath(path)).is_relative_to(path.parent)


def status_report(runtime: Runtime) -> dict[str, Any]:
    """`status --json`: sources per state, throughput over the last RATE_WINDOW_S and an ETA (None when work is
    pending and nothing finished lately), and the failed sources with their reasons."""
    ledger = runtime.ledger
    counts = ledger.counts()
    pending = sum(counts[state] for state in PENDING)
    per_minute = ledger.finished_since(time.time() - RATE_WINDOW_S) * 60 / RATE_WINDOW_S
    eta_s = None if pending and not per_minute else round(pending / per_minute * 60, 1) if pending else 0.0
    return {
        "counts": {state.value: n for state, n in counts.items()},
        "pending": pending,
        "finished_per_minute": round(per_minute, 1),
        "eta_s": eta_s,
        "failed": [
            {"uri": record.uri, "error": mask(record.error or "failed"), "state": record.state.value}
            for record in ledger.failures()
        ],
    }


def source_report(record: SourceRecord) -> dict[str, Any]:
    """One source as the ledger holds it: its state, version, the reason it failed, and when it changed."""
    return {
        "uri": record.uri,
        "state": record.state.value,
        "version": record.version,
        "items": record.items,
        "indexed": record.indexed,
        "error": mask(record.error) if record.error else None,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    }
