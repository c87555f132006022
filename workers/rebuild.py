"""Rebuilding a space with another model beside the serving generation (`mmindex reindex`), and the swaps that put a
generation in service (`mmindex models`).

A rebuild reads what the index already holds: every document of the serving generation becomes the item it was made
from (the stored thumbnail of an image or frame, the stored words of a segment or chunk; `VectorStore.items`), and
the items the new generation lacks go through the embed and index queues for it alone. Nothing is fetched, decoded or
transcribed again, so a rebuild works after the originals are gone. Running it again finds the same generation (by
its model and weights) and sends only what is still missing, so a rebuild stopped halfway, or whose workers died,
finishes without duplicates. Meanwhile ingestion writes to both generations (workers/embed.py) and deletions reach
every generation, and a rebuilt document whose version went meanwhile is taken out again (workers/index.py); before a
swap the rebuild checks that every serving document has its counterpart, sending what slipped between.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from shared.documents import Item, Space
from shared.errors import PermanentError
from shared.generations import Generation, GenerationState
from shared.runtime import Runtime
from workers.embed import embed
from workers.messages import EmbedMessage

log = logging.getLogger(__name__)

ROUNDS = 3
"""How often a rebuild sends what is still missing before it gives up on completing (and swapping)."""


@dataclass
class Rebuild:
    """What a rebuild did: the generation it fills, from which, and how far it got."""

    space: Space
    generation: Generation
    source: Generation  # the serving generation it rebuilds
    documents: int = 0  # the serving generation's documents
    sent: int = 0  # items sent to be embedded, in every round
    missing: int = 0  # serving documents without a counterpart when it last looked
    resumed: bool = False
    swapped: bool = False
    seconds: float = 0.0
    rounds: list[int] = field(default_factory=list)  # items sent per round

    @property
    def complete(self) -> bool:
        return self.missing == 0

    def public(self) -> dict[str, Any]:
        return {
            "space": self.space.value,
            "generation": self.generation.name,
            "model": self.generation.model,
            "dimension": self.generation.dimension,
            "from": self.source.name,
            "documents": self.documents,
            "rebuilt": self.documents - self.missing,
            "missing": self.missing,
            "sent": self.sent,
            "resumed": self.resumed,
            "complete": self.complete,
            "swapped": self.swapped,
            "seconds": round(self.seconds, 2),
        }


def serving(space: Space, runtime: Runtime) -> Generation:
    generation = runtime.store.lineage(space).serving
    if generation is None:
        raise PermanentError(f"the {space.value} space holds nothing yet: ingest sources before rebuilding it")
    return generation


def target(space: Space, model: str, runtime: Runtime) -> tuple[Generation, bool]:
    """The generation a rebuild with `model` fills: one already begun with the same model and weights (resumed), or
    a new one. The model is loaded here first, so one that cannot load is refused before anything is made."""
    encoder = runtime.encoder(space, model)
    weights = runtime.fingerprint(encoder)
    current = serving(space, runtime)
    if current.model == model and current.fingerprint in (None, weights):
        raise PermanentError(
            f"generation {current.name} of the {space.value} space already serves {model}; a rebuild needs another"
            " model (or the same one fine-tuned into another folder)"
        )
    lineage = runtime.store.lineage(space)
    for generation in lineage.generations:
        same = generation.model == model and generation.fingerprint == weights
        if same and generation.state is not GenerationState.SERVING:
            if generation.state is GenerationState.RETIRED:  # written to again by ingestion from now on
                runtime.store.commit(lineage, lineage.rebuild(generation.number))
            return lineage.get(generation.number), True
    return runtime.store.begin(space, model, encoder.dimension, weights), False


def missing(space: Space, generation: Generation, source: Generation, runtime: Runtime) -> Iterator[Item]:
    """The source generation's documents that `generation` lacks, as items to embed again."""
    have = {item.id for item in runtime.store.items(space, generation.number)}
    for item in runtime.store.items(space, source.number):
        if item.id not in have:
            yield item


def send(items: Iterator[Item], generation: Generation, runtime: Runtime, sent: Callable[[int], None]) -> int:
    """Queue `items` in batches for `generation` (run at once in embedded mode); how many were sent."""
    size = runtime.settings.models.batch_size
    batch: list[Item] = []
    total = 0
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            embed.delay(EmbedMessage.rebuild(batch, generation.number).to_message())
            total += len(batch)
            sent(total)
            batch = []
    if batch:
        embed.delay(EmbedMessage.rebuild(batch, generation.number).to_message())
        total += len(batch)
        sent(total)
    return total


def rebuild(
    space: Space,
    model: str,
    runtime: Runtime,
    *,
    wait: bool,
    swap: bool,
    progress: Callable[[int, int], None] = lambda done, total: None,
    timeout_s: float = 3600.0,
    prepared: tuple[Generation, bool] | None = None,
) -> Rebuild:
    """Fill a generation of `model` from the serving one (`prepared`: what `target` gave, when it was called first);
    with `wait`, until it is complete (or nothing has moved for `timeout_s`); with `swap`, then serve it.
    `progress(done, total)` is told how far it got."""
    started = time.monotonic()
    generation, resumed = prepared or target(space, model, runtime)
    source = serving(space, runtime)
    report = Rebuild(space, generation, source, resumed=resumed)
    wait = wait or swap
    for _ in range(ROUNDS):
        report.documents = runtime.store.count(space.value, generation=source.number)
        done = runtime.store.count(space.value, generation=generation.number)
        progress(done, report.documents)
        sent = send(missing(space, generation, source, runtime), generation, runtime, lambda n: None)
        report.rounds.append(sent)
        report.sent += sent
        if wait and runtime.settings.distributed:
            settle(space, generation, report.documents, runtime, progress=progress, timeout_s=timeout_s)
        report.missing = sum(1 for _ in missing(space, generation, source, runtime))
        progress(report.documents - report.missing, report.documents)
        if not wait or report.complete:
            break
    if swap and report.complete:
        lineage = runtime.store.lineage(space)
        runtime.store.commit(lineage, lineage.swap(generation.number))
        report.swapped = True
    report.seconds = time.monotonic() - started
    return report


def settle(
    space: Space,
    generation: Generation,
    expected: int,
    runtime: Runtime,
    *,
    progress: Callable[[int, int], None],
    timeout_s: float,
) -> None:
    """Wait until the generation holds `expected` documents, or its count has not moved for `timeout_s`."""
    last, moved = -1, time.monotonic()
    while True:
        count = runtime.store.count(space.value, generation=generation.number)
        progress(count, expected)
        if count >= expected:
            return
        if count != last:
            last, moved = count, time.monotonic()
        elif time.monotonic() - moved > timeout_s:
            return
        time.sleep(0.5)


def lacking(space: Space, number: int, runtime: Runtime, against: int | None = None) -> int:
    """How many documents of generation `against` (default: the serving one) generation `number` lacks."""
    lineage = runtime.store.lineage(space)
    other = lineage.serving if against is None else lineage.get(against)
    if other is None or other.number == number:
        return 0
    return sum(1 for _ in missing(space, lineage.get(number), other, runtime))
