"""workers/index.py: a source is done only once every one of its documents is written, on the real OpenSearch node."""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from opensearchpy import OpenSearch

from shared.config import Settings, StoreKind
from shared.documents import Item, Space, document_id
from shared.ledger import State
from shared.runtime import Runtime, get_runtime, reset_runtime
from shared.storage import ObjectInfo
from shared.stores.opensearch import OpenSearchStore
from tests.support.services import OpenSearchNode


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, s3_endpoint: str) -> Iterator[Runtime]:
    """Embedded mode (tasks run here, the ledger in SQLite) with a fresh home, sources in the S3 server."""
    for name in [name for name in os.environ if name.startswith("MMINDEX_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("MMINDEX_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MMINDEX_TASKS__MAX_RETRIES", "0")
    monkeypatch.setenv("MMINDEX_S3__ENDPOINT_URL", s3_endpoint)
    reset_runtime()
    yield get_runtime()
    reset_runtime()


def serverless_store(url: str, alias: str) -> OpenSearchStore:
    """The store as it talks to an OpenSearch Serverless collection (no `_id`s of its own, no refresh), pointed at
    the local node through a plain client: the node answers the same bulk writes a collection does."""
    options = {"url": url, "auth": "sigv4", "service": "aoss", "region": "eu-west-1", "engine": "lucene"}
    settings = Settings(store=StoreKind.OPENSEARCH, opensearch={**options, "index": alias, "replicas": 0})
    return OpenSearchStore(settings, client=OpenSearch(url))


def queued(runtime: Runtime, bucket: str, key: str, items: int) -> tuple[str, list[Item]]:
    """A source decoded into `items` images, waiting for its documents to be indexed."""
    info = ObjectInfo(f"s3://{bucket}/{key}", bucket, key, 100, "v1")
    id, _ = runtime.ledger.submit(info, runtime.settings.pipeline_version)
    runtime.ledger.decoded(id, "v1", items)
    return id, [
        Item(document_id(bucket, key, "v1", n, Space.VISION), id, info.uri, "v1", info.uri, "image", n, Space.VISION)
        for n in range(items)
    ]


def test_a_source_with_a_refused_document_is_failed_not_done(
    runtime: Runtime, opensearch_node: OpenSearchNode, bucket: str
) -> None:
    from shared.models import pack
    from workers.index import index

    alias = f"index-{uuid.uuid4().hex[:8]}"
    runtime.store = serverless_store(opensearch_node.url, alias)
    good, good_items = queued(runtime, bucket, "good.jpg", 1)
    bad, bad_items = queued(runtime, bucket, "bad.jpg", 2)
    items = good_items + bad_items
    vectors = np.full((3, 4), 0.5, dtype=np.float32)
    vectors[2, 0] = math.nan  # a model's NaN: OpenSearch refuses that one document
    payload = {"items": [item.to_message() for item in items], "vectors": pack(vectors), "model": "m"}

    index.apply(args=(payload,))

    records = {record.id: record for record in runtime.ledger.get([good, bad])}
    assert records[good].state is State.DONE
    assert records[bad].state is State.FAILED and "refused a document" in (records[bad].error or "")
    client = OpenSearch(opensearch_node.url)
    client.indices.refresh(index=alias)
    assert client.count(index=alias, body={"query": {"term": {"source": good_items[0].source}}})["count"] == 1
    client.indices.delete(index=f"{alias}-*")


def test_settling_a_source_the_ledger_lost_keeps_its_documents_and_ends_nothing(runtime: Runtime) -> None:
    """After a Redis restart without persistence an index task writes documents of a source the ledger no longer
    knows: the task finishes (the documents stay, the sweeper's log tells to ingest again), it does not crash."""
    from shared.lifecycle import settle

    settle(runtime, {("a-source-the-ledger-never-heard-of", "v1")})
