"""The embed stage (GPU pool): a batch of items in, one vector per item out, sent on to the index stage.

Ingestion's items are embedded for every generation their space writes to (shared/generations.py): the serving
one, and one a rebuild is building, each with its own model. Only the serving generation's failures fail a
source; a building generation that cannot be written is left for its rebuild to catch up. A rebuild's items are
embedded for the one generation they fill.
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from PIL import Image

from shared.documents import Item, Space
from shared.errors import RETRYABLE, CorruptMedia, PermanentError, one_line
from shared.generations import Generation
from shared.lifecycle import fail_sources
from shared.models import Vectors
from shared.runtime import Runtime, get_runtime
from workers.gather import Gatherer
from workers.index import index
from workers.messages import EmbedMessage, IndexMessage, Payload, sources_in
from workers.queues import Queue
from workers.task import PipelineTask, pipeline_task

log = logging.getLogger("mmindex.tasks")
EMBED_ERRORS: tuple[type[BaseException], ...] = (PermanentError, *RETRYABLE)
"""What a building generation's batch may run into without its sources minding."""


def load_input(item: Item, runtime: Runtime) -> Image.Image:
    """The image an item's decode stage wrote for the model."""
    assert item.input_uri is not None
    with runtime.storage(item.input_uri).fetch(item.input_uri) as path:
        try:
            with Image.open(path) as image:
                return image.convert("RGB")
        except OSError as error:
            raise CorruptMedia(f"cannot read the decoded image {item.input_uri} ({error}); ingest it again") from None


@dataclass
class Embedded:
    """A batch after the model: the items it could embed, their vectors, and the items it could not."""

    items: list[Item]
    vectors: Vectors
    model: str
    failed: list[tuple[Item, PermanentError]] = field(default_factory=list)


def load_inputs(items: list[Item], runtime: Runtime) -> list[Image.Image | PermanentError]:
    """Every item's image, or the permanent error that one item ran into; transient faults are raised."""

    def attempt(item: Item) -> Image.Image | PermanentError:
        try:
            return load_input(item, runtime)
        except PermanentError as error:
            return error

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(attempt, items))


_gatherers: dict[int, Gatherer] = {}


def gatherer(runtime: Runtime) -> Gatherer:
    """The process's gatherer of model calls (workers/gather.py), one per limit."""
    limit = runtime.settings.models.gather_items
    return _gatherers.setdefault(limit, Gatherer(limit))


def embed_items(items: list[Item], runtime: Runtime, model: str | None = None) -> Embedded:
    """Vectors of `model` (default: the configured one) for one space's batch of items; an item whose input cannot
    be read is set aside, not fatal. The model call is shared with tasks running beside this one."""
    encoder = runtime.encoder(Space(items[0].space), model)
    shared = gatherer(runtime)
    if items[0].input_uri is None:
        texts = [item.text or "" for item in items]
        return Embedded(items, shared.encode_texts(encoder, texts), encoder.model_id)
    loaded = list(zip(items, load_inputs(items, runtime), strict=True))
    good = [(item, image) for item, image in loaded if isinstance(image, Image.Image)]
    failed = [(item, error) for item, error in loaded if isinstance(error, PermanentError)]
    vectors = shared.encode_images(encoder, [image for _, image in good])
    return Embedded([item for item, _ in good], vectors, encoder.model_id, failed)


def targets(space: Space, runtime: Runtime, number: int | None) -> list[Generation | None]:
    """The generations a batch is embedded for: the one named, or every one ingestion writes to (None: the space
    has none yet, and the first write makes it with the configured model)."""
    lineage = runtime.store.lineage(space)
    if number is not None:
        return [g for g in lineage.generations if g.number == number]
    if lineage.live:
        return list(lineage.live)
    # The space's first batch: its first generation is recorded with the configured model and its weights.
    encoder = runtime.encoder(space)
    runtime.store.ensure({space.value: encoder.dimension}, encoder.model_id, runtime.fingerprint(encoder))
    return list(runtime.store.lineage(space).live) or [None]


@pipeline_task(Queue.EMBED)
def embed(self: PipelineTask, payload: Payload) -> None:
    """Embed a batch and queue it for indexing, once per generation it goes to. Vectors travel compactly (float32,
    base64)."""
    runtime = get_runtime()
    message = EmbedMessage.from_message(payload)
    items = message.items
    rebuild = message.generation is not None
    space = Space(items[0].space)
    try:
        generations = targets(space, runtime, message.generation)
    except PermanentError as error:  # the space's first batch, and its model cannot load
        if not rebuild:
            fail_sources(sources_in(items), one_line(error))
        log.warning("a batch of the %s space cannot be embedded: %s", space, one_line(error))
        return
    if not generations:
        log.warning("a rebuild's batch for %s generation g%s dropped: it no longer exists", space, message.generation)
    for generation in generations:
        model = runtime.model_for(space, generation)
        number = None if generation is None else generation.number
        if rebuild or generation is None or generation is generations[0]:
            embedded = embed_serving(items, runtime, model, rebuild)
        else:
            embedded = embed_building(items, runtime, model, generation)
        if embedded is not None and embedded.items:
            outgoing = IndexMessage.of(embedded.items, embedded.model, embedded.vectors, number, rebuild)
            index.delay(outgoing.to_message())


def embed_serving(items: list[Item], runtime: Runtime, model: str, rebuild: bool) -> Embedded | None:
    """The batch for the serving generation (or a rebuild's): a permanent error fails its sources (a rebuild's is
    logged: the sources are fine, and the rebuild finds the item missing when it runs again)."""
    try:
        embedded = embed_items(items, runtime, model)
    except PermanentError as error:
        if rebuild:
            log.warning("a rebuild could not embed %d items: %s", len(items), one_line(error))
        else:
            fail_sources(sources_in(items), one_line(error))
        return None
    for item, failure in embedded.failed:  # fails its own source, not the batch
        if rebuild:
            log.warning("a rebuild could not embed %s item %d: %s", item.uri, item.item, one_line(failure))
        else:
            fail_sources([(item.source_id, item.version)], one_line(failure))
    return embedded


def embed_building(items: list[Item], runtime: Runtime, model: str, generation: Generation) -> Embedded | None:
    """The batch for a generation being built beside the serving one: what goes wrong is logged, never fatal to the
    sources; the rebuild writes what is missing before the generation can serve."""
    try:
        return embed_items(items, runtime, model)
    except EMBED_ERRORS as error:
        log.warning(
            "generation %s of %s skipped a batch (its rebuild catches up): %s",
            generation.name,
            generation.space,
            one_line(error),
        )
        return None
