"""The index stage (IO pool): bulk upsert with deterministic ids; a finished source replaces its old version."""

from __future__ import annotations

import logging

from shared.documents import Document, Item
from shared.ledger import FINAL, State
from shared.models import unpack
from shared.runtime import Runtime, get_runtime
from workers.queues import Queue
from workers.task import Payload, PipelineTask, fail_sources, forget, pipeline_task

log = logging.getLogger("mmindex.tasks")


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
    written: dict[tuple[str, str], list[str]] = {}
    for item in items:
        if (item.source_id, item.version) not in failed_sources:
            written.setdefault((item.source_id, item.version), []).append(item.id)
    for (source_id, version), ids in written.items():
        runtime.ledger.indexed(source_id, version, ids)
    settle(runtime, set(written))


def settle(runtime: Runtime, written: set[tuple[str, str]]) -> None:
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
