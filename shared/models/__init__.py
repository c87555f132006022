"""Encoders: one per space, loaded lazily, once per process, under a lock."""

from __future__ import annotations

from collections.abc import Sequence
from threading import Lock
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from shared.config import Settings
from shared.documents import Space

Vectors = NDArray[np.float32]


class Encoder(Protocol):
    """Turns images and/or texts into float32, L2-normalized vectors of one space."""

    model_id: str
    dimension: int
    modalities: frozenset[str]  # what it can encode: "image", "text"

    def encode_images(self, images: Sequence[Image.Image]) -> Vectors: ...

    def encode_texts(self, texts: Sequence[str]) -> Vectors: ...


_encoders: dict[tuple[Space, str, str], Encoder] = {}
_lock = Lock()


def model_setting(space: Space) -> str:
    """The environment variable that names a space's model."""
    return f"MMINDEX_MODELS__{space.value.upper()}"


def encoder_for(space: Space, settings: Settings) -> Encoder:
    """The process's encoder for `space`, loaded on first use; ModelUnavailable if it cannot load."""
    from shared.models.sentence import SentenceTransformerEncoder

    name = settings.models.vision if space is Space.VISION else settings.models.text
    key = (space, name, settings.models.device)
    with _lock:
        encoder = _encoders.get(key)
        if encoder is None:
            encoder = SentenceTransformerEncoder.load(
                name,
                setting=model_setting(space),
                device=settings.models.device,
                threads=settings.torch_threads(),
                batch_size=settings.models.batch_size,
            )
            _encoders[key] = encoder
        return encoder
