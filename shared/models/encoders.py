"""Encoders by space and backend: which implementation loads a space's model, and the process's loaded encoders.

`ENCODERS` is the one place an implementation is named: a backend is an entry for each space it serves, and
`encoder_for` looks the pair up, failing with a message that names both when there is no entry. Encoders load
lazily, once per process, under a lock.
"""

from __future__ import annotations

import logging
from pathlib import Path
from threading import Lock
from typing import Protocol

from shared.config import Settings
from shared.documents import Space
from shared.errors import ModelUnavailable, one_line
from shared.models import Backend, Encoder, Precision, check_loadable, hub_offline, model_setting
from shared.models.exported import ExportedEncoder
from shared.models.sentence import SentenceTransformerEncoder


class EncoderLoader(Protocol):
    """Loads the model `name` (a hub name or a local directory) as an encoder; ModelUnavailable, naming `setting`,
    when it cannot."""

    def __call__(
        self,
        name: str,
        *,
        setting: str,
        device: str,
        threads: int,
        batch_size: int,
        precision: Precision = Precision.AUTO,
        export_dir: Path | None = None,
    ) -> Encoder: ...


ENCODERS: dict[tuple[Space, Backend], EncoderLoader] = {
    (Space.VISION, Backend.TORCH): SentenceTransformerEncoder.load,  # a CLIP model: images, and texts as queries
    (Space.TEXT, Backend.TORCH): SentenceTransformerEncoder.load,  # a text model: transcripts, chunks, queries
    (Space.VISION, Backend.ONNX): ExportedEncoder.load,  # the same models, exported (shared/models/export.py)
    (Space.TEXT, Backend.ONNX): ExportedEncoder.load,
    (Space.VISION, Backend.OPENVINO): ExportedEncoder.load_openvino,
    (Space.TEXT, Backend.OPENVINO): ExportedEncoder.load_openvino,
}
"""The loader of each space's encoder, by the backend that runs it."""

_encoders: dict[tuple[Space, Backend, Precision, str, str], Encoder] = {}
_lock = Lock()
log = logging.getLogger(__name__)


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


def encoder_for(space: Space, settings: Settings, backend: Backend | None = None, model: str | None = None) -> Encoder:
    """The process's encoder for `space`, of `model` (default: the configured one), on `backend` (default: the
    configured one), loaded on first use; ModelUnavailable if it cannot load (unless MMINDEX_MODELS__BACKEND_FALLBACK
    lets torch stand in), HubUnreachable (retryable) in distributed mode when it is not cached and no hub answers for
    now."""
    name = model or configured_model(space, settings)
    chosen = backend or settings.models.backend_for(space.value)
    key = (space, chosen, settings.models.precision, name, settings.models.device)
    with _lock:
        encoder = _encoders.get(key)
        if encoder is None:
            encoder = _load(space, settings, chosen, name)
            _encoders[key] = encoder
        return encoder


def _load(space: Space, settings: Settings, backend: Backend, name: str) -> Encoder:
    models = settings.models
    try:
        load = loader_for(space, backend)
        # In distributed mode models load in the pools' long-running workers, whose tasks retry; in embedded mode in
        # the command's own process, which should fail at once.
        cache_only = check_loadable(name, model_setting(space), retryable=settings.distributed)
        with hub_offline(cache_only):
            return load(
                name,
                setting=model_setting(space) if backend is Backend.TORCH else "MMINDEX_MODELS__BACKEND",
                device=models.device,
                threads=settings.torch_threads(),
                batch_size=models.batch_size,
                precision=models.precision,
                export_dir=models.export_dir,
            )
    except ModelUnavailable as error:
        if backend is Backend.TORCH or not models.backend_fallback:
            raise
        log.warning("the %s space falls back to torch: %s", space.value, one_line(error))
        return _load(space, settings, Backend.TORCH, name)
