"""What every encoder shares: its protocol, the vectors it gives, and the check that its model can be loaded.

Which implementation encodes a space, and the process's loaded encoders, are in `shared.models.encoders`.
"""

from __future__ import annotations

import base64
import os
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from threading import Lock
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray
from PIL import Image

from shared.documents import Modality, Space
from shared.errors import HubUnreachable, ModelUnavailable, mask
from shared.model_settings import Backend, Precision

__all__ = ["Backend", "Precision"]  # here for the encoders, which name them beside the protocol

Vectors = NDArray[np.float32]
"""Rows of float32 vectors, one per item, L2-normalized."""


def pack(vectors: Vectors) -> str:
    """Vectors as they travel in a task message: float32 bytes, base64."""
    return base64.b64encode(np.ascontiguousarray(vectors, dtype=np.float32).tobytes()).decode("ascii")


def unpack(data: str, rows: int) -> Vectors:
    """The `rows` vectors that `pack` made `data` of."""
    return np.frombuffer(base64.b64decode(data), dtype=np.float32).reshape(rows, -1)


class Encoder(Protocol):
    """Turns images and/or texts into float32, L2-normalized vectors of one space."""

    model_id: str
    dimension: int
    modalities: frozenset[Modality]  # what it can encode: image, text
    backend: Backend
    device: str  # where it runs: "cpu", "cuda", "cuda:1"
    model: Any  # the backend library's own model object (torch: a SentenceTransformer), as its users call it

    def encode_images(self, images: Sequence[Image.Image]) -> Vectors: ...

    def encode_texts(self, texts: Sequence[str]) -> Vectors: ...


HUB_TIMEOUT_S = 3.0
"""How long the check that a model hub answers may take before models are taken to be offline."""
HUB_RECHECK_S = 60.0
"""How long the check's answer is remembered: a hub that did not answer (a blip at start) is asked again after."""
_hub_answer: tuple[bool, float] | None = None  # (answered, when, by time.monotonic)
_hub_lock = Lock()


def hub_endpoint() -> str:
    """The model hub huggingface_hub would ask (HF_ENDPOINT, else huggingface.co)."""
    return os.environ.get("HF_ENDPOINT", "").rstrip("/") or "https://huggingface.co"


def offline_by_setting() -> bool:
    """Whether HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) says never to ask a hub."""
    value = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return value.strip().lower() in {"1", "on", "yes", "true"}


def _probe() -> bool:
    """Ask the hub once, with a short timeout; any HTTP answer counts: it is there."""
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(f"{hub_endpoint()}/api/models?limit=1", timeout=HUB_TIMEOUT_S):
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False


def hub_answers() -> bool:
    """Whether a model hub answers: False at once under HF_HUB_OFFLINE, else a quick check remembered for
    HUB_RECHECK_S, so a hub that was away is asked again later instead of being taken for gone for good."""
    global _hub_answer
    if offline_by_setting():
        return False
    with _hub_lock:
        now = time.monotonic()
        if _hub_answer is None or now - _hub_answer[1] >= HUB_RECHECK_S:
            _hub_answer = (_probe(), now)
        return _hub_answer[0]


def go_offline_unless_hub_reachable() -> bool:
    """Set HF_HUB_OFFLINE=1 for the rest of the process when no model hub answers, so loaders fail at once
    instead of retrying for minutes. For short-lived commands only (the demo, the benchmarks): a long-running
    worker must not stay offline after a blip. Returns whether the hub answered."""
    if hub_answers():
        return True
    os.environ["HF_HUB_OFFLINE"] = "1"
    constants = sys.modules.get("huggingface_hub.constants")
    if constants is not None:  # already imported: it read the variable once
        constants.HF_HUB_OFFLINE = True  # type: ignore[attr-defined]
    return False


_offline_lock = Lock()
_offline_loads = 0
_offline_before: tuple[str | None, bool] = (None, False)


@contextmanager
def hub_offline(on: bool = True) -> Iterator[None]:
    """HF_HUB_OFFLINE while a cached model loads with no hub answering (when `on`), so huggingface_hub asks
    no hub at all, not even besides downloading; as it was again after, so that a later load asks once more."""
    global _offline_loads, _offline_before
    if not on:
        yield
        return
    from huggingface_hub import constants

    with _offline_lock:
        if _offline_loads == 0:
            _offline_before = (os.environ.get("HF_HUB_OFFLINE"), constants.HF_HUB_OFFLINE)
            os.environ["HF_HUB_OFFLINE"] = "1"
            constants.HF_HUB_OFFLINE = True
        _offline_loads += 1
    try:
        yield
    finally:
        with _offline_lock:
            _offline_loads -= 1
            if _offline_loads == 0:
                variable, constant = _offline_before
                if variable is None:
                    os.environ.pop("HF_HUB_OFFLINE", None)
                else:
                    os.environ["HF_HUB_OFFLINE"] = variable
                constants.HF_HUB_OFFLINE = constant


def is_local(name: str) -> bool:
    """Whether a model setting names a directory rather than a hub model."""
    path = Path(name).expanduser()
    return path.is_absolute() or name.startswith(".") or path.is_dir()


def sentence_repos(name: str) -> list[str]:
    """The hub repositories sentence-transformers may resolve a model name to, in its order."""
    return [name] if "/" in name else [f"sentence-transformers/{name}", name]


def is_cached(name: str, repos: Sequence[str] | None = None) -> bool:
    """Whether a hub model (`repos`: where its name resolves, by default as sentence-transformers resolves it)
    is in the local hub cache."""
    from huggingface_hub import try_to_load_from_cache

    for repo in sentence_repos(name) if repos is None else repos:
        for file in ("modules.json", "config.json"):
            if isinstance(try_to_load_from_cache(repo, file), str):
                return True
    return False


def check_loadable(name: str, setting: str, *, retryable: bool = False, repos: Sequence[str] | None = None) -> bool:
    """Whether to load a hub model from the local cache only: True when no hub answers and it is cached there,
    so the loader does not wait out the hub's timeouts file by file. A local directory, or a hub that answers:
    False. Not cached while no hub answers: ModelUnavailable, in one line naming `setting`; HubUnreachable (which
    tasks retry with backoff) instead when `retryable`, unless HF_HUB_OFFLINE says the hub is never to be asked.
    """
    if is_local(name) or hub_answers():
        return False
    if is_cached(name, repos):
        return True
    message = (
        f"model {name!r} is not in the local cache and no model hub answers at {mask(hub_endpoint())}"
        f"{' (HF_HUB_OFFLINE is set)' if offline_by_setting() else ''};"
        f" set {setting} to a local model directory (`make demo` chooses local models when offline)"
    )
    if retryable and not offline_by_setting():
        raise HubUnreachable(message)
    raise ModelUnavailable(message)


def model_setting(space: Space) -> str:
    """The environment variable that names a space's model."""
    return f"MMINDEX_MODELS__{space.value.upper()}"
