"""The index stage (IO pool): bulk upsert with deterministic ids; a finished source replaces its old version."""

from __future__ import annotations

from shared.documents import Document, Item
from shared.runtime import get_runtime
from workers.app import Queue
from workers.embed import unpack
from workers.task import Payload, PipelineTask, fail_sources, pipeline_task


@pipeline_task(Queue.INDEX)
def index(self: PipelineTask, payload: Payload) -> None:
    """Write a batch's documents, then record them; a source whose items are all in is done."""
    runtime = get_runtime()
    items = [Item.from_message(data) for data in payload["items"]]
    vectors = unpack(payload["vectors"], len(items))
    pipeline = runtime.settings.pipeline_version
    documents = [
        Document(item, vector.tolist(), payload["model"], pipeline) for item, vector in zip(items, vectors, strict=True)
    ]
    result = runtime.store.upsert(documents)
    failed_sources = {
        (item.source_id, item.version): result.failed[item.id] for item in items if item.id in result.failed
    }
    for (source_id, version), reason in failed_sources.items():
        fail_sources([(source_id, version)], f"the store refused a document: {reason}")
    written: dict[tuple[str, str, str], list[str]] = {}
    for item in items:
        if (item.source_id, item.version) not in failed_sources:
            written.setdefault((item.source_id, item.version, item.source), []).append(item.id)
    for (source_id, version, source), ids in written.items():
        if runtime.ledger.indexed(source_id, version, ids):
            runtime.store.delete_source(source, keep_version=version)
