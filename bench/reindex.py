"""`mmindex bench reindex`: rebuilding the vision space from stored thumbnails against ingesting the same sources from
scratch, in one run, with searches running throughout.

Photos made in the run and a slideshow video of them (frames sampled as configured) are ingested from scratch into a
temporary embedded index with one CLIP (timed: reading, decoding, thumbnails, embedding, writing; speech is not
transcribed, so that both sides do the vision space's work); then the vision
space is rebuilt with another CLIP of the same architecture (random weights, so the same cost) from the stored
thumbnails (timed), and swapped in. Throughout both, a thread searches by image in a loop (a few searches a second):
every search must answer, and none may return a hit of a generation that did not serve while it ran.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from rich.console import Console

from bench.environment import put_back, saved
from shared.documents import Space
from shared.errors import ModelUnavailable, one_line
from shared.models import go_offline_unless_hub_reachable
from shared.runtime import get_runtime, reset_runtime
from shared.search import image_query, run_query
from tests.support.media import photo, slideshow
from tests.support.models import TINY, VIT_B_32, build_random_clip

TARGET = 3.0
"""A rebuild should be this many times faster than ingesting from scratch (it decodes nothing)."""
PHOTO_SIZE = (640, 480)
PAUSE_S = 0.25
"""Between two searches of the loop: a steady load of a few searches a second, the same while ingesting and while
rebuilding, rather than one that takes every core it can."""
SLIDES = 10
"""Photos the video shows, each for an equal share of its length."""


@dataclass
class Searches:
    """Image searches in a loop on a thread of their own, checked against the serving generation around each."""

    query: Path
    done: int = 0
    failed: int = 0
    stray_hits: int = 0  # hits of a generation that served neither when the search began nor when it ended
    errors: list[str] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def run(self) -> None:
        runtime = get_runtime()
        while not self._stop.is_set():
            before = runtime.store.lineage(Space.VISION).serving
            try:
                hits = run_query(image_query(self.query, k=5), runtime)
            except Exception as error:  # counted: a search must never fail during a rebuild or a swap
                self.failed += 1
                self.errors.append(f"{type(error).__name__}: {error}")
                continue
            after = runtime.store.lineage(Space.VISION).serving
            serving = {g.number for g in (before, after) if g is not None}
            self.stray_hits += sum(1 for hit in hits if hit.space is Space.VISION and hit.generation not in serving)
            self.done += 1
            self._stop.wait(PAUSE_S)

    def __enter__(self) -> Searches:
        self._thread = threading.Thread(target=self.run, name="searches", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def bench_reindex(*, images: int = 200, seconds: int = 120, log: Console) -> dict[str, Any]:
    """Items per second of ingesting from scratch and of rebuilding from thumbnails, their ratio, and the searches
    run meanwhile."""
    from workers.intakes.submission import submit
    from workers.rebuild import rebuild

    saved_settings = saved(("MMINDEX_HOME", "MMINDEX_MODELS__ASR", "MMINDEX_MODELS__VISION"))
    with tempfile.TemporaryDirectory(prefix="mmindex-bench-") as scratch:
        home = Path(scratch)
        try:
            log.print(f"bench: making {images} photos and a {seconds} s slideshow of them", highlight=False)
            album = home / "album"
            photos = [photo(album / f"photo-{n:04d}.jpg", n, PHOTO_SIZE, noise=6.0) for n in range(images)]
            slides = photos[:SLIDES]
            (home / "video").mkdir()
            slideshow(slides, seconds / len(slides), home / "video" / "slides.mp4", "640x360")
            os.environ["MMINDEX_HOME"] = str(home / "index")
            os.environ["MMINDEX_MODELS__ASR"] = "none"  # the vision space is compared: no speech to transcribe
            reset_runtime()
            go_offline_unless_hub_reachable()
            try:
                first = get_runtime().encoder(Space.VISION)
                label = f"{get_runtime().settings.models.vision} (as configured)"
            except ModelUnavailable as error:
                log.print(f"bench: {one_line(error)[:200]}", highlight=False)
                log.print("bench: a ViT-B/32-sized CLIP with random weights instead (same cost)", highlight=False)
                os.environ["MMINDEX_MODELS__VISION"] = str(build_random_clip(home / "models" / "clip", VIT_B_32))
                reset_runtime()
                first = get_runtime().encoder(Space.VISION)
                label = "clip-ViT-B-32 (random weights, same architecture)"
            runtime = get_runtime()
            shape = VIT_B_32 if first.dimension == VIT_B_32.embed_dim else replace(TINY, embed_dim=first.dimension)
            other = build_random_clip(home / "models" / "other-clip", shape, seed=1)
            log.print(f"bench: ingesting from scratch with {runtime.settings.models.vision}", highlight=False)

            with Searches(photos[0]) as ingesting:  # the same load of searches on both sides
                started = time.perf_counter()
                submission = submit([str(album), str(home / "video")])
                ingest_s = time.perf_counter() - started
            items = runtime.store.count(Space.VISION)
            failed = [r.uri for r in runtime.ledger.get(submission.ids) if r.error]
            log.print(f"bench: {items} images and frames in {ingest_s:.1f} s; rebuilding with {other}", highlight=False)

            with Searches(photos[0]) as searches:
                started = time.perf_counter()
                report = rebuild(Space.VISION, str(other), runtime, wait=True, swap=False)
                rebuild_s = time.perf_counter() - started
                lineage = runtime.store.lineage(Space.VISION)
                runtime.store.commit(lineage, lineage.swap(report.generation.number))
                time.sleep(1.0)  # searches after the swap, too
        finally:
            put_back(saved_settings)
    ingest_rate, rebuild_rate = items / ingest_s, report.documents / rebuild_s
    ratio = round(rebuild_rate / ingest_rate, 3)
    return {
        "model": label,
        "rebuilt_with": "a CLIP of the same architecture with random weights",
        "device": first.device,
        "photos": images,
        "video_s": seconds,
        "items": items,
        "failed_sources": failed,
        "ingest_s": round(ingest_s, 3),
        "rebuild_s": round(rebuild_s, 3),
        "ingest_items_per_s": round(ingest_rate, 2),
        "rebuild_items_per_s": round(rebuild_rate, 2),
        "rebuilt": report.documents - report.missing,
        "ratio": ratio,
        "target": TARGET,
        "met": ratio >= TARGET,
        "searches": ingesting.done + searches.done,
        "searches_during_rebuild_and_swap": searches.done,
        "failed_searches": ingesting.failed + searches.failed,
        "search_errors": (ingesting.errors + searches.errors)[:3],
        "hits_from_a_generation_not_serving": ingesting.stray_hits + searches.stray_hits,
    }
