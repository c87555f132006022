"""The embed stage (GPU pool): a batch of items in, one vector per item out, sent on to the index stage."""

from __future__ import annotations

import base64
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

from shared.documents import Item, Space
from shared.errors import CorruptMedia, PermanentError, one_line
from shared.models import Vectors
from shared.runtime import Runtime, get_runtime
from workers.app import Queue
from workers.task import Payload, PipelineTask, fail_sources, payload_sources, pipeline_task


def load_input(item: Item, runtime: Runtime) -> Image.Image:
    """The image an item's decode stage wrote for the model."""
    assert item.input_uri is not None
    with runtime.storage(item.input_uri).fetch(item.input_uri) as path:
        try:
            with Image.open(path) as image:
                return image.convert("RGB")
        except OSError as error:
            raise CorruptMedia(f"cannot read the decoded image {item.input_uri} ({error}); ingest it again") from None


def embed_items(items: list[Item], runtime: Runtime) -> tuple[Vectors, str]:
    """Vectors for one space's batch of items, and the model that made them."""
    space = Space(items[0].space)
    encoder = runtime.encoder(space)
    if items[0].input_uri is not None:
        with ThreadPoolExecutor(max_workers=8) as pool:
            images = list(pool.map(lambda item: load_input(item, runtime), items))
        return encoder.encode_images(images), encoder.model_id
    return encoder.encode_texts([item.text or "" for item in items]), encoder.model_id


def pack(vectors: Vectors) -> str:
    return base64.b64encode(np.ascontiguousarray(vectors, dtype=np.float32).tobytes()).decode("ascii")


def unpack(data: str, rows: int) -> Vectors:
    return np.frombuffer(base64.b64decode(data), dtype=np.float32).reshape(rows, -1)


@pipeline_task(Queue.EMBED)
def embed(self: PipelineTask, payload: Payload) -> None:
    """Embed a batch and queue it for indexing. Vectors travel compactly (float32, base64)."""
    from workers.index import index

    runtime = get_runtime()
    items = [Item.from_message(data) for data in payload["items"]]
    try:
        vectors, model = embed_items(items, runtime)
    except PermanentError as error:
        fail_sources(payload_sources(payload), one_line(error))
        return
    index.delay({"sources": payload["sources"], "items": payload["items"], "model": model, "vectors": pack(vectors)})
