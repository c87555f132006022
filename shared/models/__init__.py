"""Encoders: one per space, loaded lazily, once per process, under a lock."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path
from threading import Lock
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from shared.config import Settings
from shared.documents import Space
from shared.errors import ModelUnavailable, mask

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


HUB_TIMEOUT_S = 3.0
"""How long the one check that a model hub answers may take before models are taken to be offline."""
_hub_reachable: bool | None = None


def hub_endpoint() -> str:
    """The model hub huggingface_hub would ask (HF_ENDPOINT, else huggingface.co)."""
    return os.environ.get("HF_ENDPOINT", "").rstrip("/") or "https://huggingface.co"


def go_offline_unless_hub_reachable() -> bool:
    """Set HF_HUB_OFFLINE=1 when no model hub answers, so loaders fail at once instead of retrying for minutes.

    Asked once per process, with a short timeout; an explicit HF_HUB_OFFLINE is left as it is. Returns whether
    the hub answered (any HTTP answer counts: it is there).
    """
    global _hub_reachable
    if os.environ.get("HF_HUB_OFFLINE", "") not in {"", "0", "false", "False"}:
        return False
    if _hub_reachable is None:
        import urllib.error
        import urllib.request

        try:
            with urllib.request.urlopen(f"{hub_endpoint()}/api/models?limit=1", timeout=HUB_TIMEOUT_S):
                _hub_reachable = True
        except urllib.error.HTTPError:
            _hub_reachable = True
        except (OSError, ValueError):
            _hub_reachable = False
        if not _hub_reachable:
            os.environ["HF_HUB_OFFLINE"] = "1"
            constants = sys.modules.get("huggingface_hub.constants")
            if constants is not None:  # already imported: it read the variable once
                constants.HF_HUB_OFFLINE = True  # type: ignore[attr-defined]
    return _hub_reachable


def is_local(name: str) -> bool:
    """Whether a model setting names a directory rather than a hub model."""
    path = Path(name).expanduser()
    return path.is_absolute() or name.startswith(".") or path.is_dir()


def is_cached(name: str) -> bool:
    """Whether a hub model name (as sentence-transformers resolves it) is in the local hub cache."""
    from huggingface_hub import try_to_load_from_cache

    candidates = [name] if "/" in name else [f"sentence-transformers/{name}", name]
    for repo in candidates:
        for file in ("modules.json", "config.json"):
            if isinstance(try_to_load_from_cache(repo, file), str):
                return True
    return False


def check_loadable(name: str, setting: str) -> None:
    """Fail at once, in one line, for a hub model that is not cached while no hub answers; else do nothing."""
    if is_local(name) or is_cached(name) or go_offline_unless_hub_reachable():
        return
    raise ModelUnavailable(
        f"model {name!r} is not in the local cache and no model hub answers at {mask(hub_endpoint())};"
        f" set {setting} to a local model directory (`make demo` chooses local models when offline)"
    )


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
            check_loadable(name, model_setting(space))
            encoder = SentenceTransformerEncoder.load(
                name,
                setting=model_setting(space),
                device=settings.models.device,
                threads=settings.torch_threads(),
                batch_size=settings.models.batch_size,
            )
            _encoders[key] = encoder
        return encoder
