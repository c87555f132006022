"""Answering a query: encode it once per space, search each space, fuse the rankings."""

from __future__ import annotations

import base64
import io
import logging
from dataclasses import asdict, dataclass, field
from typing import Any

from PIL import Image

from shared.documents import Hit, Space
from shared.errors import ModelUnavailable, PermanentError
from shared.models import model_setting
from shared.runtime import Runtime
from shared.stores import MAX_K, SearchFilter

log = logging.getLogger(__name__)

RRF_K = 60
"""Reciprocal rank fusion constant: a hit ranked r in a space adds 1 / (RRF_K + r)."""


@dataclass
class Query:
    """A search request as it travels to the query pool: small and JSON-serialisable."""

    text: str | None = None
    image_jpeg: str | None = None  # base64 JPEG, already shrunk to the model's input size by the caller
    k: int = 10
    modalities: list[str] = field(default_factory=list)
    source_prefix: str | None = None

    def to_message(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_message(cls, data: dict[str, Any]) -> Query:
        return cls(**data)


def fuse(rankings: list[list[Hit]], k: int) -> list[Hit]:
    """Reciprocal rank fusion across spaces; the same item (uri and time span) found in several spaces is one hit.

    A hit's score stays its best cosine similarity.
    """
    fused: dict[str, float] = {}
    best: dict[str, Hit] = {}
    for ranking in rankings:
        for rank, hit in enumerate(ranking, start=1):
            key = f"{hit.uri}\x1f{hit.start_s}\x1f{hit.end_s}"  # one item, whichever space found it
            fused[key] = fused.get(key, 0.0) + 1.0 / (RRF_K + rank)
            if key not in best or hit.score > best[key].score:
                best[key] = hit
    order = sorted(fused, key=lambda key: (-fused[key], -best[key].score))
    return [best[key] for key in order[:k]]


def run_query(query: Query, runtime: Runtime) -> list[Hit]:
    """Hits for a text and/or image query, best first."""
    if not query.text and not query.image_jpeg:
        raise PermanentError("a search needs text or an image")
    k = max(1, min(query.k, MAX_K))
    filters = SearchFilter(modalities=tuple(query.modalities), source_prefix=query.source_prefix)
    spaces = runtime.store.dimensions()
    rankings: list[list[Hit]] = []
    unavailable: list[str] = []
    for name in spaces:
        space = Space(name)
        if query.image_jpeg is not None and space is not Space.VISION:
            continue
        try:
            encoder = runtime.encoder(space)
        except ModelUnavailable as error:
            unavailable.append(str(error))
            log.warning("space %s skipped: %s", name, error)
            continue
        if encoder.dimension != spaces[name]:
            raise PermanentError(
                f"the {name} space holds {spaces[name]}-d vectors but {model_setting(space)}={encoder.model_id}"
                f" gives {encoder.dimension}-d: search with the model the index was built with"
            )
        if query.image_jpeg is not None:
            with Image.open(io.BytesIO(base64.b64decode(query.image_jpeg))) as image:
                vector = encoder.encode_images([image.convert("RGB")])[0]
        else:
            vector = encoder.encode_texts([query.text or ""])[0]
        rankings.append(runtime.store.search(name, vector.tolist(), k, filters))
    if not rankings and unavailable:
        raise ModelUnavailable("; ".join(unavailable))
    return fuse(rankings, k)
