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


def document_id(root: str, key: str, version: str, item: int, space: Space | str) -> str:
    """The deterministic id of one item in one space: the same input always lands on the same document."""
    raw = "\x1f".join((root, key, version, str(item), str(space)))
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:40]


@dataclass
class Item:
    """One future document: an image, a frame, a speech segment or a text chunk.

    It travels in task messages, so it holds references and small metadata only;
    the pixels stay in the object store under `input_uri`.
    """

    id: str
    source_id: str
    source: str  # the source's URI without version
    version: str
    uri: str
    modality: str
    item: int
    space: str
    input_uri: str | None = None  # image to embed
    text: str | None = None  # words to embed
    thumbnail: str | None = None
    start_s: float | None = None
    end_s: float | None = None

    def to_message(self) -> dict[str, Any]:
        return asdict(self)

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
            "modality": item.modality,
            "item": item.item,
            "space": item.space,
            "text": item.text,
            "thumbnail": item.thumbnail,
            "start_s": item.start_s,
            "end_s": item.end_s,
            "model": self.model,
            "pipeline": self.pipeline,
        }


@dataclass
class Hit:
    """One search result, in the shape `search --json` prints."""

    uri: str
    modality: str
    score: float
    start_s: float | None = None
    end_s: float | None = None
    text: str | None = None
    thumbnail: str | None = None
    id: str = field(default="", repr=False)
    space: str = field(default="", repr=False)

    def public(self) -> dict[str, Any]:
        return {
            "uri": self.uri,
            "modality": self.modality,
            "score": round(self.score, 6),
            "start_s": self.start_s,
            "end_s": self.end_s,
            "text": self.text,
            "thumbnail": self.thumbnail,
        }
