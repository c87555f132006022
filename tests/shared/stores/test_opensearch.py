"""shared/stores/opensearch.py beyond the contract: faults, against the real node."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from shared.config import Settings, StoreKind
from shared.documents import Document, Item, Space, document_id
from shared.errors import PermanentError, StoreError
from shared.stores.opensearch import OpenSearchStore, cosine, make_client
from tests.conftest import OpenSearchNode


def store_on(url: str, alias: str) -> OpenSearchStore:
    options = {"url": url, "engine": "lucene", "refresh": "wait_for", "replicas": 0, "index": alias, "max_retries": 1}
    return OpenSearchStore(Settings(store=StoreKind.OPENSEARCH, opensearch=options))


@pytest.fixture
def alias(opensearch_url: str) -> Iterator[str]:
    name = f"faults-{uuid.uuid4().hex[:12]}"
    yield name
    make_client(store_on(opensearch_url, name)._settings).indices.delete(index=f"{name}-*", ignore_unavailable=True)


def documents(count: int, version: str = "v1") -> list[Document]:
    docs = []
    for index in range(count):
        key = f"photos/{index}.jpg"
        item = Item(
            id=document_id("b", key, version, 0, Space.VISION),
            source_id=key,
            source=f"s3://b/{key}",
            version=version,
            uri=f"s3://b/{key}",
            modality="image",
            item=0,
            space=Space.VISION,
        )
        vector = [1.0 if position == index % 4 else 0.1 for position in range(4)]
        norm = sum(value * value for value in vector) ** 0.5
        docs.append(Document(item, [value / norm for value in vector], "m", "1"))
    return docs


def test_a_node_that_is_down_is_a_retryable_error_and_nothing_is_written_twice(
    opensearch_node: OpenSearchNode, alias: str
) -> None:
    store = store_on(opensearch_node.url, alias)
    batch = documents(10)
    assert store.upsert(batch[:5]).written == 5

    opensearch_node.stop()
    try:
        with pytest.raises(StoreError, match="unreachable"):
            store.upsert(batch)
    finally:
        opensearch_node.start()

    # The retry (as a task's redelivery would do) writes the whole batch once.
    assert store.upsert(batch).written == 10
    assert store.count() == 10


def test_a_missing_index_reads_as_empty(opensearch_url: str, alias: str) -> None:
    store = store_on(opensearch_url, alias)
    assert store.dimensions() == {}
    assert store.search(Space.VISION, [1.0, 0.0, 0.0, 0.0], k=5) == []
    assert store.count() == 0
    assert store.delete_source("s3://b/photos/0.jpg") == 0


def test_a_model_of_another_dimension_is_refused_with_what_to_do(opensearch_url: str, alias: str) -> None:
    store = store_on(opensearch_url, alias)
    store.upsert(documents(2))
    with pytest.raises(PermanentError, match="holds 4-d vectors but the model gives 8-d"):
        store.ensure({Space.VISION: 8})


def test_a_new_space_is_added_to_the_existing_index(opensearch_url: str, alias: str) -> None:
    store = store_on(opensearch_url, alias)
    store.upsert(documents(2))
    store.ensure({Space.TEXT: 3})
    assert store.dimensions() == {"vision": 4, "text": 3}
    assert store.count() == 2


@pytest.mark.parametrize("space_type", ["cosinesimil", "innerproduct", "l2"])
def test_scores_are_cosine_similarity_whatever_the_space_type(opensearch_url: str, alias: str, space_type: str) -> None:
    options = {"url": opensearch_url, "engine": "lucene", "refresh": "wait_for", "replicas": 0, "index": alias}
    store = OpenSearchStore(Settings(store=StoreKind.OPENSEARCH, opensearch={**options, "space_type": space_type}))
    batch = documents(4)
    store.upsert(batch)
    query = batch[0].vector
    (best, second, *_) = store.search(Space.VISION, query, k=4)
    assert best.score == pytest.approx(1.0, abs=1e-3)
    expected = sum(a * b for a, b in zip(query, batch[1].vector, strict=True))
    assert second.score == pytest.approx(expected, abs=1e-3)


def test_cosine_inverts_each_space_types_score() -> None:
    for cos in (-0.5, 0.0, 0.3, 0.99):
        assert cosine((1 + cos) / 2, "cosinesimil") == pytest.approx(cos)
        assert cosine(cos + 1 if cos >= 0 else 1 / (1 - cos), "innerproduct") == pytest.approx(cos)
        assert cosine(1 / (1 + (2 - 2 * cos)), "l2") == pytest.approx(cos)
