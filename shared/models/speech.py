"""Speech to text: Whisper through faster-whisper (the `asr` extra), loaded lazily, once per process, under a lock.

Recordings and the sound of videos are decoded to 16 kHz mono float32 and transcribed into timed segments of
text, which are then embedded like any other text. `MMINDEX_MODELS__ASR=none` turns speech-to-text off.

Sound longer than `MMINDEX_MODELS__ASR_BATCH_AFTER_S` (120 s by default; 0 = never) goes through faster-whisper's
batched pipeline, over the same loaded model: voice detection cuts it into pieces of speech of up to 30 s, which
are decoded together instead of one after another. The decode stage hands over its sound in pieces of at most
`min(MMINDEX_MEDIA__WINDOW_S, 300 s)`, so a window shorter than the threshold is never batched.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from threading import Lock
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from shared.config import Settings
from shared.errors import ModelUnavailable
from shared.models import check_loadable, hub_offline
from shared.models.sentence import resolve_device, why

log = logging.getLogger(__name__)

SAMPLE_RATE = 16_000
"""What `Transcriber.transcribe` takes: samples per second of mono float32 audio."""

SETTING = "MMINDEX_MODELS__ASR"

BEAM_SIZE = 1
"""Greedy decoding: several times faster than a beam search, and as good on clear speech."""

BATCH_SIZE = 16
"""Pieces of speech (up to 30 s each) the batched pipeline decodes at once: a 300 s window in one go."""
SENTENCE_ENDS = (".", "?", "!", '."', '?"', '!"')
PAUSE_S = 1.0
"""A batched piece's words are cut into segments after a sentence's end, and where they pause this long."""


@dataclass(frozen=True)
class Segment:
    """A stretch of speech: its start and end in seconds from the start of the source, and what was said."""

    start_s: float
    end_s: float
    text: str


class Transcriber(Protocol):
    """Turns 16 kHz mono float32 samples into timed segments of text."""

    model_id: str

    def transcribe(self, samples: NDArray[np.float32], *, offset_s: float = 0.0) -> list[Segment]:
        """Segments with text, in order; times are `offset_s` plus seconds into `samples`."""
        ...


def whisper_repo(name: str) -> str:
    """The hub repository faster-whisper downloads a model name from (a size such as tiny.en, or a hub id)."""
    from faster_whisper import utils

    sizes: dict[str, str] = getattr(utils, "_MODELS", {})
    return sizes.get(name, name)


def _whisper_model() -> Any:
    """faster-whisper's model class, or ModelUnavailable saying how to install it."""
    try:
        from faster_whisper import WhisperModel
    except ImportError as error:
        raise ModelUnavailable(
            f"speech-to-text needs faster-whisper: pip install 'mmindex[asr]' (or set {SETTING}=none)"
        ) from error
    return WhisperModel


class WhisperTranscriber:
    """A Whisper model converted for CTranslate2: int8 on the CPU, float16 on CUDA."""

    def __init__(self, model: Any, model_id: str, device: str, *, batch_after_s: float = 0.0) -> None:
        self._model = model
        self._batched: Any = None  # faster-whisper's BatchedInferencePipeline over `_model`, made on first use
        self._lock = Lock()  # one model per process, shared by the decode threads; decoding is not reentrant
        self.model_id = model_id
        self.device = device
        self.batch_after_s = batch_after_s

    @classmethod
    def load(
        cls, name: str, *, device: str, threads: int, retryable: bool = False, batch_after_s: float = 0.0
    ) -> WhisperTranscriber:
        """Load `name` (a faster-whisper size such as tiny.en, a hub id, or a local directory) on `device`.

        Samples longer than `batch_after_s` seconds are transcribed in batches (0: never).

        When no model hub answers, a cached hub model loads from the cache without asking it; one that is not
        cached raises ModelUnavailable, or HubUnreachable (retried later) when `retryable`.
        """
        whisper_model = _whisper_model()
        cache_only = check_loadable(name, SETTING, retryable=retryable, repos=[whisper_repo(name)])
        try:
            resolved = device if device == "cpu" else resolve_device(device)  # torch is only asked about CUDA
        except ModelUnavailable as error:
            raise ModelUnavailable(f"cannot load the speech-to-text model {name!r} ({SETTING}): {error}") from error
        kind, _, index = resolved.partition(":")
        started = time.perf_counter()
        try:
            with hub_offline(cache_only):
                model = whisper_model(
                    name,
                    device=kind,
                    device_index=int(index or 0),
                    compute_type="float16" if kind == "cuda" else "int8",
                    cpu_threads=threads,
                )
        except Exception as error:  # any loader failure: missing files, no hub, bad model, no CUDA runtime
            raise ModelUnavailable(
                f"cannot load the speech-to-text model {name!r} ({SETTING}): {why(name, error)}; "
                "set it to a local model directory, or to none"
            ) from error
        log.info("loaded %s on %s in %.1f s (%d CPU threads)", name, resolved, time.perf_counter() - started, threads)
        return cls(model, name, resolved, batch_after_s=batch_after_s)

    def transcribe(
        self, samples: NDArray[np.float32], *, offset_s: float = 0.0, batched: bool | None = None
    ) -> list[Segment]:
        """Segments with text, in order; times are `offset_s` plus seconds into `samples`.

        `batched`: through the batched pipeline (True), 30 s after 30 s (False), or batched when the samples
        last longer than `batch_after_s` (None, the default).
        """
        audio = np.asarray(samples, dtype=np.float32)
        if audio.ndim != 1:
            raise ValueError(f"expected mono samples (one dimension), got shape {audio.shape}")
        if not audio.size:
            return []
        if batched is None:
            batched = 0 < self.batch_after_s < audio.size / SAMPLE_RATE
        with self._lock:  # segments are decoded while the generator is consumed, so consume it inside the lock
            segments = self._batched_segments(audio) if batched else self._sequential_segments(audio)
        return [
            Segment(start_s=offset_s + start, end_s=offset_s + end, text=s.text.strip())
            for s in segments
            if s.text.strip()
            for start, end in [_span(s)]
        ]

    def _sequential_segments(self, audio: NDArray[np.float32]) -> list[Any]:
        """faster-whisper's segments, one 30 s stretch of speech after another (under the lock)."""
        found, _info = self._model.transcribe(
            audio,
            language=None,
            beam_size=BEAM_SIZE,
            vad_filter=True,
            condition_on_previous_text=False,
            word_timestamps=True,
        )
        return list(found)

    def _batched_segments(self, audio: NDArray[np.float32]) -> list[Any]:
        """faster-whisper's segments, its pieces of speech decoded `BATCH_SIZE` at a time (under the lock), cut
        into sentences.

        The pipeline's own voice detection (it cuts speech into pieces of up to 30 s), never conditioned on the
        text before, as the sequential path. Without timestamp tokens: with them, the pipeline drops a sentence
        left open at the end of a piece (it cannot go back for it, as the sequential path does); each piece
        comes back as one segment instead, and its timed words are cut into sentences here.
        """
        if self._batched is None:
            from faster_whisper import BatchedInferencePipeline

            self._batched = BatchedInferencePipeline(self._model)
        log.debug("transcribing %.1f s of sound in batches of %d", audio.size / SAMPLE_RATE, BATCH_SIZE)
        found, _info = self._batched.transcribe(
            audio,
            language=None,
            beam_size=BEAM_SIZE,
            vad_filter=True,
            without_timestamps=True,
            word_timestamps=True,
            batch_size=BATCH_SIZE,
        )
        return [sentence for piece in found for sentence in _sentences(piece)]


@dataclass(frozen=True)
class _Sentence:
    """Part of a batched piece of speech, shaped like faster-whisper's segments for `_span`."""

    text: str
    words: list[Any]
    start: float
    end: float


def _sentences(piece: Any) -> list[Any]:
    """A batched piece of speech (up to 30 s) cut after each word that ends a sentence, and at pauses."""
    words = list(piece.words or [])
    if not words:
        return [piece]
    sentences: list[Any] = []
    first = 0
    for index, word in enumerate(words):
        last = index == len(words) - 1
        if last or word.word.strip().endswith(SENTENCE_ENDS) or words[index + 1].start - word.end >= PAUSE_S:
            part = words[first : index + 1]
            text = "".join(w.word for w in part)
            sentences.append(_Sentence(text, part, float(part[0].start), float(part[-1].end)))
            first = index + 1
    return sentences


def _span(segment: Any) -> tuple[float, float]:
    """A segment's time from its first word to its last.

    Voice detection cuts the silence out before the model hears the audio, so a segment's own start can
    fall at the end of the speech before it; the words' times are aligned to the audio itself.
    """
    words = segment.words or []
    if words:
        return float(words[0].start), float(words[-1].end)
    return float(segment.start), float(segment.end)


_transcribers: dict[tuple[str, str, float], Transcriber] = {}
_lock = Lock()


def transcriber_for(settings: Settings) -> Transcriber | None:
    """The process's transcriber, loaded on first use, or None when speech-to-text is off.

    Raises ModelUnavailable, in one line naming MMINDEX_MODELS__ASR, when the model cannot be loaded;
    HubUnreachable (retryable) in distributed mode when it is not cached and no model hub answers for now.
    """
    name = settings.models.asr
    if name == "none":
        return None
    key = (name, settings.models.device, settings.models.asr_batch_after_s)
    with _lock:
        transcriber = _transcribers.get(key)
        if transcriber is None:
            transcriber = WhisperTranscriber.load(
                name,
                device=settings.models.device,
                threads=settings.torch_threads(),
                retryable=settings.distributed,  # a worker's task retries; a command fails at once
                batch_after_s=settings.models.asr_batch_after_s,
            )
            _transcribers[key] = transcriber
        return transcriber


def reset() -> None:
    """Forget the loaded transcribers (tests; the next `transcriber_for` loads again)."""
    with _lock:
        _transcribers.clear()
