"""Encoders by space and backend: which implementation loads a space's model, and the process's loaded encoders.

`ENCODERS` is the one place an implementation is named: a backend is an entry for each space it serves, and
`encoder_for` looks the pair up, failing with a message that names both when there is no entry. Encoders load
lazily, once per process, under a lock.
"""

from __future__ import annotations

from threading import Lock
from typing import Protocol

from shared.config import Settings
from shared.documents import Space
from shared.errors import ModelUnavailable
from shared.models import Backend, Encoder, check_loadable, hub_offline, model_setting
from shared.models.sentence import SentenceTransformerEncoder


class EncoderLoader(Protocol):
    """Loads the model `name` (a hub name or a local directory) as an encoder; ModelUnavailable, naming `setting`,
    when it cannot."""

    def __call__(self, name: str, *, setting: str, device: str, threads: int, batch_size: int) -> Encoder: ...


ENCODERS: dict[tuple[Space, Backend], EncoderLoader] = {
    (Space.VISION, Backend.TORCH): SentenceTransformerEncoder.load,  # a CLIP model: images, and texts as queries
    (Space.TEXT, Backend.TORCH): SentenceTransformerEncoder.load,  # a text model: transcripts, chunks, queries
}
"""The loader of each space's encoder, by the backend that runs it."""

BACKEND = Backend.TORCH
"""The backend every space runs on (until MMINDEX_MODELS__BACKEND chooses one)."""

_encoders: dict[tuple[Space, Backend, str, str], Encoder] = {}
_lock = Lock()


def loader_for(space: Space, backend: Backend) -> EncoderLoader:
    """The registered loader of `space`'s encoder on `backend`; ModelUnavailable when none is registered."""
    try:
        return ENCODERS[space, backend]
    except KeyError:
        served = ", ".join(sorted(f"{s.value} on {b.value}" for s, b in ENCODERS))
        raise ModelUnavailable(
            f"no encoder runs the {space.value} space on the {backend.value} backend (there are: {served})"
        ) from None


def configured_model(space: Space, settings: Settings) -> str:
    """The model the settings name for `space` (what its first generation is made with)."""
    return settings.models.vision if space is Space.VISION else settings.models.text


def encoder_for(space: Space, settings: Settings, backend: Backend = BACKEND, model: str | None = None) -> Encoder:
    """The process's encoder for `space`, of `model` (default: the configured one), loaded on first use;
    ModelUnavailable if it cannot load, HubUnreachable (retryable) in distributed mode when it is not cached and no
    hub answers for now."""
    load = loader_for(space, backend)
    name = model or configured_model(space, settings)
    key = (space, backend, name, settings.models.device)
    with _lock:
        encoder = _encoders.get(key)
        if encoder is None:
            # In distributed mode models load in the pools' long-running workers, whose tasks retry; in embedded
            # mode in the command's own process, which should fail at once.
            cache_only = check_loadable(name, model_setting(space), retryable=settings.distributed)
            with hub_offline(cache_only):
                encoder = load(
                    name,
                    setting=model_setting(space),
                    device=settings.models.device,
                    threads=settings.torch_threads(),
                    batch_size=settings.models.batch_size,
                )
            _encoders[key] = encoder
        return encoder
