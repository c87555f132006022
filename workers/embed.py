"""The embed stage (GPU pool): a batch of items in, one vector per item out, sent on to the index stage."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from PIL import Image

from shared.documents import Item, Space
from shared.errors import CorruptMedia, PermanentError, one_line
from shared.lifecycle import fail_sources
from shared.models import Vectors
from shared.runtime import Runtime, get_runtime
from workers.index import index
from workers.messages import EmbedMessage, IndexMessage, Payload, sources_in
from workers.queues import Queue
from workers.task import PipelineTask, pipeline_task


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


def embed_items(items: list[Item], runtime: Runtime) -> Embedded:
    """Vectors for one space's batch of items; an item whose input cannot be read is set aside, not fatal."""
    encoder = runtime.encoder(Space(items[0].space))
    if items[0].input_uri is None:
        return Embedded(items, encoder.encode_texts([item.text or "" for item in items]), encoder.model_id)
    loaded = list(zip(items, load_inputs(items, runtime), strict=True))
    good = [(item, image) for item, image in loaded if isinstance(image, Image.Image)]
    failed = [(item, error) for item, error in loaded if isinstance(error, PermanentError)]
    vectors = encoder.encode_images([image for _, image in good])
    return Embedded([item for item, _ in good], vectors, encoder.model_id, failed)


@pipeline_task(Queue.EMBED)
def embed(self: PipelineTask, payload: Payload) -> None:
    """Embed a batch and queue it for indexing. Vectors travel compactly (float32, base64)."""
    runtime = get_runtime()
    items = EmbedMessage.from_message(payload).items
    try:
        embedded = embed_items(items, runtime)
    except PermanentError as error:
        fail_sources(sources_in(items), one_line(error))
        return
    for item, failure in embedded.failed:  # fails its own source, not the batch
        fail_sources([(item.source_id, item.version)], one_line(failure))
    if embedded.items:
        index.delay(IndexMessage.of(embedded.items, embedded.model, embedded.vectors).to_message())
