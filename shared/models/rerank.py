"""Rerankers: a cross-encoder reads the query and a hit's words together and says how well they match.

Slower than comparing vectors, so a search asks it only about its best text-bearing candidates
(MMINDEX_SEARCH__RERANK_CANDIDATES). Loaded lazily, once per process, like the encoders; MMINDEX_MODELS__RERANK=none
turns it off.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from threading import Lock
from typing import Any, Protocol

from shared.config import Settings
from shared.errors import HubUnreachable, ModelUnavailable
from shared.models import HUB_RECHECK_S, check_loadable, hub_offline

log = logging.getLogger(__name__)

SETTING = "MMINDEX_MODELS__RERANK"


class Reranker(Protocol):
    model_id: str

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        """How well each text answers the query, 0-1 (higher is better)."""
        ...


class CrossEncoderReranker:
    """sentence-transformers' CrossEncoder, its scores put through its activation (a sigmoid for one label)."""

    def __init__(self, model: Any, model_id: str, batch_size: int) -> None:
        self.model = model
        self.model_id = model_id
        self._batch_size = batch_size
        self._lock = Lock()  # tokenizers are not safe to call from several threads at once

    @classmethod
    def load(cls, name: str, *, device: str, threads: int, batch_size: int) -> CrossEncoderReranker:
        import torch
        from sentence_transformers import CrossEncoder

        from shared.models.sentence import resolve_device, why

        if threads:
            torch.set_num_threads(threads)
        try:
            model = CrossEncoder(name, device=resolve_device(device))
        except Exception as error:  # any loader failure: missing files, no hub, bad config
            raise ModelUnavailable(f"cannot load reranker {name!r} ({SETTING}): {why(name, error)}") from None
        if getattr(model.config, "num_labels", 1) != 1:
            raise ModelUnavailable(
                f"reranker {name!r} ({SETTING}) gives {model.config.num_labels} scores a pair; a cross-encoder for"
                " ranking gives one"
            )
        return cls(model, name, batch_size)

    def score(self, query: str, texts: Sequence[str]) -> list[float]:
        if not texts:
            return []
        with self._lock:
            scores = self.model.predict(
                [(query, text) for text in texts], batch_size=self._batch_size, show_progress_bar=False
            )
        return [float(value) for value in scores]


_rerankers: dict[tuple[str, str], Reranker] = {}
_failed: dict[tuple[str, str], float] = {}  # when a load failed, by time.monotonic: not tried again for a while
_lock = Lock()


def reranker_for(settings: Settings) -> Reranker | None:
    """The process's reranker, loaded on first use; None when MMINDEX_MODELS__RERANK is `none` or when it cannot
    load. A model that cannot load is reported once, in one line naming the setting, and searches go on without
    reranking; the load is tried again after HUB_RECHECK_S (a hub that was away may be back)."""
    name = settings.models.rerank
    if name == "none":
        return None
    key = (name, settings.models.device)
    with _lock:
        reranker = _rerankers.get(key)
        if reranker is not None:
            return reranker
        failed = _failed.get(key)
        if failed is not None and time.monotonic() - failed < HUB_RECHECK_S:
            return None
        try:
            cache_only = check_loadable(name, SETTING, repos=[name])
            with hub_offline(cache_only):
                reranker = CrossEncoderReranker.load(
                    name,
                    device=settings.models.device,
                    threads=settings.torch_threads(),
                    batch_size=settings.models.batch_size,
                )
        except (ModelUnavailable, HubUnreachable) as error:
            if failed is None:
                log.warning("searching without reranking: %s", error)
            _failed[key] = time.monotonic()
            return None
        _failed.pop(key, None)
        _rerankers[key] = reranker
        return reranker


def reset() -> None:
    """Forget loaded rerankers and failures (tests)."""
    with _lock:
        _rerankers.clear()
        _failed.clear()
