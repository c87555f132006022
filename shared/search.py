"""Answering a query: encode it once per space and search each space, search its words, fuse the rankings."""

from __future__ import annotations

import base64
import io
import logging
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from PIL import Image

from shared.config import Settings, get_settings
from shared.documents import Hit, Modality, SearchMode, Space
from shared.errors import HubUnreachable, MmindexError, ModelUnavailable, PermanentError, SourceNotFound, one_line
from shared.fusion import Kind, Ranking, fuse
from shared.media import ffmpeg
from shared.media.image import open_rgb, thumbnail_jpeg
from shared.models.speech import SAMPLE_RATE
from shared.runtime import Runtime
from shared.stores import MAX_K, SearchFilter

log = logging.getLogger(__name__)

QUERY_AUDIO_S = 30.0
"""A spoken query is cut to this length before it is sent (it travels in the message, compressed)."""
CANDIDATES_PER_HIT = 4
"""Each ranking is asked for this many hits per hit wanted, since merging into moments leaves fewer."""
MODALITIES = tuple(modality.value for modality in Modality)
"""What a search may be narrowed to."""


@dataclass
class Query:
    """A search request as it travels to the query pool: small and JSON-serialisable."""

    text: str | None = None
    image_jpeg: str | None = None  # base64 JPEG, already shrunk to the model's input size by the caller
    audio_ogg: str | None = None  # base64 Ogg/Opus, 16 kHz mono, at most QUERY_AUDIO_S long: searched by its words
    k: int = 10
    modalities: list[str] = field(default_factory=list)
    source_prefix: str | None = None
    mode: str | None = None  # dense, lexical or hybrid; None: MMINDEX_SEARCH__MODE
    min_relevance: float | None = None  # None: MMINDEX_SEARCH__MIN_RELEVANCE
    rerank: bool = True  # rescore with the cross-encoder when one is loaded

    def to_message(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_message(cls, data: dict[str, Any]) -> Query:
        return cls(**data)


def image_query(
    path: Path, *, k: int = 10, modalities: Sequence[str] = (), settings: Settings | None = None, name: str = ""
) -> Query:
    """A search by an example image: the file read within MMINDEX_IMAGE__MAX_PIXELS and shrunk to the JPEG
    thumbnail the vision space is searched with. An error in reading it names the file (or `name`, e.g. an
    upload's file name)."""
    image_settings = (settings or get_settings()).image
    _must_exist(path)
    with _naming(name or path):
        image = open_rgb(path, max_pixels=image_settings.max_pixels, min_side=image_settings.thumbnail_px)
    jpeg = thumbnail_jpeg(image, image_settings.thumbnail_px)
    return Query(image_jpeg=base64.b64encode(jpeg).decode("ascii"), k=k, modalities=list(modalities))


def audio_query(
    path: Path, *, k: int = 10, modalities: Sequence[str] = (), settings: Settings | None = None, name: str = ""
) -> Query:
    """A search by the words spoken in a recording: its first QUERY_AUDIO_S, as 16 kHz mono Opus (what the query
    pool transcribes). An error in reading it names the file (or `name`); a recording without sound is refused."""
    _must_exist(path)
    timeout_s = (settings or get_settings()).media.ffmpeg_timeout_s
    with _naming(name or path):
        samples = ffmpeg.pcm(path, end_s=QUERY_AUDIO_S, timeout_s=timeout_s)
    if samples.size == 0:
        raise PermanentError(f"{name or path}: the recording holds no sound")
    with _naming(name or path):
        audio = ffmpeg.write_audio(samples, SAMPLE_RATE, timeout_s=timeout_s)
    return Query(audio_ogg=base64.b64encode(audio).decode("ascii"), k=k, modalities=list(modalities))


def _must_exist(path: Path) -> None:
    if not path.is_file():
        raise SourceNotFound(f"{path}: no such file")


@contextmanager
def _naming(path: Path | str) -> Iterator[None]:
    """An error raised inside is raised again, of the same kind, with the query file's path before its message."""
    try:
        yield
    except MmindexError as error:
        raise type(error)(f"{path}: {one_line(error)}") from error


def heard(audio_ogg: str, runtime: Runtime) -> str:
    """The words spoken in a query recording."""
    transcriber = runtime.transcriber()
    if transcriber is None:
        raise PermanentError("speech-to-text is off (MMINDEX_MODELS__ASR=none): search with words instead")
    with tempfile.NamedTemporaryFile(suffix=".ogg") as file:
        file.write(base64.b64decode(audio_ogg))
        file.flush()
        samples = ffmpeg.pcm(Path(file.name), end_s=QUERY_AUDIO_S, timeout_s=runtime.settings.media.ffmpeg_timeout_s)
    words = " ".join(segment.text for segment in transcriber.transcribe(samples))
    if not words:
        raise PermanentError("no speech was heard in the query recording")
    return words


def run_query(query: Query, runtime: Runtime) -> list[Hit]:
    """Hits for a text, image or spoken query, best first, each with its relevance (see shared.fusion)."""
    if query.audio_ogg:
        query = replace(query, text=heard(query.audio_ogg, runtime), audio_ogg=None)
    if not query.text and not query.image_jpeg:
        raise PermanentError("a search needs text, an image or a recording")
    unknown = sorted(set(query.modalities) - set(MODALITIES))
    if unknown:
        raise PermanentError(f"unknown modality {', '.join(unknown)}; choose from {', '.join(MODALITIES)}")
    settings = runtime.settings.search
    mode = _mode(query.mode or settings.mode)
    if mode is SearchMode.LEXICAL and query.image_jpeg is not None:
        raise PermanentError("an image is searched by its looks: mode lexical needs words")
    min_relevance = settings.min_relevance if query.min_relevance is None else query.min_relevance
    if not 0 <= min_relevance <= 1:
        raise PermanentError(f"the minimum relevance is a number from 0 to 1, not {min_relevance}")
    k = max(1, min(query.k, MAX_K))
    candidates = min(MAX_K, k * CANDIDATES_PER_HIT)
    filters = SearchFilter(modalities=tuple(query.modalities), source_prefix=query.source_prefix)
    rankings: list[Ranking] = []
    if mode is not SearchMode.LEXICAL:
        rankings += _dense(query, runtime, candidates, filters)
    if mode is not SearchMode.DENSE and query.text:
        hits = runtime.store.search_text(query.text, candidates, filters)
        rankings.append(Ranking("lexical", Kind.LEXICAL, hits, weight=settings.lexical_weight, query=query.text))
    reranker = runtime.reranker() if query.rerank and query.text else None
    words = query.text or ""
    return fuse(
        rankings,
        k,
        fusion=settings.fusion,
        normalization=settings.normalization,
        min_relevance=min_relevance,
        rescore=None if reranker is None else lambda texts: reranker.score(words, texts),
        rerank_candidates=settings.rerank_candidates,
    )


def _mode(value: str) -> SearchMode:
    try:
        return SearchMode(value)
    except ValueError:
        raise PermanentError(f"unknown search mode {value!r}; choose from {', '.join(SearchMode)}") from None


def _dense(query: Query, runtime: Runtime, candidates: int, filters: SearchFilter) -> list[Ranking]:
    """One vector search per space the query can ask: a text query both, an image query the vision space. A space
    whose model cannot load is skipped (the search answers with the others); if none can, ModelUnavailable."""
    settings = runtime.settings.search
    spaces = runtime.store.dimensions()
    rankings: list[Ranking] = []
    unavailable: list[str] = []
    for name in spaces:
        space = Space(name)
        if query.image_jpeg is not None and space is not Space.VISION:
            continue
        serving = runtime.store.lineage(name).serving  # the query is encoded by the model of what it searches
        if serving is None:  # dropped since `dimensions` was read
            continue
        try:
            encoder = runtime.encoder(space, runtime.model_for(space, serving))
        except (ModelUnavailable, HubUnreachable) as error:  # a search answers now, with the spaces it can load
            unavailable.append(str(error))
            log.warning("space %s skipped: %s", name, error)
            continue
        if encoder.dimension != serving.dimension:
            raise PermanentError(
                f"the {name} space serves generation {serving.name} of {serving.dimension}-d vectors but its model"
                f" {encoder.model_id} gives {encoder.dimension}-d: the model at that name or path has changed"
            )
        if query.image_jpeg is not None:
            with Image.open(io.BytesIO(base64.b64decode(query.image_jpeg))) as image:
                vector = encoder.encode_images([image.convert("RGB")])[0]
            scale = settings.similarity["image"]
        else:
            vector = encoder.encode_texts([query.text or ""])[0]
            scale = settings.similarity[name]
        weight = settings.vision_weight if space is Space.VISION else settings.text_weight
        hits = runtime.store.search(name, vector.tolist(), candidates, filters, serving.number)
        rankings.append(Ranking(name, Kind.DENSE, hits, weight=weight, scale=scale))
    if not rankings and unavailable:
        raise ModelUnavailable("; ".join(unavailable))
    return rankings
