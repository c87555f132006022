"""Encoders: one per space, loaded lazily, once per process, under a lock."""

from __future__ import annotations

import os
import subprocess
import sys
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


def go_offline_unless_hub_reachable() -> bool:
    """Set HF_HUB_OFFLINE=1 when no model hub answers, so loaders fail at once instead of retrying for a minute.

    Must run before anything imports huggingface_hub (it reads the variable once). Returns whether the hub
    answered; an explicit HF_HUB_OFFLINE is left as it is.
    """
    if "HF_HUB_OFFLINE" in os.environ:
        return os.environ["HF_HUB_OFFLINE"] in {"", "0", "false"}
    probe = "import huggingface_hub; huggingface_hub.model_info('sentence-transformers/all-MiniLM-L6-v2', timeout=5)"
    try:
        answer = subprocess.run([sys.executable, "-c", probe], check=False, capture_output=True, timeout=30)
        reachable = answer.returncode == 0
    except subprocess.TimeoutExpired:
        reachable = False
    if not reachable:
        os.environ["HF_HUB_OFFLINE"] = "1"
    return reachable


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
