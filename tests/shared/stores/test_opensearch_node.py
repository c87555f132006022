"""The OpenSearch node the store tests run against is real: k-NN answers nearest-neighbour queries.

The node is assembled from Maven Central artifacts (tests/opensearch/build.sh). The k-NN plugin zip
published there carries no native libraries, so its faiss and nmslib engines cannot run: a faiss index,
or a knn_vector without a method (faiss is the plugin's default engine), crashes the whole node on its first
flush. Every index here therefore uses `engine: lucene` (the store's default, `auto`, picks it on this node;
tests/shared/stores/test_opensearch.py checks that and the refusal of faiss), and faiss is never written.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from opensearchpy import OpenSearch, helpers

from tests.support.services import OpenSearchNode

# id: (vector, tag). f points the same way as [1, 1, 0, 0] but lies far from it, so l2 and cosine
# similarity disagree on some queries. No two vectors are orthogonal: with one-hot vectors every cosine
# score between documents ties, the HNSW graph is barely connected, and the (approximate) search missed
# the true nearest document.
DOCS = {
    "a": ([1.0, 0.1, 0.1, 0.1], "x"),
    "b": ([0.1, 1.0, 0.1, 0.1], "y"),
    "c": ([0.1, 0.1, 1.0, 0.1], "x"),
    "d": ([0.1, 0.1, 0.1, 1.0], "y"),
    "e": ([0.8, 0.3, 0.1, 0.1], "y"),
    "f": ([3.0, 3.0, 0.3, 0.3], "x"),
}
NEAR_A = [1.0, 0.15, 0.1, 0.1]
NEAR_C = [0.1, 0.1, 0.9, 0.3]
DIAGONAL = [0.5, 0.45, 0.1, 0.1]


@pytest.fixture
def client(opensearch_url: str) -> Iterator[OpenSearch]:
    with OpenSearch(opensearch_url) as client:
        yield client


def vector_index(client: OpenSearch, space_type: str) -> str:
    """A fresh index of DOCS with a lucene HNSW knn_vector field `v` in the given space."""
    name = f"vectors-{space_type}-{uuid.uuid4().hex[:8]}"
    method = {"name": "hnsw", "space_type": space_type, "engine": "lucene", "parameters": {"m": 16}}
    client.indices.create(
        index=name,
        body={
            "settings": {"index": {"knn": True, "number_of_shards": 1, "number_of_replicas": 0}},
            "mappings": {
                "properties": {
                    "v": {"type": "knn_vector", "dimension": 4, "method": method},
                    "tag": {"type": "keyword"},
                }
            },
        },
    )
    actions = [{"_index": name, "_id": id_, "v": v, "tag": tag} for id_, (v, tag) in DOCS.items()]
    helpers.bulk(client, actions, refresh=True)
    return name


def nearest(client: OpenSearch, index: str, vector: list[float], k: int = 2, **filter_: Any) -> list[str]:
    """Ids of the k nearest documents, best first; keyword filters (tag="x") go inside the knn clause."""
    knn: dict[str, Any] = {"vector": vector, "k": k}
    if filter_:
        knn["filter"] = {"term": filter_}
    hits = client.search(index=index, body={"size": k, "query": {"knn": {"v": knn}}})["hits"]["hits"]
    return [hit["_id"] for hit in hits]


def test_the_node_runs_the_knn_plugin(client: OpenSearch) -> None:
    plugins = client.cat.plugins(format="json")
    assert {(plugin["component"], plugin["version"]) for plugin in plugins} == {("opensearch-knn", "2.19.1.0")}


@pytest.mark.parametrize(
    ("space_type", "diagonal"),
    [
        ("l2", ["e", "a"]),  # by distance, e and a lie closest to DIAGONAL
        ("cosinesimil", ["f", "e"]),  # by angle, f points almost exactly that way, however far it lies
    ],
)
def test_knn_returns_the_nearest_documents(client: OpenSearch, space_type: str, diagonal: list[str]) -> None:
    index = vector_index(client, space_type)
    try:
        assert nearest(client, index, NEAR_A) == ["a", "e"]
        assert nearest(client, index, NEAR_C) == ["c", "d"]
        assert nearest(client, index, DIAGONAL) == diagonal
    finally:
        client.indices.delete(index=index)


@pytest.mark.parametrize(
    ("space_type", "diagonal_x"),
    [
        ("l2", ["a", "c"]),
        ("cosinesimil", ["f", "a"]),
    ],
)
def test_a_filter_inside_the_knn_clause_returns_only_matching_documents(
    client: OpenSearch, space_type: str, diagonal_x: list[str]
) -> None:
    index = vector_index(client, space_type)
    try:
        # a is the nearest overall but tagged x: the filter applies before the k nearest are chosen.
        assert nearest(client, index, NEAR_A, tag="y") == ["e", "b"]
        assert nearest(client, index, DIAGONAL, tag="x") == diagonal_x
        # asked for more than match, it returns only the matching ones rather than filling up with others.
        assert sorted(nearest(client, index, NEAR_A, k=5, tag="x")) == ["a", "c", "f"]
    finally:
        client.indices.delete(index=index)


def test_a_restarted_node_keeps_its_indices(opensearch_node: OpenSearchNode) -> None:
    with OpenSearch(opensearch_node.url) as client:
        index = vector_index(client, "l2")
    opensearch_node.stop()
    opensearch_node.start()
    with OpenSearch(opensearch_node.url) as client:
        try:
            assert nearest(client, index, NEAR_A) == ["a", "e"]
        finally:
            client.indices.delete(index=index)
