"""What every vector store offers: the `VectorStore` protocol and the values it takes and gives.

A store holds several spaces (one vector field each, e.g. `vision` and `text`); document ids are
deterministic, so writing the same documents twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from shared.documents import Document, Hit

MAX_K = 1000
"""The most hits one search returns."""


@dataclass(frozen=True)
class SearchFilter:
    """Narrows a search: to some modalities, and/or to sources under a URI prefix."""

    modalities: tuple[str, ...] = ()
    source_prefix: str | None = None


@dataclass
class UpsertResult:
    """What a bulk write did: how many documents landed, and which did not, with why."""

    written: int = 0
    failed: dict[str, str] = field(default_factory=dict)


class VectorStore(Protocol):
    """Where documents and their vectors live."""

    def ensure(self, dimensions: Mapping[str, int]) -> None:
        """Create what the spaces need (space → vector dimension); refuse a dimension that differs."""
        ...

    def upsert(self, documents: Sequence[Document]) -> UpsertResult:
        """Insert or replace documents by id."""
        ...

    def delete_source(self, source: str, *, keep_version: str | None = None, only_version: str | None = None) -> int:
        """Delete a source's documents: all, all but `keep_version`'s, or only `only_version`'s; return how many."""
        ...

    def search(self, space: str, vector: Sequence[float], k: int, filters: SearchFilter | None = None) -> list[Hit]:
        """The k nearest documents in one space, best first, scored by cosine similarity."""
        ...

    def search_text(self, text: str, k: int, filters: SearchFilter | None = None) -> list[Hit]:
        """The k documents whose words best match `text` (BM25 over the `text` field, English stemming; the words
        as a phrase count extra, so an exact code or name comes first), across spaces, best first. A score is
        the store's BM25 score: unbounded, comparable only within one answer."""
        ...

    def scan(self, space: str, page: int = 1000) -> Iterator[tuple[Hit, list[float]]]:
        """Every document of one space with its vector (hits scored 0), read `page` at a time; for reports over the
        whole index, such as near-duplicates. Writes made meanwhile may or may not be seen."""
        ...

    def count(self, space: str | None = None, source: str | None = None) -> int:
        """How many documents, in one space or all, of one source or all."""
        ...

    def dimensions(self) -> dict[str, int]:
        """The spaces that exist, with their vector dimension."""
        ...
