"""Answering a query: encode it once per space, search each space, fuse the rankings."""

from __future__ import annotations

import base64
import io
import logging
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from shared.config import Settings, get_settings
from shared.documents import Hit, Modality, Space
from shared.errors import HubUnreachable, MmindexError, ModelUnavailable, PermanentError, SourceNotFound, one_line
from shared.media import ffmpeg
from shared.media.image import open_rgb, thumbnail_jpeg
from shared.models import model_setting
from shared.models.speech import SAMPLE_RATE
from shared.runtime import Runtime
from shared.stores import MAX_K, SearchFilter

log = logging.getLogger(__name__)

RRF_K = 60
"""Reciprocal rank fusion constant: a hit ranked r in a space adds 1 / (RRF_K + r)."""
MOMENT_GAP_S = 1.0
"""Hits of one video or recording this close (end to start) or overlapping may form one moment."""
MOMENT_DROP = 0.25
"""A neighbour joins a moment if its similarity is below the best member's by at most this share of the way
from the best down to the median candidate of that space: a moment ends where the match fades."""
OTHER_SPACE_STRENGTH = 0.5
"""A neighbour found in another space joins if it stands at least this far from its space's median to its top."""
QUERY_AUDIO_S = 30.0
"""A spoken query is cut to this length before it is sent (it travels in the message, compressed)."""
CANDIDATES_PER_HIT = 4
"""Each space is asked for this many hits per hit wanted, since merging into moments leaves fewer."""
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


Key = tuple[str, float | None, float | None]


def _key(hit: Hit) -> Key:
    return hit.uri, hit.start_s, hit.end_s  # one item, whichever space found it


def _end(hit: Hit) -> float:
    return hit.end_s if hit.end_s is not None else hit.start_s or 0.0


@dataclass
class _Ranked:
    """A hit with what fusion knows of it: its fused score, and how it stands in its own space's ranking."""

    hit: Hit
    fused: float
    ranking: int  # which ranking (space) its best score came from
    strength: float  # 1 at that ranking's top score, 0 at its median


def _rank(rankings: list[list[Hit]]) -> list[_Ranked]:
    """Reciprocal rank fusion: the same item found in several rankings is one, with its best score."""
    shares: dict[Key, float] = {}
    best: dict[Key, tuple[Hit, int]] = {}
    for number, ranking in enumerate(rankings):
        seen: set[Key] = set()
        for rank, hit in enumerate(ranking, start=1):
            key = _key(hit)
            if key not in seen:  # an item counts once per ranking
                seen.add(key)
                shares[key] = shares.get(key, 0.0) + 1.0 / (RRF_K + rank)
            if key not in best or hit.score > best[key][0].score:
                best[key] = hit, number
    spread = []
    for ranking in rankings:
        scores = sorted(hit.score for hit in ranking)
        spread.append((scores[len(scores) // 2], scores[-1]) if scores else (0.0, 0.0))
    ranked = []
    for key, (hit, number) in best.items():
        median, top = spread[number]
        strength = 1.0 if top <= median else (hit.score - median) / (top - median)
        ranked.append(_Ranked(hit, shares[key], number, strength))
    ranked.sort(key=lambda entry: (-entry.fused, -entry.hit.score))
    return ranked


def _joins(seed: _Ranked, other: _Ranked, median: float) -> bool:
    """Whether a hit next to a moment's seed belongs to the moment: as similar as the seed, nearly, or clearly
    a match in another space (words said over matching frames)."""
    if other.ranking == seed.ranking:
        return seed.hit.score - other.hit.score <= MOMENT_DROP * max(0.0, seed.hit.score - median)
    return other.strength >= OTHER_SPACE_STRENGTH


def _moment(members: list[_Ranked]) -> Hit:
    """One hit for a moment: its span, the best score, the best frame's thumbnail and the words said in it."""
    seed = members[0].hit
    if len(members) == 1:
        return seed
    in_time = sorted(members, key=lambda entry: entry.hit.start_s or 0.0)
    thumbnail = next((entry.hit.thumbnail for entry in members if entry.hit.thumbnail), None)
    words: list[str] = []
    for entry in in_time:
        if entry.hit.text and entry.hit.text not in words:
            words.append(entry.hit.text)
    return Hit(
        uri=seed.uri,
        modality=seed.modality,
        score=max(entry.hit.score for entry in members),
        start_s=min(entry.hit.start_s or 0.0 for entry in members),
        end_s=max(_end(entry.hit) for entry in members),
        text=" ".join(words) or None,
        thumbnail=thumbnail,
        id=seed.id,
        space=seed.space,
    )


def fuse(rankings: list[list[Hit]], k: int, gap_s: float = MOMENT_GAP_S) -> list[Hit]:
    """Reciprocal rank fusion across spaces, then hits of one video or recording gathered into moments.

    Each ranking is one space's. The same item (uri and time span) found in several spaces is one hit,
    whose score stays its best cosine similarity. Moments grow from the best hits: a hit of the same file
    within `gap_s` of a moment joins it when it is nearly as similar as the moment's best (see `_joins`).
    A moment ranks by its best hit's fused score plus, per other space, its best member's share there:
    words and frames that agree lift it; a run of similar frames counts once.
    """
    ranked = _rank(rankings)
    medians = [sorted(hit.score for hit in ranking)[len(ranking) // 2] if ranking else 0.0 for ranking in rankings]
    timed: dict[str, list[_Ranked]] = {}
    for entry in ranked:
        if entry.hit.start_s is not None:
            timed.setdefault(entry.hit.uri, []).append(entry)
    taken: set[int] = set()
    moments: list[tuple[float, Hit]] = []
    for seed in ranked:  # best first
        if id(seed) in taken:
            continue
        taken.add(id(seed))
        members = [seed]
        if seed.hit.start_s is not None:
            start, end = seed.hit.start_s, _end(seed.hit)
            grew = True
            while grew:
                grew = False
                for other in timed[seed.hit.uri]:
                    near = (other.hit.start_s or 0.0) <= end + gap_s and _end(other.hit) >= start - gap_s
                    if id(other) not in taken and near and _joins(seed, other, medians[seed.ranking]):
                        taken.add(id(other))
                        members.append(other)
                        start, end = min(start, other.hit.start_s or 0.0), max(end, _end(other.hit))
                        grew = True
        best_other: dict[int, float] = {}
        for entry in members[1:]:
            if entry.ranking != seed.ranking:
                best_other[entry.ranking] = max(best_other.get(entry.ranking, 0.0), entry.fused)
        moments.append((seed.fused + sum(best_other.values()), _moment(members)))
    moments.sort(key=lambda pair: (-pair[0], -pair[1].score))
    return [hit for _, hit in moments[:k]]


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
    """Hits for a text, image or spoken query, best first."""
    if query.audio_ogg:
        query = Query(text=heard(query.audio_ogg, runtime), k=query.k, modalities=query.modalities,
                      source_prefix=query.source_prefix)  # fmt: skip
    if not query.text and not query.image_jpeg:
        raise PermanentError("a search needs text, an image or a recording")
    unknown = sorted(set(query.modalities) - set(MODALITIES))
    if unknown:
        raise PermanentError(f"unknown modality {', '.join(unknown)}; choose from {', '.join(MODALITIES)}")
    k = max(1, min(query.k, MAX_K))
    filters = SearchFilter(modalities=tuple(query.modalities), source_prefix=query.source_prefix)
    spaces = runtime.store.dimensions()
    rankings: list[list[Hit]] = []
    unavailable: list[str] = []
    for name in spaces:
        space = Space(name)
        if query.image_jpeg is not None and space is not Space.VISION:
            continue
        try:
            encoder = runtime.encoder(space)
        except (ModelUnavailable, HubUnreachable) as error:  # a search answers now, with the spaces it can load
            unavailable.append(str(error))
            log.warning("space %s skipped: %s", name, error)
            continue
        if encoder.dimension != spaces[name]:
            raise PermanentError(
                f"the {name} space holds {spaces[name]}-d vectors but {model_setting(space)}={encoder.model_id}"
                f" gives {encoder.dimension}-d: search with the model the index was built with"
            )
        if query.image_jpeg is not None:
            with Image.open(io.BytesIO(base64.b64decode(query.image_jpeg))) as image:
                vector = encoder.encode_images([image.convert("RGB")])[0]
        else:
            vector = encoder.encode_texts([query.text or ""])[0]
        rankings.append(runtime.store.search(name, vector.tolist(), min(MAX_K, k * CANDIDATES_PER_HIT), filters))
    if not rankings and unavailable:
        raise ModelUnavailable("; ".join(unavailable))
    return fuse(rankings, k)
