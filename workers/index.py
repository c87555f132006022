"""The index stage (IO pool): bulk upsert with deterministic ids; a finished source replaces its old version."""

from __future__ import annotations

from shared.documents import Document
from shared.lifecycle import Source, fail_sources, settle
from shared.runtime import get_runtime
from workers.messages import IndexMessage, Payload
from workers.queues import Queue
from workers.task import PipelineTask, pipeline_task


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
    result = runtime.store.upsert(documents)
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
