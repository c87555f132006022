"""`mmindex bench opensearch`: the store's bulk writes against plain `helpers.bulk`, and k-NN recall and latency.

`opensearch`: against the node the settings name, under a fresh alias whose indices are
deleted at the end. (a) The same image documents (seeded unit 512-d vectors) are written
through `OpenSearchStore.upsert` and through plain `helpers.bulk`, into two indices the
store created alike, alternately chunk by chunk; docs/s of each and their ratio.
(b) The store's index is filled to `docs` documents; 100 queries from the same distribution
go through `OpenSearchStore.search`, and recall@10 is measured against exact (numpy)
search, (c) with the p50 and p99 of their latency: first over the segments as written,
then after a force merge to one segment. Plain queries with wider candidate lists show what
a larger `MMINDEX_OPENSEARCH__EF_SEARCH` buys.

The vectors (`data`): `clustered` (the default) imitates image embeddings, which fill a
low-dimensional, clustered part of their space: points of a mixture of Gaussians in 32
dimensions, mapped linearly to 512 and normalized, with a little isotropic noise.
`uniform` is uniform on the 512-d sphere: no structure at all, the worst case for any
graph index, since every point is nearly as far from a query as its nearest neighbours are.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import numpy as np
from rich.console import Console

from shared.config import get_settings
from shared.documents import Document, Item, Modality, Space, document_id
from shared.errors import PermanentError, StoreError
from shared.ledger import source_id

BULK_TARGET = 0.9
"""The store's bulk writes should reach this share of plain `helpers.bulk`'s throughput."""
DIMS = 512
"""Vector size of the documents: CLIP ViT-B/32's."""
WRITE_TIMED = 20_000
"""At most this many documents are timed through both write paths (the rest only fills the index)."""
QUERIES = 100
WARMUP_QUERIES = 10
K = 10
RECALL_TARGET = 0.95
MERGE_TIMEOUT_S = 3600.0
PROGRESS_EVERY = 10_000
EF_SEARCH = (200, 400, 800)
"""Candidate lists tried with plain queries after the store's own, to show what recall a wider search buys."""
DATA = ("clustered", "uniform")
LATENT = 32
"""Dimensions of the clustered data before it is mapped to `DIMS`."""
CLUSTERS = 1000
NOISE = 0.1
"""Isotropic noise per dimension of the clustered data, against about 1.4 of signal."""
STRUCTURE_SEED = 7


def unit_vectors(count: int, seed: int, data: str = "uniform") -> np.ndarray[Any, np.dtype[np.float32]]:
    """`count` seeded float32 vectors of length one, `clustered` or `uniform` (see the module's docstring)."""
    rng = np.random.default_rng(seed)
    if data == "uniform":
        vectors = rng.standard_normal((count, DIMS), dtype=np.float32)
    else:
        structure = np.random.default_rng(STRUCTURE_SEED)  # the same clusters and map for documents and queries
        centers = structure.standard_normal((CLUSTERS, LATENT), dtype=np.float32)
        mapping = structure.standard_normal((LATENT, DIMS), dtype=np.float32) / np.sqrt(LATENT, dtype=np.float32)
        latent = centers[rng.integers(CLUSTERS, size=count)] + rng.standard_normal((count, LATENT), dtype=np.float32)
        vectors = latent @ mapping + NOISE * rng.standard_normal((count, DIMS), dtype=np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def image_key(index: int) -> str:
    return f"photos/{index:07d}.jpg"


def image_version(index: int) -> str:
    return f"{index:040x}"  # shaped like a content hash


def image_id(index: int) -> str:
    return document_id("s3", image_key(index), image_version(index), 0, Space.VISION)


def image_documents(
    vectors: np.ndarray[Any, np.dtype[np.float32]], first: int, pipeline: str, model: str
) -> list[Document]:
    """Documents as the index stage makes them for images `first`, `first + 1`, ... in one bucket."""
    documents = []
    for offset, vector in enumerate(vectors):
        index = first + offset
        uri = f"s3://bench/{image_key(index)}"
        item = Item(
            id=image_id(index),
            source_id=source_id("s3", image_key(index)),
            source=uri,
            version=image_version(index),
            uri=uri,
            modality=Modality.IMAGE,
            item=0,
            space=Space.VISION,
            thumbnail=f"s3://bench/_mmindex/thumbnails/{index:07d}.jpg",
        )
        documents.append(Document(item, vector.tolist(), model, pipeline))
    return documents


def raw_actions(documents: list[Document], index: str, field: str) -> list[dict[str, Any]]:
    """The bulk actions a plain script would send for the same documents: same ids, same `_source`."""
    actions = []
    for document in documents:
        source = {key: value for key, value in document.fields().items() if value is not None}
        source[field] = document.vector
        actions.append({"_op_type": "index", "_index": index, "_id": document.item.id, "_source": source})
    return actions


def exact_top(
    vectors: np.ndarray[Any, np.dtype[np.float32]], queries: np.ndarray[Any, np.dtype[np.float32]]
) -> np.ndarray[Any, np.dtype[np.intp]]:
    """The `K` best documents of each query by dot product (cosine, for unit vectors)."""
    return np.argpartition(-(queries @ vectors.T), K - 1, axis=1)[:, :K]


def segments(client: Any, index: str) -> int:
    stats = client.indices.stats(index=index, metric="segments")
    return int(stats["indices"][index]["primaries"]["segments"]["count"])


def bench_opensearch(*, docs: int = 100_000, data: str = "clustered", log: Console) -> dict[str, Any]:
    """Bulk docs/s through the store and through plain bulk, then recall@10 and latency of the store's k-NN search."""
    if data not in DATA:
        raise PermanentError(f"unknown data {data!r}; choose {' or '.join(DATA)}")
    from opensearchpy import ConnectionError, ConnectionTimeout, helpers

    from shared.stores.opensearch import OpenSearchStore, make_client, vector_field

    base = get_settings()
    if not base.opensearch.url:
        raise PermanentError(
            "the opensearch benchmark needs a node: set MMINDEX_OPENSEARCH__URL (e.g. http://localhost:9200)"
        )
    alias = f"mmindex-bench-{uuid.uuid4().hex[:8]}"
    options = base.opensearch.model_copy(update={"index": alias, "refresh": "false"})
    settings = base.model_copy(update={"opensearch": options})
    store = OpenSearchStore(settings)
    client = make_client(options)
    field = vector_field(Space.VISION)
    chunk = options.bulk_docs
    pipeline, model = settings.pipeline_version, base.models.vision
    timed = min(docs, WRITE_TIMED)
    try:
        node = client.info()["version"]["number"]
    except (ConnectionError, ConnectionTimeout) as error:
        raise StoreError(f"OpenSearch at {options.url} is unreachable ({error})") from error
    log.print(
        f"bench: OpenSearch {node} at {options.url}, alias {alias}; engine {options.engine}, "
        f"space {options.space_type}, m {options.m}, ef_construction {options.ef_construction}, "
        f"ef_search {options.ef_search}; {docs} {data} documents of {DIMS}-d, {chunk} per bulk request",
        highlight=False,
    )
    vectors = unit_vectors(docs, seed=0, data=data)
    queries = unit_vectors(QUERIES + WARMUP_QUERIES, seed=1, data=data)
    created: list[str] = []
    try:
        store.ensure({Space.VISION: DIMS}, model)  # the store's own index (generation 1), behind the alias
        created.extend(client.indices.get_alias(name=alias))
        (store_index,) = created
        raw_index = f"{alias}-raw"
        mapping = client.indices.get_mapping(index=store_index)[store_index]["mappings"]["properties"][field]
        store.create_index(raw_index, {field: mapping}, alias=False)  # the same template, engine and method
        created.append(raw_index)

        # (a) The first `timed` documents through both paths, alternately chunk by chunk.
        log.print(f"bench: writing {timed} documents through the store and through plain bulk", highlight=False)
        spent = np.zeros(2)  # store, raw
        for number, start in enumerate(range(0, timed, chunk)):
            documents = image_documents(vectors[start : min(start + chunk, timed)], start, pipeline, model)
            actions = raw_actions(documents, raw_index, field)
            for path in (0, 1) if number % 2 == 0 else (1, 0):
                began = time.perf_counter()
                if path == 0:
                    result = store.upsert(documents)
                    if result.failed or result.written != len(documents):
                        raise RuntimeError(f"the store wrote {result.written} of {len(documents)}: {result.failed}")
                else:
                    written, _ = helpers.bulk(client, actions, chunk_size=chunk, max_retries=options.max_retries)
                    if written != len(actions):
                        raise RuntimeError(f"plain bulk wrote {written} of {len(actions)} documents")
                spent[path] += time.perf_counter() - began
        store_rate, raw_rate = timed / spent[0], timed / spent[1]
        log.print(f"bench: store {store_rate:.0f} docs/s, plain bulk {raw_rate:.0f} docs/s", highlight=False)
        client.indices.delete(index=raw_index)
        created.remove(raw_index)

        # (b) The rest of the documents through the store, then searches.
        index_s = float(spent[0])
        if docs > timed:
            log.print(f"bench: writing the other {docs - timed} documents through the store", highlight=False)
        for start in range(timed, docs, chunk):
            documents = image_documents(vectors[start : start + chunk], start, pipeline, model)
            began = time.perf_counter()
            result = store.upsert(documents)
            index_s += time.perf_counter() - began
            if result.failed or result.written != len(documents):
                raise RuntimeError(f"the store wrote {result.written} of {len(documents)}: {result.failed}")
            if (start + chunk) % PROGRESS_EVERY < chunk:
                done = min(start + chunk, docs)
                log.print(f"bench: {done} documents in, {done / index_s:.0f} docs/s so far", highlight=False)
        began = time.perf_counter()
        client.indices.refresh(index=store_index, request_timeout=MERGE_TIMEOUT_S)
        refresh_s = time.perf_counter() - began
        count = store.count(Space.VISION)
        if count != docs:
            raise RuntimeError(f"the index holds {count} documents, {docs} were written")

        ids = {image_id(index): index for index in range(docs)}
        truth = exact_top(vectors, queries[WARMUP_QUERIES:])

        def recall(found: list[set[int]]) -> float:
            shares = [len(hits & set(best.tolist())) / K for hits, best in zip(found, truth, strict=True)]
            return round(float(np.mean(shares)), 4)

        def percentiles(latency: list[float]) -> tuple[float, float]:
            p50, p99 = np.percentile(np.array(latency) * 1000, [50, 99])
            return round(float(p50), 2), round(float(p99), 2)

        def search_all() -> dict[str, Any]:
            """The store's searches, then plain queries with wider candidate lists (k, as the store asks)."""
            for query in queries[:WARMUP_QUERIES]:
                store.search(Space.VISION, query.tolist(), K)
            found, latency = [], []
            for query in queries[WARMUP_QUERIES:]:
                began = time.perf_counter()
                hits = store.search(Space.VISION, query.tolist(), K)
                latency.append(time.perf_counter() - began)
                found.append({ids[hit.id] for hit in hits})
            p50, p99 = percentiles(latency)
            figures: dict[str, Any] = {
                "segments": segments(client, store_index),
                "recall_at_10": recall(found),
                "query_p50_ms": p50,
                "query_p99_ms": p99,
            }
            for ef_search in EF_SEARCH:
                clause: dict[str, Any] = {"k": ef_search}
                plain, latency = [], []
                for query in queries[WARMUP_QUERIES:]:
                    body = {
                        "size": K,
                        "_source": {"excludes": [f"{field}*"]},
                        "query": {"knn": {field: {"vector": query.tolist(), **clause}}},
                    }
                    began = time.perf_counter()
                    answer = client.search(index=alias, body=body)
                    latency.append(time.perf_counter() - began)
                    plain.append({ids[hit["_source"]["id"]] for hit in answer["hits"]["hits"]})
                p50, p99 = percentiles(latency)
                figures[f"ef_search_{ef_search}"] = {
                    "recall_at_10": recall(plain),
                    "query_p50_ms": p50,
                    "query_p99_ms": p99,
                }
            return figures

        as_written = search_all()
        log.print(f"bench: as written: {as_written}", highlight=False)
        log.print("bench: force merging to one segment", highlight=False)
        began = time.perf_counter()
        client.indices.forcemerge(index=store_index, max_num_segments=1, request_timeout=MERGE_TIMEOUT_S)
        client.indices.refresh(index=store_index)
        merge_s = time.perf_counter() - began
        merged = search_all()
        log.print(f"bench: merged: {merged}", highlight=False)
    finally:
        if created:  # the store's indices: its generations and their record
            client.indices.delete(index=f"{alias}-*", ignore_unavailable=True)
            log.print(f"bench: deleted {alias}-*", highlight=False)
    ratio = round(float(store_rate / raw_rate), 3)
    return {
        "opensearch": node,
        "engine": options.engine,
        "space_type": options.space_type,
        "m": options.m,
        "ef_construction": options.ef_construction,
        "ef_search": options.ef_search,
        "data": data,
        "docs": docs,
        "dims": DIMS,
        "bulk_docs_timed": timed,
        "bulk_chunk": chunk,
        "bulk_docs_per_s_store": round(float(store_rate), 1),
        "bulk_docs_per_s_raw": round(float(raw_rate), 1),
        "bulk_ratio": ratio,
        "bulk_target": BULK_TARGET,
        "bulk_met": ratio >= BULK_TARGET,
        "index_s": round(index_s, 2),
        "index_docs_per_s": round(docs / index_s, 1),
        "refresh_s": round(refresh_s, 2),
        "force_merged": True,
        "merge_s": round(merge_s, 2),
        "queries": QUERIES,
        "k": K,
        **merged,
        "recall_target": RECALL_TARGET,
        "recall_met": bool(merged["recall_at_10"] >= RECALL_TARGET),
        "as_written": as_written,
    }
