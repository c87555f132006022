"""`mmindex bench embed --backend torch,onnx,openvino`: one model on several backends, in one run.

The same photos (photo-sized JPEGs made in the run, decoded once) and the same texts (the evaluation set's
documents and queries, `examples/eval`) go through the vision model's image tower and the text model, on torch
fp32 (the baseline) and on each backend asked for, at its precision (`onnx:fp32`, `openvino:int8`; a bare name
takes the precision `auto` gives on this machine). Throughput counts what an embed worker spends: preprocessing
and the model, from decoded pictures and strings. Backends take turns, batch by batch, for `ROUNDS` rounds, and
the best round of each batch counts, so that load from elsewhere falls on all of them alike.

Parity is measured against torch fp32: each item's cosine (mean and worst), and the overlap of the ten best
results of a search: the evaluation queries against its documents, and pictures against the other pictures.
A backend that misses `PARITY` is flagged; `TARGETS` are the speed-ups asked of int8.
"""

from __future__ import annotations

import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console

from shared.config import get_settings
from shared.documents import Space
from shared.errors import ModelUnavailable, one_line
from shared.models import Backend, Encoder, Precision, go_offline_unless_hub_reachable, model_setting
from shared.models.encoders import loader_for
from tests.support.media import photo_image
from tests.support.models import VIT_B_32, build_random_clip

ROUNDS = 3
PARITY = {"mean": 0.99, "worst": 0.97, "top10": 0.9}
"""What a backend must keep of torch fp32's vectors and search results."""
TARGETS = {"image": 2.5, "text": 2.0}
"""int8's speed-up over torch fp32 asked for: the ViT-B/32-sized image tower, the text model."""
EVAL = Path(__file__).resolve().parents[1] / "examples" / "eval"


def texts(limit: int) -> tuple[list[str], list[str]]:
    """Up to `limit` of the evaluation set's documents (their first 1,000 characters) and its queries."""
    documents = [path.read_text()[:1000] for path in sorted((EVAL / "documents").glob("*.txt"))][:limit]
    queries = [json.loads(line)["query"] for line in (EVAL / "queries.jsonl").read_text().splitlines() if line]
    return documents, queries[:limit]


def parse(specs: str) -> list[tuple[Backend, Precision]]:
    """`torch,onnx:fp32,openvino` as backends and precisions; torch fp32 (the baseline) comes first, always."""
    chosen = [(Backend.TORCH, Precision.FP32)]
    for spec in [part.strip() for part in specs.split(",") if part.strip()]:
        name, _, precision = spec.partition(":")
        pair = (Backend(name), Precision(precision or ("fp32" if name == "torch" else "auto")))
        if pair not in chosen:
            chosen.append(pair)
    return chosen


def vision_model(home: Path, log: Console) -> tuple[str, str]:
    """The configured vision model if it loads here, else a ViT-B/32-sized CLIP with random weights; and its label."""
    name = get_settings().models.vision
    try:
        load(Space.VISION, name, Backend.TORCH, Precision.FP32, home)
        return name, f"{name} (as configured)"
    except ModelUnavailable as error:
        log.print(f"bench: {one_line(error)[:160]}; a ViT-B/32-sized CLIP with random weights instead", highlight=False)
    path = build_random_clip(home / "clip-ViT-B-32-random", VIT_B_32)
    return str(path), "clip-ViT-B-32 (random weights, same architecture)"


def load(space: Space, name: str, backend: Backend, precision: Precision, home: Path) -> Encoder:
    """`name` on `backend` at `precision`, loaded for the benchmark alone (exports are kept where the setting says,
    so that a second run reuses them)."""
    settings = get_settings()
    return loader_for(space, backend)(
        name,
        setting=model_setting(space),
        device="cpu",
        threads=settings.torch_threads(),
        batch_size=settings.models.batch_size,
        precision=precision,
        export_dir=settings.models.export_dir,
    )


def overlap(reference: np.ndarray, candidate: np.ndarray, queries: np.ndarray, other: np.ndarray, k: int) -> float:
    """The share of the `k` best documents (rows of `reference`) a search under `candidate` also finds."""
    k = min(k, len(reference))
    found = []
    for query, query_again in zip(queries, other, strict=True):
        best = set(np.argsort(-(reference @ query))[:k])
        again = set(np.argsort(-(candidate @ query_again))[:k])
        found.append(len(best & again) / k)
    return round(float(np.mean(found)), 3)


def parity(reference: np.ndarray, vectors: np.ndarray, queries: tuple[np.ndarray, np.ndarray]) -> dict[str, float]:
    cosine = np.sum(reference * vectors, axis=1)
    return {
        "mean": round(float(cosine.mean()), 4),
        "worst": round(float(cosine.min()), 4),
        "top10": overlap(reference, vectors, *queries, k=10),
    }


def bench_backends(backends: str, *, images: int = 200, log: Console) -> dict[str, Any]:
    """Images/s and texts/s per backend and precision, their ratio to torch fp32, and parity."""
    go_offline_unless_hub_reachable()
    settings = get_settings()
    chosen = parse(backends)
    documents, queries = texts(images)
    with tempfile.TemporaryDirectory(prefix="mmindex-bench-") as scratch:
        home = Path(scratch)
        pictures = [photo_image(n, (640, 480), noise=6.0) for n in range(images)]
        vision, label = vision_model(home, log)
        encoders: dict[tuple[Backend, Precision], tuple[Encoder, Encoder]] = {}
        exported_s = {}
        for backend, precision in chosen:
            started = time.perf_counter()
            log.print(f"bench: loading {backend.value} {precision.value} (exports once per machine)", highlight=False)
            try:
                pair = (
                    load(Space.VISION, vision, backend, precision, home),
                    load(Space.TEXT, settings.models.text, backend, precision, home),
                )
            except ModelUnavailable as error:
                if backend is Backend.TORCH:
                    raise
                log.print(f"bench: {backend.value} {precision.value} left out: {one_line(error)}", highlight=False)
                continue
            encoders[backend, precision] = pair
            exported_s[backend, precision] = round(time.perf_counter() - started, 1)
            pair[0].encode_images(pictures[:8])  # warm up
            pair[1].encode_texts(documents[:8])
        size = settings.models.batch_size
        spent = {key: np.full((ROUNDS, 2, -(-images // size)), np.inf) for key in encoders}
        vectors: dict[tuple[Backend, Precision], dict[str, list[np.ndarray]]] = {}
        for round_ in range(ROUNDS):
            for batch, start in enumerate(range(0, images, size)):
                order = list(encoders) if (round_ + batch) % 2 == 0 else list(reversed(encoders))
                for key in order:
                    image_encoder, text_encoder = encoders[key]
                    began = time.perf_counter()
                    image_vectors = image_encoder.encode_images(pictures[start : start + size])
                    middle = time.perf_counter()
                    text_vectors = text_encoder.encode_texts(documents[start : start + size])
                    spent[key][round_, :, batch] = (middle - began, time.perf_counter() - middle)
                    if round_ == 0:
                        found = vectors.setdefault(key, {"image": [], "text": []})
                        found["image"].append(image_vectors)
                        found["text"].append(text_vectors)
            log.print(f"bench: round {round_ + 1}/{ROUNDS} done", highlight=False)
        results = []
        baseline = chosen[0]
        base_rates = rates(spent[baseline], images, len(documents))
        reference = {tower: np.concatenate(vectors[baseline][tower]) for tower in ("image", "text")}
        base_queries = encoders[baseline][1].encode_texts(queries)
        for key, (_image_encoder, text_encoder) in encoders.items():
            image_rate, text_rate = rates(spent[key], images, len(documents))
            image = np.concatenate(vectors[key]["image"])
            text = np.concatenate(vectors[key]["text"])
            picks = list(range(0, images, max(1, images // 50)))[:50]
            figures = {
                "image": parity(reference["image"], image, (reference["image"][picks], image[picks])),
                "text": parity(reference["text"], text, (base_queries, text_encoder.encode_texts(queries))),
            }
            met_parity = all(f[m] >= PARITY[m] for f in figures.values() for m in PARITY)
            ratios = {"image": round(image_rate / base_rates[0], 2), "text": round(text_rate / base_rates[1], 2)}
            exported = getattr(text_encoder, "export", None)
            format = exported.format if exported is not None else f"{key[0].value}-{key[1].value}"
            int8 = format.endswith("int8")
            results.append(
                {
                    "backend": key[0].value,
                    "precision": format.partition("-")[2],
                    "load_s": exported_s[key],
                    "images_per_s": round(image_rate, 1),
                    "texts_per_s": round(text_rate, 1),
                    "ratio": ratios,
                    "parity": figures,
                    "parity_met": met_parity,
                    "targets": TARGETS if int8 else None,
                    "met": (met_parity and all(ratios[t] >= TARGETS[t] for t in TARGETS)) if int8 else None,
                }
            )
            if not met_parity:
                log.print(f"bench: {key[0].value} {key[1].value} MISSES PARITY: {figures}", highlight=False)
    return {
        "vision_model": label,
        "text_model": settings.models.text,
        "device": "cpu",
        "threads": settings.torch_threads(),
        "images": images,
        "image_size": "640x480",
        "texts": len(documents),
        "batch_size": size,
        "rounds": ROUNDS,
        "baseline": {
            "backend": "torch",
            "precision": "fp32",
            "images_per_s": round(base_rates[0], 1),
            "texts_per_s": round(base_rates[1], 1),
        },
        "parity_needed": PARITY,
        "backends": results,
    }


def rates(spent: np.ndarray, images: int, texts: int) -> tuple[float, float]:
    """Images and texts per second from the best round of each batch."""
    best = spent.min(axis=0).sum(axis=1)
    return images / float(best[0]), texts / float(best[1])
