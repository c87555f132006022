"""Cross-task batching in `mmindex bench embed`: single-item embed tasks, one after another as the embed pool ran
them before (`solo`), against the same tasks side by side in threads sharing model calls (workers/gather.py).

Each task is what an upload event makes: one photo's item, its thumbnail fetched and decoded by the task, then the
model. The figures are the embed stage's images per second both ways, in the same run, on the same items.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from shared.documents import Item
from shared.runtime import Runtime
from workers.embed import embed_items, gatherer

TASKS_SIDE_BY_SIDE = 8
"""The embed pool's concurrency (workers/queues.py)."""


def bench_gathering(items: list[Item], runtime: Runtime, rounds: int = 2) -> dict[str, Any]:
    """Images per second of one-item tasks run one by one, and side by side with shared model calls."""
    shared = gatherer(runtime)
    best_alone = best_together = float("inf")
    for _ in range(rounds):
        started = time.perf_counter()
        for item in items:  # a lone task's call runs at once: this is the one-by-one pool
            embed_items([item], runtime)
        best_alone = min(best_alone, time.perf_counter() - started)
    calls, gathered = shared.calls, shared.items
    for _ in range(rounds):
        started = time.perf_counter()
        with ThreadPoolExecutor(TASKS_SIDE_BY_SIDE) as pool:
            list(pool.map(lambda item: embed_items([item], runtime), items))
        best_together = min(best_together, time.perf_counter() - started)
    calls, gathered = shared.calls - calls, shared.items - gathered
    alone, together = len(items) / best_alone, len(items) / best_together
    return {
        "tasks": len(items),
        "side_by_side": TASKS_SIDE_BY_SIDE,
        "gather_items": shared.limit,
        "one_by_one_images_per_s": round(alone, 1),
        "side_by_side_images_per_s": round(together, 1),
        "items_per_model_call": round(gathered / max(1, calls), 1),
        "ratio": round(together / alone, 2),
    }
