"""What flows through the pipeline: items before embedding, documents after, hits out of search."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any


class Space(StrEnum):
    """A vector space: one encoder, one vector field."""

    VISION = "vision"  # CLIP: images, video frames, and text queries through its text tower
    TEXT = "text"  # a text model: transcripts, text chunks, text queries


class Modality(StrEnum):
    """What kind of media an item (and a hit) comes from: the media kinds that have a decoder.

    `shared.media.MediaKind` names what a source's content is, which also takes the values no item has (`empty`,
    `unknown`); an item's modality is always one of these four, with the same names and values.
    """

    IMAGE = "image"
    VIDEO = "video"  # its frames (vision) and its speech (text)
    AUDIO = "audio"  # its speech (text)
    TEXT = "text"  # a document's chunks


def document_id(root: str, key: str, version: str, item: int, space: Space | str) -> str:
    """The deterministic id of one item in one space: the same input always lands on the same document."""
    raw = "\x1f".join((root, key, version, str(item), str(space)))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:40]


@dataclass
class Item:
    """One future document: an image, a frame, a speech segment or a text chunk.

    It travels in task messages, so it holds references and small metadata only;
    the pixels stay in the object store under `input_uri`. In a message `space` and `modality` are their
    strings; an item made from strings (a message, a test) holds them as `Space` and `Modality`.
    """

    id: str
    source_id: str
    source: str  # the source's URI without version
    version: str
    uri: str
    modality: Modality
    item: int
    space: Space
    input_uri: str | None = None  # image to embed
    text: str | None = None  # words to embed
    thumbnail: str | None = None
    start_s: float | None = None
    end_s: float | None = None
    page: int | None = None  # a PDF's chunk: the page (from 1) its own words are on

    def __post_init__(self) -> None:
        self.modality = Modality(self.modality)
        self.space = Space(self.space)

    def to_message(self) -> dict[str, Any]:
        return {**asdict(self), "modality": self.modality.value, "space": self.space.value}

    @classmethod
    def from_message(cls, data: dict[str, Any]) -> Item:
        return cls(**data)


@dataclass
class Document:
    """An item with its vector, ready for the store."""

    item: Item
    vector: list[float]
    model: str
    pipeline: str

    def fields(self) -> dict[str, Any]:
        """The stored fields, vector excluded."""
        item = self.item
        return {
            "id": item.id,
            "source_id": item.source_id,
            "source": item.source,
            "version": item.version,
            "uri": item.uri,
            "modality": item.modality.value,
            "item": item.item,
            "space": item.space.value,
            "text": item.text,
            "thumbnail": item.thumbnail,
            "start_s": item.start_s,
            "end_s": item.end_s,
            "page": item.page,
            "model": self.model,
            "pipeline": self.pipeline,
        }


class SearchMode(StrEnum):
    """How a search finds its hits (MMINDEX_SEARCH__MODE)."""

    DENSE = "dense"  # vector search in each space
    LEXICAL = "lexical"  # BM25 over the words of speech segments and document chunks
    HYBRID = "hybrid"  # both, fused


class FusionMethod(StrEnum):
    """How a search combines its rankings (MMINDEX_SEARCH__FUSION)."""

    WEIGHTED = "weighted"  # normalised scores, weighted by how far each ranking can be trusted for this query
    RRF = "rrf"  # reciprocal rank fusion: the rank counts, not the score


class Normalization(StrEnum):
    """How a ranking's scores are put on one scale before fusion (MMINDEX_SEARCH__NORMALIZATION)."""

    MIN_MAX = "min_max"  # a ranking's scores from its worst candidate (0) to its best (1)
    Z_SCORE = "z_score"  # from its candidates' mean (0) to its best (1)


@dataclass
class Hit:
    """One search result, in the shape `search --json` prints (`public`: `modality` as its string).

    `score` is a store's score: cosine similarity from a vector search, BM25 from a lexical one. A search's final
    hits keep the cosine similarity (None for a hit only its words found) and add `relevance`, 0-1, which ranks.
    """

    uri: str
    modality: Modality
    score: float | None
    start_s: float | None = None
    end_s: float | None = None
    text: str | None = None
    thumbnail: str | None = None
    id: str = field(default="", repr=False)
    space: Space | None = field(default=None, repr=False)  # the space that found it (None: made outside a search)
    relevance: float | None = None  # set by a search's fusion
    generation: int | None = field(default=None, repr=False)  # the space's generation that held it
    page: int | None = None  # a PDF's chunk: the page (from 1) its own words are on

    def __post_init__(self) -> None:
        self.modality = Modality(self.modality)
        self.space = None if self.space is None else Space(self.space)

    def public(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "modality": self.modality.value,
            "score": None if self.score is None else round(self.score, 6),
            "relevance": None if self.relevance is None else round(self.relevance, 4),
            "start_s": self.start_s,
            "end_s": self.end_s,
            "page": self.page,
            "text": self.text,
            "thumbnail": self.thumbnail,
        }
