"""sentence-transformers models, by hub name or local path, on CUDA when there is one."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from threading import Lock
from typing import Any

import numpy as np
from PIL import Image

from shared.documents import Modality
from shared.errors import ModelUnavailable, one_line
from shared.models import Backend, Precision, Vectors

log = logging.getLogger(__name__)


def resolve_device(device: str) -> str:
    """`auto` is the first CUDA device when torch sees one, else the CPU."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ModelUnavailable(f"MMINDEX_MODELS__DEVICE={device} but torch sees no CUDA device")
    return device


def why(name: str, error: Exception) -> str:
    """A loader's failure in a few words."""
    path = Path(name).expanduser()
    if (path.is_absolute() or name.startswith(".")) and not path.exists():
        return "no such directory"
    text = one_line(error)
    if isinstance(error, OSError) and ("connect" in text or "offline" in text.lower()):
        return "not in the local cache, and no model hub is reachable"
    return text if len(text) <= 160 else text[:157].rsplit(" ", 1)[0] + "..."


def position_limit(model: Any) -> int | None:
    """The most tokens the model's (text) tower takes, from its config's `max_position_embeddings`."""
    module = model[0] if len(model) else None
    config = getattr(getattr(module, "auto_model", None), "config", None)
    if config is None:
        return None
    if hasattr(config, "get_text_config"):
        config = config.get_text_config()
    limit = getattr(config, "max_position_embeddings", None)
    return int(limit) if isinstance(limit, int) and limit > 0 else None


def cap_sequence_length(model: Any) -> None:
    """Truncate inputs at the model's position limit when the tokenizer's own limit is missing or larger
    (CLIP tokenizers often declare none), so a long query is cut instead of crashing the text tower."""
    limit = position_limit(model)
    current = model.max_seq_length
    if limit is not None and (not current or current > limit):
        model.max_seq_length = limit


class SentenceTransformerEncoder:
    """A sentence-transformers model: CLIP-like models encode images and texts, text models texts."""

    backend = Backend.TORCH

    def __init__(self, model: Any, model_id: str, device: str, batch_size: int) -> None:
        self.model = model  # the SentenceTransformer itself
        self._lock = Lock()  # tokenizers and some models are not safe to call from several threads at once
        self.model_id = model_id
        self.device = device
        self._batch_size = batch_size
        measure = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        dimension = measure()
        if not dimension:
            raise ModelUnavailable(f"model {model_id!r} does not report its embedding dimension")
        self.dimension = int(dimension)
        supported = getattr(model, "modalities", None) or ["text"]
        self.modalities = frozenset(Modality(str(m)) for m in supported if str(m) in {Modality.IMAGE, Modality.TEXT})

    @classmethod
    def load(
        cls,
        name: str,
        *,
        setting: str,
        device: str,
        threads: int,
        batch_size: int,
        precision: Precision = Precision.AUTO,
        export_dir: Path | None = None,
    ) -> SentenceTransformerEncoder:
        """`name` on torch: fp16 on a GPU and fp32 on a CPU unless `precision` says (int8 is for exported models, and
        runs as fp32 here; `export_dir` is theirs too)."""
        import torch
        import transformers
        from sentence_transformers import SentenceTransformer

        transformers.logging.set_verbosity_error()
        transformers.logging.disable_progress_bar()

        resolved = resolve_device(device)
        if resolved == "cpu":
            torch.set_num_threads(threads)
        try:
            model = SentenceTransformer(name, device=resolved)
        except Exception as error:  # any loader failure: missing files, no hub, bad config
            raise ModelUnavailable(
                f"model {name!r} cannot be loaded ({why(name, error)}); set {setting} to a local model directory"
            ) from error
        cap_sequence_length(model)
        if precision is Precision.BF16:
            model = model.to(torch.bfloat16)
        elif precision is Precision.FP16 or (precision is Precision.AUTO and resolved.startswith("cuda")):
            model = model.half()
        model.eval()
        log.info("loaded %s on %s (%d CPU threads)", name, resolved, threads if resolved == "cpu" else 0)
        return cls(model, name, resolved, batch_size)

    def _encode(self, inputs: Sequence[Any]) -> Vectors:
        if not inputs:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:
            vectors = self.model.encode(
                list(inputs),
                batch_size=self._batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)

    def encode_images(self, images: Sequence[Image.Image]) -> Vectors:
        if Modality.IMAGE not in self.modalities:
            raise ModelUnavailable(
                f"model {self.model_id!r} cannot encode images; use a CLIP model for the vision space"
            )
        return self._encode(images)

    def encode_texts(self, texts: Sequence[str]) -> Vectors:
        return self._encode(texts)
