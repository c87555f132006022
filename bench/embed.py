"""`mmindex bench embed`: the pipeline's decode and embed stages against the plain script a user would write.

`embed`: the same photo-sized JPEGs, made in the run, go (a) through Pillow and
`SentenceTransformer.encode` and (b) through the pipeline's decode and embed stages
(`decode_all`, then `embed_items` per model batch; no ledger, no index write).
Words in pictures are off (the plain script reads none; `bench ocr` measures their cost). Both use one loaded
model, on one device, with the same torch threads; each is warmed
up once, then they run alternately, chunk by chunk, and for each chunk the better of two rounds counts.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from rich.console import Console

from bench.gather import bench_gathering
from shared.artifacts import thumbnail_uri
from shared.config import Settings, get_settings
from shared.documents import Item, Space
from shared.errors import ModelUnavailable, one_line
from shared.ledger import SourceRecord, State, source_id
from shared.models import Backend, Encoder, go_offline_unless_hub_reachable
from shared.runtime import Runtime
from shared.storage.local import content_hash
from tests.support.media import photo
from tests.support.models import VIT_B_32, build_random_clip
from workers.decode import batches, decode_all
from workers.embed import embed_items

TARGET = 0.9
"""The pipeline should reach this share of the plain script's throughput."""
ROUNDS = 2
PHOTO_SIZE = (640, 480)
USER_BATCH = 32  # what the plain script passes to encode()
NOISE = 6.0
"""Sensor-like noise in the photos (standard deviation, in 8-bit levels): JPEGs that cost what photos cost."""


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


def load_vision(home: Path, log: Console) -> tuple[Runtime, Encoder, str]:
    """The pipeline's own encoder for the vision space: real CLIP weights if they load, else a random ViT-B/32."""
    go_offline_unless_hub_reachable()
    base = get_settings()
    name = base.models.vision

    def runtime_for(vision: str) -> tuple[Runtime, Encoder]:
        settings = base.model_copy(
            update={"home": home, "models": base.models.model_copy(update={"vision": vision, "ocr": "none"})}
        )
        runtime = Runtime(settings)
        encoder = runtime.encoder(Space.VISION)
        if encoder.backend is not Backend.TORCH:  # the baseline calls SentenceTransformer.encode
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
        items.extend(found.items)
    decoded = time.perf_counter()
    for batch in batches(items, runtime.settings.models.batch_size):
        embedded = embed_items(batch, runtime)
        if embedded.failed:
            raise embedded.failed[0][1]
    return decoded - started, time.perf_counter() - decoded


def bench_embed(*, images: int = 200, backend: str | None = None, log: Console) -> dict[str, Any]:
    """Images per second through the plain script and through decode → embed, and their ratio; with `backend`
    (`torch,onnx,openvino`), the models on each backend instead (bench/backends.py)."""
    import torch

    if backend:
        from bench.backends import bench_backends

        return bench_backends(backend, images=images, log=log)

    with tempfile.TemporaryDirectory(prefix="mmindex-bench-") as scratch:
        home = Path(scratch)
        log.print(f"bench: making {images} photos of {PHOTO_SIZE[0]}x{PHOTO_SIZE[1]}", highlight=False)
        paths = [photo(home / "photos" / f"photo-{n:04d}.jpg", n, PHOTO_SIZE, noise=NOISE) for n in range(images)]
        runtime, encoder, label = load_vision(home, log)
        threads = runtime.settings.torch_threads()
        torch.set_num_threads(threads)
        model = encoder.model  # the very model object the embed stage uses
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
        log.print("bench: one-photo embed tasks, one by one and side by side", highlight=False)
        items = [
            item for found in decode_all(records, runtime) if not isinstance(found, Exception) for item in found.items
        ]
        gathering = bench_gathering(items, runtime)
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
        "cross_task_batching": gathering,
    }
