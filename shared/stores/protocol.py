"""What every vector store offers: the `VectorStore` protocol and the values it takes and gives.

A store holds several spaces (one vector field each, e.g. `vision` and `text`); document ids are
deterministic, so writing the same documents twice changes nothing. Each space's vectors belong to generations
(shared/generations.py), each in a table or index of its own: searches read the serving one, writes name theirs
(or go to the serving one), and a source's deletion reaches every generation.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from shared.documents import Document, Hit, Item
from shared.generations import Generation, Lineage

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

    def ensure(self, dimensions: Mapping[str, int], model: str | None = None, fingerprint: str | None = None) -> None:
        """Give each space (space → vector dimension) its first generation, serving, of `model` (its weights'
        `fingerprint`), if it has none; refuse a dimension that differs from the serving generation's."""
        ...

    def upsert(self, documents: Sequence[Document], generation: int | None = None) -> UpsertResult:
        """Insert or replace documents by id, in generation `generation` of their space (None: the serving one, made
        on first use to fit the first document). A document of a model the generation does not hold, or of another
        dimension, is refused (in `failed`); a generation that no longer exists takes nothing (all refused)."""
        ...

    def delete_source(self, source: str, *, keep_version: str | None = None, only_version: str | None = None) -> int:
        """Delete a source's documents, in every generation: all, all but `keep_version`'s, or only `only_version`'s;
        return how many (of the serving generations)."""
        ...

    def search(
        self,
        space: str,
        vector: Sequence[float],
        k: int,
        filters: SearchFilter | None = None,
        generation: int | None = None,
    ) -> list[Hit]:
        """The k nearest documents in one space (its serving generation, or `generation`), best first, scored by
        cosine similarity."""
        ...

    def search_text(self, text: str, k: int, filters: SearchFilter | None = None) -> list[Hit]:
        """The k documents whose words best match `text` (BM25 over the `text` field, English stemming; the words
        as a phrase count extra, so an exact code or name comes first), across the spaces' serving generations, best
        first. A score is the store's BM25 score: unbounded, comparable only within one answer."""
        ...

    def scan(self, space: str, page: int = 1000, generation: int | None = None) -> Iterator[tuple[Hit, list[float]]]:
        """Every document of one space (its serving generation, or `generation`) with its vector (hits scored 0),
        read `page` at a time; for reports over the whole index, such as near-duplicates. Writes made meanwhile may
        or may not be seen."""
        ...

    def items(self, space: str, generation: int | None = None, page: int = 1000) -> Iterator[Item]:
        """Every document of one space's generation as the item it was made from (the stored thumbnail as the input
        of an image or frame, the stored words of a segment or chunk): what a rebuild embeds again."""
        ...

    def count(self, space: str | None = None, source: str | None = None, generation: int | None = None) -> int:
        """How many documents, in one space or all (their serving generations, or `generation` of `space`), of one
        source or all."""
        ...

    def dimensions(self) -> dict[str, int]:
        """The spaces that serve a generation, with its vector dimension."""
        ...

    def lineage(self, space: str) -> Lineage:
        """One space's generations, as they are now (read again on every call)."""
        ...

    def begin(self, space: str, model: str | None, dimension: int, fingerprint: str | None = None) -> Generation:
        """A new generation of `space` with its own table or index: the first of a space serves at once, a later
        one is `building`."""
        ...

    def commit(self, before: Lineage, after: Lineage) -> None:
        """Record `after` (a transition of `before`: shared/generations.py) in one write; a PermanentError if the
        space's generations changed since `before` was read (another command changed them: read them again)."""
        ...

    def drop(self, space: str, number: int) -> None:
        """Remove a generation that does not serve, its documents and its table or index."""
        ...
