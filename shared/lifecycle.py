"""The lifecycle of a source in the index: what the ledger and the store do when a version fails, is written, or
the source leaves storage.

A source version is queued, decoded, embedded and indexed by the pipeline's stages; this module is where its
documents and artifacts (thumbnails, frames: shared/artifacts.py) are made to agree with its ledger record:

- `fail_sources`: a version failed (or is `dead`: its retries ran out); what the index holds of it goes.
- `settle`: after a write, a version that is done replaces its older versions; one superseded or failed
  meanwhile is taken out again.
- `remove`: the source left storage; it is recorded deleted and all it has in the index goes.
- `forget`: the deletion the three share.

Every step is idempotent, so any delivery of a task may run it again.
"""

from __future__ import annotations

import logging

from shared import artifacts
from shared.errors import RETRYABLE, one_line
from shared.ledger import FINAL, SourceRecord, State
from shared.runtime import Runtime, get_runtime
from shared.storage import ObjectInfo

log = logging.getLogger("mmindex.tasks")  # the tasks' log, as these steps are the tasks' bookkeeping

Source = tuple[str, str]
"""A source version: (source id, version)."""


def forget(
    runtime: Runtime, record: SourceRecord, *, keep_version: str | None = None, only_version: str | None = None
) -> None:
    """Delete a source's documents and artifacts: all, all but `keep_version`'s, or only `only_version`'s."""
    runtime.store.delete_source(record.uri, keep_version=keep_version, only_version=only_version)
    artifacts.remove(runtime.storage(record.uri), record, keep_version=keep_version, only_version=only_version)


def fail_sources(sources: list[Source], reason: str, *, gone: bool = False, dead: bool = False) -> None:
    """Mark source versions failed (`dead`: retries ran out) with `reason`; drop what the index holds of them.

    Documents of other versions stay (a bad new upload does not erase the last good one), unless the
    source is `gone` from storage. A version that is already done keeps its documents: a late, failing
    redelivery must not undo finished work.
    """
    runtime = get_runtime()
    versions = dict(sources)
    for id, version in versions.items():
        runtime.ledger.fail(id, version, reason, dead=dead)
    for record in runtime.ledger.get(list(versions)):
        version = versions[record.id]
        if record.version == version and record.state is State.DONE:
            continue
        log.warning("source %s failed: %s", record.uri, reason)
        try:
            if gone and record.version == version:
                forget(runtime, record)
            else:
                forget(runtime, record, only_version=version)
        except RETRYABLE as error:  # the failure is recorded; what it left behind goes with the next version
            log.warning("could not clean up after %s: %s", record.uri, one_line(error))


def settle(runtime: Runtime, written: set[Source]) -> None:
    """Make the index agree with the ledger after a write, whichever delivery of a message this is.

    A version that is done replaces its older versions' documents (every time: deleting is idempotent,
    so a crash between the ledger's update and the delete is mended by the redelivery). Documents just
    written for a version that was superseded or failed meanwhile are taken out again.
    """
    records = {record.id: record for record in runtime.ledger.get(sorted({id for id, _ in written}))}
    for id, version in sorted(written):
        record = records.get(id)
        if record is None:  # the ledger lost it (a Redis without persistence): its documents stay; see the sweeper
            log.warning("source %s written but unknown to the ledger, which lost its state: ingest it again", id)
            continue
        if record.version == version and record.state is State.DONE:
            forget(runtime, record, keep_version=version)
        elif record.version != version or record.state in FINAL:  # superseded, failed, dead or deleted
            forget(runtime, record, only_version=version)


def remove(runtime: Runtime, source: ObjectInfo, sequencer: str | None = None) -> SourceRecord | None:
    """The source left storage: record it deleted and take its documents and artifacts out of the index.

    None, and nothing done, when the removal is stale (`sequencer` orders it before what the ledger knows)."""
    record = runtime.ledger.remove(source, sequencer)
    if record is not None:
        forget(runtime, record)
    return record
