"""shared/stores/opensearch.py beyond the contract: faults, against the real node."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.config import Settings, StoreKind
from shared.documents import Document, Item, Space, document_id
from shared.errors import PermanentError, StoreError
from shared.generations import GenerationState, Lineage
from shared.stores import UpsertResult
from shared.stores.opensearch import OpenSearchStore, cosine, make_client
from shared.stores.opensearch_generations import Read
from tests.support.services import OpenSearchNode


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


def test_a_new_space_is_added_beside_the_existing_one(opensearch_url: str, alias: str) -> None:
    store = store_on(opensearch_url, alias)
    store.upsert(documents(2))
    store.ensure({Space.TEXT: 3})
    assert store.dimensions() == {"vision": 4, "text": 3}
    assert store.count() == 2
    aliased = make_client(store._settings).indices.get_alias(name=alias)
    assert sorted(aliased) == [f"{alias}-text-g1", f"{alias}-vision-g1"]


def test_a_first_writer_that_read_before_another_recorded_generation_1_writes_into_it(
    opensearch_url: str, alias: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = store_on(opensearch_url, alias), store_on(opensearch_url, alias)
    first.ensure({Space.VISION: 4}, model="m")
    # The second read the generations (twice: to write, then to make generation 1) a moment before the first recorded
    # its own: it finds the index made, and its record of generation 1 comes too late.
    real = second._lineages.read
    stale = iter([{Space.VISION: Read(Lineage(Space.VISION))}] * 2)
    monkeypatch.setattr(second._lineages, "read", lambda spaces: next(stale, None) or real(spaces))

    assert second.upsert(documents(2)) == UpsertResult(written=2)
    assert next(stale, None) is None
    (generation,) = first.lineage(Space.VISION).generations
    assert (generation.number, generation.state, generation.model) == (1, GenerationState.SERVING, "m")
    assert first.count(Space.VISION) == 2


def test_first_writers_at_once_end_with_one_generation_1(opensearch_url: str, alias: str) -> None:
    from concurrent.futures import ThreadPoolExecutor
    from threading import Barrier

    writers = 6
    stores = [store_on(opensearch_url, alias) for _ in range(writers)]
    start = Barrier(writers)

    def write(number: int) -> UpsertResult:
        start.wait()
        return stores[number].upsert(documents(writers)[number : number + 1])

    with ThreadPoolExecutor(max_workers=writers) as pool:
        results = list(pool.map(write, range(writers)))

    assert [result.failed for result in results] == [{}] * writers
    assert [g.number for g in stores[0].lineage(Space.VISION).generations] == [1]
    assert stores[0].count(Space.VISION) == writers


def test_a_new_index_takes_its_graph_parameters_from_the_settings(opensearch_url: str, alias: str) -> None:
    options = {
        "url": opensearch_url,
        "engine": "lucene",
        "replicas": 0,
        "index": alias,
        "m": 24,
        "ef_construction": 200,
    }
    store = OpenSearchStore(Settings(store=StoreKind.OPENSEARCH, opensearch=options))
    store.ensure({Space.VISION: 4})
    mappings = make_client(store._settings).indices.get_mapping(index=alias)
    (index,) = mappings.values()
    method = index["mappings"]["properties"]["vector_vision"]["method"]
    assert (method["engine"], method["parameters"]) == ("lucene", {"m": 24, "ef_construction": 200})


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


@pytest.fixture
def throttled_node(tmp_path_factory: pytest.TempPathFactory, opensearch_node: OpenSearchNode) -> Iterator[str]:
    """A second node with one write thread and a write queue of one: concurrent bulks get 429s."""
    import os
    import shutil
    import tempfile

    from tests.support.services import free_port

    data = Path(tempfile.mkdtemp(prefix="mmindex-opensearch-throttled-", dir="/tmp" if os.geteuid() == 0 else None))
    node = OpenSearchNode(
        port=free_port(),
        data=data,
        log=tmp_path_factory.mktemp("throttled") / "opensearch.log",
        settings=("-Ethread_pool.write.size=1", "-Ethread_pool.write.queue_size=1"),
    )
    try:
        node.start()
        yield node.url
    finally:
        node.stop()
        shutil.rmtree(data, ignore_errors=True)


def test_writes_refused_with_429_are_retried_until_every_document_is_in_once(throttled_node: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    options = {"url": throttled_node, "engine": "lucene", "replicas": 0, "index": "throttled", "bulk_docs": 50}
    store = OpenSearchStore(Settings(store=StoreKind.OPENSEARCH, opensearch=options))
    store.ensure({Space.VISION: 4})
    batches = [documents(200, version=f"v{n}") for n in range(6)]

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(store.upsert, batches))

    assert [result.failed for result in results] == [{}] * 6
    assert store.count() == 200 * 6
    stats = make_client(store._settings).nodes.stats(metric="thread_pool")
    rejected = sum(node["thread_pool"]["write"]["rejected"] for node in stats["nodes"].values())
    assert rejected > 0, "the node never refused a write: the test did not provoke 429s"


def test_sigv4_signs_every_request_for_the_configured_service() -> None:
    options = {"url": "https://search.example.invalid", "auth": "sigv4", "service": "aoss", "region": "eu-west-1"}
    client = make_client(Settings(store=StoreKind.OPENSEARCH, opensearch=options).opensearch)
    signer = client.transport.kwargs["http_auth"]

    headers = signer("GET", "https://search.example.invalid/_cat/indices", None, {})

    assert headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=testing/")
    assert "/eu-west-1/aoss/aws4_request" in headers["Authorization"]


def test_the_serverless_write_path_replaces_documents_without_custom_ids(opensearch_url: str, alias: str) -> None:
    # The node ignores the signature; what runs is the Serverless path: no _id, no refresh, delete then index.
    options = {"url": opensearch_url, "auth": "sigv4", "service": "aoss", "region": "us-east-1", "index": alias}
    store = OpenSearchStore(Settings(store=StoreKind.OPENSEARCH, opensearch={**options, "engine": "lucene"}))
    batch = documents(6)

    def visible(expected: int) -> bool:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if store.count() == expected:
                return True
            time.sleep(0.5)
        return False

    assert store.upsert(batch).written == 6
    assert visible(6)
    assert store.upsert(batch).written == 6  # a redelivery, after the first write became searchable
    assert visible(6)
    assert store.search(Space.VISION, batch[2].vector, k=6)[0].uri == batch[2].item.uri


def test_a_new_generation_goes_live_in_one_commit_and_the_alias_follows(opensearch_url: str, alias: str) -> None:
    store = store_on(opensearch_url, alias)
    store.upsert(documents(3))
    rebuilt = store_on(opensearch_url, alias)
    rebuilt.begin(Space.VISION, "m2", 4)
    new = documents(1, version="v2")
    new[0].model = "m2"
    assert rebuilt.upsert(new, generation=2).written == 1

    lineage = rebuilt.lineage(Space.VISION)
    rebuilt.commit(lineage, lineage.swap(2))

    hits = store_on(opensearch_url, alias).search(Space.VISION, new[0].vector, k=5)
    assert [(hit.id, hit.generation) for hit in hits] == [(new[0].item.id, 2)]
    assert list(make_client(store._settings).indices.get_alias(name=alias)) == [f"{alias}-vision-g2"]


# ---------------------------------------------------------------- the k-NN engine


def test_the_engine_follows_the_target_unless_set() -> None:
    def engine(**options: str) -> str:
        return Settings(store=StoreKind.OPENSEARCH, opensearch=options).opensearch.knn_engine()

    assert engine(url="http://127.0.0.1:9200") == "lucene"
    assert engine(url="https://search-x.eu-west-1.es.amazonaws.com") == "faiss"
    assert engine(url="https://abc.eu-west-1.aoss.amazonaws.com", auth="sigv4", service="aoss") == "faiss"
    assert engine(url="https://search.internal:443", auth="sigv4") == "faiss"
    assert engine(url="https://search-x.eu-west-1.es.amazonaws.com", engine="lucene") == "lucene"
    # Basic auth in the URL: the host is what follows the user information, not the user's name.
    assert engine(url="https://admin:pw@search-x.eu-west-1.es.amazonaws.com") == "faiss"
    assert engine(url="https://amazonaws.com:pw@search.internal:9200") == "lucene"


def test_default_settings_make_a_working_index_on_the_project_node(opensearch_node: OpenSearchNode, alias: str) -> None:
    """The README's first steps: no engine chosen, the node `make opensearch` runs."""
    options = {"url": opensearch_node.url, "index": alias, "replicas": 0, "refresh": "wait_for"}
    store = OpenSearchStore(Settings(store=StoreKind.OPENSEARCH, opensearch=options))
    batch = documents(4)
    assert store.upsert(batch).written == 4
    make_client(store._settings).indices.flush(index=alias)  # builds the graphs: a faiss one kills this node
    assert [hit.id for hit in store.search("vision", batch[2].vector, k=1)] == [batch[2].item.id]
    assert opensearch_node.process is not None and opensearch_node.process.poll() is None


def test_a_native_engine_is_refused_before_writing_on_a_node_without_it(
    opensearch_node: OpenSearchNode, alias: str
) -> None:
    options = {"url": opensearch_node.url, "index": alias, "replicas": 0, "engine": "faiss"}
    store = OpenSearchStore(Settings(store=StoreKind.OPENSEARCH, opensearch=options))
    with pytest.raises(PermanentError) as refused:
        store.upsert(documents(3))
    message = str(refused.value)
    assert "\n" not in message and "faiss" in message and "MMINDEX_OPENSEARCH__ENGINE=lucene" in message
    assert not make_client(store._settings).indices.exists_alias(name=alias)  # nothing written
    assert opensearch_node.process is not None and opensearch_node.process.poll() is None


def test_an_unreachable_node_s_error_names_it_without_its_password() -> None:
    """The error is logged by Celery as it is, before any reason is recorded: it must hold no password itself."""
    from tests.support.services import free_port

    options = {"url": f"http://admin:hunter2@127.0.0.1:{free_port()}", "timeout_s": 1, "max_retries": 0}
    store = OpenSearchStore(Settings(store=StoreKind.OPENSEARCH, opensearch=options))
    with pytest.raises(StoreError) as raised:
        store.count()
    assert "admin:***@127.0.0.1" in str(raised.value)
    assert "hunter2" not in str(raised.value) and "hunter2" not in repr(raised.value)
