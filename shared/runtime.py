"""What a process uses to do pipeline work: settings, ledger, vector store, encoders.

Each is made on first use and kept for the life of the process (a worker process
after fork, or the CLI in embedded mode), never at import time.
"""

from __future__ import annotations

import logging
import os
from functools import cached_property
from threading import Lock
from typing import TYPE_CHECKING, Any

from shared.config import Settings, get_settings
from shared.documents import Space
from shared.generations import Generation, fingerprint
from shared.ledger import Ledger, open_ledger
from shared.models import Encoder, model_setting
from shared.models.encoders import configured_model, encoder_for
from shared.storage import ObjectStorage, is_s3, storage_for
from shared.stores import VectorStore, open_store

if TYPE_CHECKING:
    from shared.generators import Generator
    from shared.models.ocr import Reader
    from shared.models.rerank import Reranker
    from shared.models.speech import Transcriber

log = logging.getLogger(__name__)


class Runtime:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._storages: dict[bool, ObjectStorage] = {}
        self._lock = Lock()
        self._told: set[tuple[Space, int, str]] = set()  # settings that disagree with a generation, said once
        self._weights: dict[str, str | None] = {}  # model → the fingerprint of its weights
        self._generator: Generator | None = None
        self._generator_lock = Lock()

    @cached_property
    def ledger(self) -> Ledger:
        return open_ledger(self.settings)

    @cached_property
    def broker(self) -> Any:
        """A client of the broker's Redis (for counters and queue depths), or None in embedded mode."""
        if not self.settings.broker_url:
            return None
        import redis

        return redis.Redis.from_url(
            self.settings.broker_url, decode_responses=True, socket_timeout=10, socket_connect_timeout=10
        )

    @cached_property
    def store(self) -> VectorStore:
        return open_store(self.settings)

    def storage(self, uri: str) -> ObjectStorage:
        """The storage serving `uri`: one per kind (local, S3) and process, sharing its client."""
        kind = is_s3(uri)
        with self._lock:
            if kind not in self._storages:
                self._storages[kind] = storage_for(uri, self.settings)
            return self._storages[kind]

    def encoder(self, space: Space, model: str | None = None) -> Encoder:
        """The encoder of `model` for `space` (default: the configured model)."""
        return encoder_for(space, self.settings, model=model)

    def fingerprint(self, encoder: Encoder) -> str | None:
        """The fingerprint of an encoder's weights (shared/generations.py), worked out once per process."""
        if encoder.model_id not in self._weights:
            # An exported model's encoder carries its torch weights' fingerprint, taken when it was exported.
            weights = getattr(encoder, "weights", None)
            self._weights[encoder.model_id] = weights if isinstance(weights, str) else fingerprint(encoder.model)
        return self._weights[encoder.model_id]

    def model_for(self, space: Space, generation: Generation | None) -> str:
        """The model that makes `generation`'s vectors: its own; the configured one for a space without a generation
        (or one that recorded none). A setting that names another model is said once, in one line: the generation's
        model is used, never the setting's, so that no vector of one model joins another model's index."""
        configured = configured_model(space, self.settings)
        if generation is None or generation.model is None:
            return configured
        said = (space, generation.number, configured)
        if generation.model != configured and said not in self._told:
            self._told.add(said)
            log.warning(
                "%s is %s, but the %s space serves generation %s of %s: that model is used; `mmindex reindex %s"
                " --model %s` builds a generation of the configured one",
                model_setting(space),
                configured,
                space.value,
                generation.name,
                generation.model,
                space.value,
                configured,
            )
        return generation.model

    def transcriber(self) -> Transcriber | None:
        """Speech-to-text, or None when MMINDEX_MODELS__ASR is `none`."""
        from shared.models.speech import transcriber_for  # faster-whisper is an extra: imported on first use

        return transcriber_for(self.settings)

    def ocr(self) -> Reader | None:
        """The reader of words in pictures, or None when MMINDEX_MODELS__OCR is `none`."""
        from shared.models.ocr import reader_for

        return reader_for(self.settings)

    def reranker(self) -> Reranker | None:
        """The cross-encoder that rescores a search's best text-bearing hits, or None when it is off or cannot load
        (reported once)."""
        from shared.models.rerank import reranker_for

        return reranker_for(self.settings)

    def generator(self) -> Generator:
        """The generator of answers (MMINDEX_GENERATOR__*), made on first use: a local model is loaded once."""
        from shared.generators import generator_for

        with self._generator_lock:
            if self._generator is None:
                self._generator = generator_for(self.settings)
            return self._generator

    def picture(self, uri: str) -> bytes:
        """The bytes of a thumbnail (or any stored object) at `uri`."""
        with self.storage(uri).fetch(uri) as path:
            return path.read_bytes()


_runtime: Runtime | None = None
_pid: int | None = None


def get_runtime() -> Runtime:
    """This process's runtime; a forked child makes its own (connections do not survive fork)."""
    global _runtime, _pid
    if _runtime is None or _pid != os.getpid():
        _runtime = Runtime(get_settings())
        _pid = os.getpid()
    return _runtime


def reset_runtime() -> None:
    """Forget the runtime and settings, e.g. after the environment changed."""
    global _runtime
    _runtime = None
    get_settings.cache_clear()
