"""Benchmarks for `mmindex bench NAME`: a pipeline stage measured against the plain script a user would write.

`embed`: the same photo-sized JPEGs, made in the run, go (a) through Pillow and
`SentenceTransformer.encode` and (b) through the pipeline's decode and embed stages
(`decode_all`, then `embed_items` per model batch; no ledger, no index write).
Both use one loaded model, on one device, with the same torch threads; each is warmed
up once, then they run alternately, chunk by chunk, and for each chunk the better of two rounds counts.

`opensearch`: against the node the settings name, under a fresh alias whose indices are
deleted at the end. (a) The same image documents (seeded random unit 512-d vectors) are
written through `OpenSearchStore.upsert` and through plain `helpers.bulk`, into two indices
the store created alike, alternately chunk by chunk; docs/s of each and their ratio.
(b) The store's index is filled to `docs` documents; 100 random unit queries go through
`OpenSearchStore.search`, and recall@10 is measured against exact (numpy) search,
(c) with the p50 and p99 of their latency: first over the segments as written, then after
a force merge to one segment.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageDraw
from rich.console import Console

from shared.artifacts import thumbnail_uri
from shared.config import Settings, get_settings
from shared.documents import Document, Item, Space, document_id
from shared.errors import ModelUnavailable, PermanentError, StoreError, one_line
from shared.ledger import SourceRecord, State, source_id
from shared.models import go_offline_unless_hub_reachable
from shared.models.sentence import SentenceTransformerEncoder
from shared.runtime import Runtime
from shared.storage.local import content_hash
from workers.decode import batches, decode_all
from workers.embed import embed_items

TARGET = 0.9
"""The pipeline should reach this share of the plain script's throughput."""
ROUNDS = 2
PHOTO_SIZE = (640, 480)
USER_BATCH = 32  # what the plain script passes to encode()

Benchmark = Callable[..., dict[str, Any]]


def make_photos(directory: Path, count: int, seed: int = 0) -> list[Path]:
    """`count` different photo-like JPEGs: a colour gradient, a few shapes, sensor-like noise."""
    rng = np.random.default_rng(seed)
    width, height = PHOTO_SIZE
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    paths = []
    for index in range(count):
        angle = rng.uniform(0, 2 * np.pi)
        ramp = xs * np.cos(angle) + ys * np.sin(angle)
        ramp = (ramp - ramp.min()) / max(float(np.ptp(ramp)), 1.0)
        start, end = rng.uniform(0, 255, (2, 3)).astype(np.float32)
        image = Image.fromarray((start + ramp[..., None] * (end - start)).astype(np.uint8), "RGB")
        draw = ImageDraw.Draw(image)
        for _ in range(int(rng.integers(3, 9))):
            x0, x1 = sorted(int(v) for v in rng.integers(0, width, 2))
            y0, y1 = sorted(int(v) for v in rng.integers(0, height, 2))
            fill = tuple(int(v) for v in rng.integers(0, 256, 3))
            shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
            shape((x0, y0, x1 + 1, y1 + 1), fill=fill)
        noisy = np.asarray(image, dtype=np.float32) + rng.normal(0, 6, (height, width, 3)).astype(np.float32)
        path = directory / f"photo-{index:04d}.jpg"
        Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB").save(path, format="JPEG", quality=90)
        paths.append(path)
    return paths


def source_records(paths: list[Path], settings: Settings) -> list[SourceRecord]:
    """Ledger-shaped records for local files, as intake would make them (the ledger itself is not touched)."""
    records = []
    for path in paths:
        key = str(path.resolve())
        records.append(
            SourceRecord(
                id=source_id("local", key),
                root="local",
                key=key,
                uri=key,
                version=content_hash(path),
                pipeline=settings.pipeline_version,
                state=State.DECODING,
            )
        )
    return records


def load_vision(home: Path, log: Console) -> tuple[Runtime, SentenceTransformerEncoder, str]:
    """The pipeline's own encoder for the vision space: real CLIP weights if they load, else a random ViT-B/32."""
    from shared.models.random_clip import VIT_B_32, build_random_clip

    go_offline_unless_hub_reachable()
    base = get_settings()
    name = base.models.vision

    def runtime_for(vision: str) -> tuple[Runtime, SentenceTransformerEncoder]:
        settings = base.model_copy(update={"home": home, "models": base.models.model_copy(update={"vision": vision})})
        runtime = Runtime(settings)
        encoder = runtime.encoder(Space.VISION)
        if not isinstance(encoder, SentenceTransformerEncoder):
            raise ModelUnavailable(f"the embed benchmark needs a sentence-transformers encoder, got {encoder!r}")
        return runtime, encoder

    try:
        runtime, encoder = runtime_for(name)
        return runtime, encoder, f"{name} (as configured)"
    except ModelUnavailable as error:
        log.print(f"bench: {one_line(error)[:200]}", highlight=False)
        log.print("bench: building a ViT-B/32-sized CLIP with random weights instead (same cost)", highlight=False)
    path = build_random_clip(home / "models" / "clip-ViT-B-32-random", VIT_B_32)
    runtime, encoder = runtime_for(str(path))
    return runtime, encoder, "clip-ViT-B-32 (random weights, same architecture)"


def run_baseline(paths: list[Path], model: Any) -> float:
    """What a user would write: open every file with Pillow, encode them all; seconds spent."""
    started = time.perf_counter()
    images = [Image.open(path).convert("RGB") for path in paths]
    model.encode(images, batch_size=USER_BATCH, show_progress_bar=False)
    return time.perf_counter() - started


def run_pipeline(records: list[SourceRecord], runtime: Runtime) -> tuple[float, float]:
    """The decode and embed stages over every record; seconds spent in each."""
    started = time.perf_counter()
    items: list[Item] = []
    for found in decode_all(records, runtime):
        if isinstance(found, Exception):
            raise found
        items.extend(found)
    decoded = time.perf_counter()
    for batch in batches(items, runtime.settings.models.batch_size):
        embedded = embed_items(batch, runtime)
        if embedded.failed:
            raise embedded.failed[0][1]
    return decoded - started, time.perf_counter() - decoded


def bench_embed(*, images: int = 200, log: Console) -> dict[str, Any]:
    """Images per second through the plain script and through decode → embed, and their ratio."""
    import torch

    with tempfile.TemporaryDirectory(prefix="mmindex-bench-") as scratch:
        home = Path(scratch)
        (home / "photos").mkdir()
        log.print(f"bench: making {images} photos of {PHOTO_SIZE[0]}x{PHOTO_SIZE[1]}", highlight=False)
        paths = make_photos(home / "photos", images)
        runtime, encoder, label = load_vision(home, log)
        threads = runtime.settings.torch_threads()
        torch.set_num_threads(threads)
        model = encoder._model  # the very model object the embed stage uses
        records = source_records(paths, runtime.settings)
        log.print(f"bench: {label} on {encoder.device}, {threads} threads; warming up", highlight=False)
        warm = min(images, runtime.settings.models.batch_size)
        run_baseline(paths[:warm], model)
        run_pipeline(records[:warm], runtime)  # also loads what the stages import
        if not Path(thumbnail_uri(runtime.storage(records[0].uri), records[0], 0)).is_file():
            raise RuntimeError("the decode stage wrote its thumbnails outside the benchmark's temporary directory")
        size = runtime.settings.models.batch_size
        chunks = [(paths[i : i + size], records[i : i + size]) for i in range(0, images, size)]
        # Seconds per chunk and round: baseline, pipeline decode, pipeline embed.
        spent = np.zeros((ROUNDS, len(chunks), 3))
        for round_ in range(ROUNDS):
            # Alternate chunk by chunk, in ABBA order, so load from other processes falls on both alike.
            for index, (chunk_paths, chunk_records) in enumerate(chunks):
                if round_ % 2:
                    decode_s, embed_s = run_pipeline(chunk_records, runtime)
                    baseline_s = run_baseline(chunk_paths, model)
                else:
                    baseline_s = run_baseline(chunk_paths, model)
                    decode_s, embed_s = run_pipeline(chunk_records, runtime)
                spent[round_, index] = (baseline_s, decode_s, embed_s)
            base, decode, embed = spent[round_].sum(axis=0)
            log.print(
                f"bench: round {round_ + 1}/{ROUNDS}: baseline {images / base:.1f} images/s, "
                f"pipeline {images / (decode + embed):.1f} images/s",
                highlight=False,
            )
    # The best of the rounds, chunk by chunk: a burst of load elsewhere spoils one chunk, not the figure.
    best_baseline = float(spent[:, :, 0].min(axis=0).sum())
    pipeline_best = spent[:, :, 1:].sum(axis=2).argmin(axis=0)
    decode_s, embed_s = (float(v) for v in spent[pipeline_best, np.arange(len(chunks)), 1:].sum(axis=0))
    baseline_rate = images / best_baseline
    pipeline_rate = images / (decode_s + embed_s)
    ratio = round(pipeline_rate / baseline_rate, 3)
    return {
        "model": label,
        "device": encoder.device,
        "threads": threads,
        "images": images,
        "image_size": f"{PHOTO_SIZE[0]}x{PHOTO_SIZE[1]}",
        "batch_size": runtime.settings.models.batch_size,
        "rounds": ROUNDS,
        "baseline_s": round(best_baseline, 3),
        "pipeline_s": round(decode_s + embed_s, 3),
        "pipeline_decode_s": round(decode_s, 3),
        "pipeline_embed_s": round(embed_s, 3),
        "baseline_images_per_s": round(baseline_rate, 2),
        "pipeline_images_per_s": round(pipeline_rate, 2),
        "ratio": ratio,
        "target": TARGET,
        "met": ratio >= TARGET,
    }


# ---------------------------------------------------------------- opensearch

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
EF_SEARCH = (100, 400)
"""Candidate lists tried with plain queries after the store's own, to show what recall a wider search buys."""


def unit_vectors(count: int, seed: int) -> np.ndarray[Any, np.dtype[np.float32]]:
    """`count` seeded random float32 vectors of length one."""
    vectors = np.random.default_rng(seed).standard_normal((count, DIMS), dtype=np.float32)
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
            modality="image",
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


def bench_opensearch(*, docs: int = 100_000, log: Console) -> dict[str, Any]:
    """Bulk docs/s through the store and through plain bulk, then recall@10 and latency of the store's k-NN search."""
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
        f"space {options.space_type}, {docs} documents of {DIMS}-d, {chunk} per bulk request",
        highlight=False,
    )
    vectors = unit_vectors(docs, seed=0)
    queries = unit_vectors(QUERIES + WARMUP_QUERIES, seed=1)
    created: list[str] = []
    try:
        store.ensure({Space.VISION: DIMS})  # the store's own index, behind the alias
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
            """The store's searches, then the same query body sent plainly, then wider plain searches."""
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
            for ef_search in (None, *EF_SEARCH):
                clause: dict[str, Any] = {"k": K}
                if ef_search is not None:
                    clause["method_parameters"] = {"ef_search": ef_search}
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
                label = "plain" if ef_search is None else f"plain_ef_search_{ef_search}"
                figures[label] = {"recall_at_10": recall(plain), "query_p50_ms": p50, "query_p99_ms": p99}
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
        if created:
            client.indices.delete(index=",".join(created), ignore_unavailable=True)
            log.print(f"bench: deleted {', '.join(created)}", highlight=False)
    ratio = round(float(store_rate / raw_rate), 3)
    return {
        "opensearch": node,
        "engine": options.engine,
        "space_type": options.space_type,
        "docs": docs,
        "dims": DIMS,
        "bulk_docs_timed": timed,
        "bulk_chunk": chunk,
        "bulk_docs_per_s_store": round(float(store_rate), 1),
        "bulk_docs_per_s_raw": round(float(raw_rate), 1),
        "bulk_ratio": ratio,
        "bulk_target": TARGET,
        "bulk_met": ratio >= TARGET,
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


BENCHMARKS: dict[str, Benchmark] = {"embed": bench_embed, "opensearch": bench_opensearch}
"""Benchmarks by name, as `mmindex bench NAME` finds them."""
