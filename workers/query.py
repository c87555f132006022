"""The query stage (its own pool, so ingestion never starves search)."""

from __future__ import annotations

from typing import Any

from shared.runtime import get_runtime
from shared.search import Query, run_query
from workers.messages import Payload
from workers.queues import Queue
from workers.task import PipelineTask, pipeline_task


@pipeline_task(Queue.QUERY, ignore_result=False)
def search(self: PipelineTask, payload: Payload) -> list[dict[str, Any]]:
    """Hits for one query, best first, in `search --json`'s shape."""
    hits = run_query(Query.from_message(payload), get_runtime())
    return [hit.public() for hit in hits]
