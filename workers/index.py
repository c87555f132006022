"""The index stage (IO pool): bulk upsert with deterministic ids; a finished source replaces its old version."""

from __future__ import annotations

import logging

from shared.documents import Document
from shared.ledger import State
from shared.lifecycle import Source, fail_sources, forget, settle
from shared.runtime import Runtime, get_runtime
from workers.messages import IndexMessage, Payload
from workers.queues import Queue
from workers.task import PipelineTask, pipeline_task

log = logging.getLogger("mmindex.tasks")
GONE = frozenset({State.FAILED, State.DEAD, State.DELETED})
"""The states in which a version's documents must not be in the index."""


@pipeline_task(Queue.INDEX)
def index(self: PipelineTask, payload: Payload) -> None:
    """Write a batch's documents, then record them; a source whose items are all in is done, and replaces its older
    versions (shared/lifecycle.py `settle`)."""
    runtime = get_runtime()
    message = IndexMessage.from_message(payload)
    items = message.items
    pipeline = runtime.settings.pipeline_version
    documents = [
        Document(item, vector.tolist(), message.model, pipeline)
        for item, vector in zip(items, message.vectors, strict=True)
    ]
    result = runtime.store.upsert(documents, message.generation)
    if message.rebuild:
        rebuilt(runtime, message, result.failed)
        return
    failed_sources = {
        (item.source_id, item.version): result.failed[item.id] for item in items if item.id in result.failed
    }
    for (source_id, version), reason in failed_sources.items():
        fail_sources([(source_id, version)], f"the store refused a document: {reason}")
    written: dict[Source, list[str]] = {}
    for item in items:
        if (item.source_id, item.version) not in failed_sources:
            written.setdefault((item.source_id, item.version), []).append(item.id)
    for (source_id, version), ids in written.items():
        runtime.ledger.indexed(source_id, version, ids)
    settle(runtime, set(written))


def rebuilt(runtime: Runtime, message: IndexMessage, failed: dict[str, str]) -> None:
    """After a rebuild's write: a document the store refused is logged (the rebuild finds it missing); one whose
    version was replaced, failed or deleted since the rebuild read it is taken out again, so a rebuild never brings
    back what ingestion removed meanwhile."""
    for id, reason in sorted(failed.items())[:3]:
        log.warning("generation g%s refused a rebuilt document %s: %s", message.generation, id, reason)
    versions = {item.source_id: item.version for item in message.items if item.id not in failed}
    for record in runtime.ledger.get(sorted(versions)):
        if record.version != versions[record.id] or record.state in GONE:
            forget(runtime, record, only_version=versions[record.id])
