"""The embedded store: LanceDB tables under MMINDEX_HOME, one per space.

Writers on one host (several worker processes) take a file lock, so concurrent
merges never conflict and a table is created whole before another process opens it;
readers need no lock.
"""

from __future__ import annotations

import fcntl
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from threading import Lock
from typing import Any

import lancedb
import pyarrow as pa
from lancedb.index import FTS
from lancedb.query import BooleanQuery, MatchQuery, Occur, PhraseQuery

from shared.documents import Document, Hit, Modality, Space
from shared.errors import PermanentError, StoreError
from shared.stores.protocol import MAX_K, SearchFilter, UpsertResult

COMPACT_EVERY = 64
"""Compact a table after this many versions (writes and deletes)."""
TEXT_INDEX = FTS(with_position=True)
"""The full-text index on `text`: words lower-cased, accents folded, English stems, stop words dropped, and their
positions kept for phrase queries. Rows written after it was built are searched too (unindexed rows are scanned
until the next compaction folds them in)."""

_FIELDS: list[pa.Field] = [
    pa.field("id", pa.string(), nullable=False),
    pa.field("source_id", pa.string()),
    pa.field("source", pa.string()),
    pa.field("version", pa.string()),
    pa.field("uri", pa.string()),
    pa.field("modality", pa.string()),
    pa.field("item", pa.int32()),
    pa.field("space", pa.string()),
    pa.field("text", pa.string()),
    pa.field("thumbnail", pa.string()),
    pa.field("start_s", pa.float64()),
    pa.field("end_s", pa.float64()),
    pa.field("model", pa.string()),
    pa.field("pipeline", pa.string()),
]


def _quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _where(filters: SearchFilter | None) -> str | None:
    if filters is None:
        return None
    clauses = []
    if filters.modalities:
        clauses.append(f"modality IN ({', '.join(_quote(m) for m in filters.modalities)})")
    if filters.source_prefix:
        clauses.append(f"starts_with(source, {_quote(filters.source_prefix)})")
    return " AND ".join(clauses) or None


_HIT_COLUMNS = ["id", "uri", "modality", "start_s", "end_s", "text", "thumbnail"]


def _hit(row: dict[str, Any], space: str, score: float) -> Hit:
    return Hit(
        uri=row["uri"],
        modality=Modality(row["modality"]),
        score=score,
        start_s=row["start_s"],
        end_s=row["end_s"],
        text=row["text"],
        thumbnail=row["thumbnail"],
        id=row["id"],
        space=Space(space),
    )


class EmbeddedStore:
    """LanceDB in a directory: table `items_<space>` per space."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._directory.mkdir(parents=True, exist_ok=True)
        self._db = lancedb.connect(str(directory))
        self._lock = Lock()
        self._text_indexed: set[str] = set()  # spaces whose table this process saw with its full-text index

    @contextmanager
    def _writing(self) -> Iterator[None]:
        with self._lock, (self._directory / ".write.lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @staticmethod
    def _table_name(space: str) -> str:
        return f"items_{space}"

    def _table(self, space: str) -> Any | None:
        try:
            return self._db.open_table(self._table_name(space))
        except (ValueError, FileNotFoundError):
            return None

    def dimensions(self) -> dict[str, int]:
        found: dict[str, int] = {}
        response: Any = self._db.list_tables()
        names = getattr(response, "tables", response)
        for name in names:
            if name.startswith("items_"):
                table = self._table(name.removeprefix("items_"))
                if table is not None:  # None: another process is creating it (and holds the write lock)
                    found[name.removeprefix("items_")] = table.schema.field("vector").type.list_size
        return found

    def ensure(self, dimensions: Mapping[str, int]) -> None:
        with self._writing():
            self._ensure(dimensions)

    def _ensure(self, dimensions: Mapping[str, int]) -> None:
        """Create the missing spaces; the caller holds the write lock, so no other process is creating one."""
        existing = self.dimensions()
        for space, dim in dimensions.items():
            if space in existing:
                if existing[space] != dim:
                    raise PermanentError(
                        f"space {space!r} holds {existing[space]}-d vectors but the model gives {dim}-d;"
                        " a different model needs a fresh store (another MMINDEX_HOME)"
                    )
                continue
            schema = pa.schema([*_FIELDS, pa.field("vector", pa.list_(pa.float32(), dim))])
            table = self._db.create_table(self._table_name(space), schema=schema, exist_ok=True)
            self._index_text(table, space)

    def _index_text(self, table: Any, space: str) -> None:
        """Give a table its full-text index, once (tables made before lexical search have none); under the lock."""
        if space in self._text_indexed:
            return
        if not any(index.index_type == "FTS" and index.columns == ["text"] for index in table.list_indices()):
            table.create_index("text", config=TEXT_INDEX)
        self._text_indexed.add(space)

    def upsert(self, documents: Sequence[Document]) -> UpsertResult:
        result = UpsertResult()
        by_space: dict[str, list[Document]] = {}
        for document in documents:
            by_space.setdefault(document.item.space.value, []).append(document)
        for space, group in by_space.items():
            # The table is created, opened and written under one lock: a process that finds the space missing
            # creates it whole before any other lists it, opens it or writes to it.
            with self._writing():
                self._ensure({space: len(group[0].vector)})
                table = self._table(space)
                if table is None:
                    raise StoreError(f"the embedded store's table {self._table_name(space)} cannot be opened")
                self._index_text(table, space)
                dim = table.schema.field("vector").type.list_size
                rows = []
                for document in group:
                    if len(document.vector) != dim:
                        result.failed[document.item.id] = (
                            f"vector has {len(document.vector)} dimensions, space {space!r} has {dim}"
                        )
                        continue
                    rows.append({**document.fields(), "vector": document.vector})
                if not rows:
                    continue
                data = pa.Table.from_pylist(rows, schema=table.schema)
                table.merge_insert("id").when_matched_update_all().when_not_matched_insert_all().execute(data)
                if table.version % COMPACT_EVERY == 0:
                    # Each write adds a data fragment and a version: merge them now and then, and drop old
                    # versions (after a grace period for readers still on them).
                    table.optimize(cleanup_older_than=timedelta(minutes=10))
            result.written += len(rows)
        return result

    def delete_source(self, source: str, *, keep_version: str | None = None, only_version: str | None = None) -> int:
        condition = f"source = {_quote(source)}"
        if keep_version is not None:
            condition += f" AND version != {_quote(keep_version)}"
        if only_version is not None:
            condition += f" AND version = {_quote(only_version)}"
        deleted = 0
        with self._writing():
            for space in self.dimensions():
                table = self._table(space)
                if table is None:
                    continue
                found = table.count_rows(condition)
                if found:
                    table.delete(condition)
                    deleted += found
        return deleted

    def search(self, space: str, vector: Sequence[float], k: int, filters: SearchFilter | None = None) -> list[Hit]:
        table = self._table(space)
        if table is None:
            return []
        query = table.search(list(vector), vector_column_name="vector").distance_type("cosine")
        where = _where(filters)
        if where:
            query = query.where(where, prefilter=True)
        rows = query.limit(max(1, min(k, MAX_K))).to_list()
        return [_hit(row, space, 1.0 - float(row["_distance"])) for row in rows]

    def search_text(self, text: str, k: int, filters: SearchFilter | None = None) -> list[Hit]:
        if not text.strip():
            return []
        k = max(1, min(k, MAX_K))
        where = _where(filters)
        hits: list[Hit] = []
        for space in self.dimensions():
            table = self._table(space)
            if table is None:
                continue
            words = BooleanQuery([(Occur.SHOULD, MatchQuery(text, "text")), (Occur.SHOULD, PhraseQuery(text, "text"))])
            query = table.search(words, query_type="fts")
            if where:
                query = query.where(where, prefilter=True)
            try:
                rows = query.select([*_HIT_COLUMNS, "_score"]).limit(k).to_list()
            except ValueError:  # a table no write has given its full-text index yet: nothing to find in it
                continue
            hits += [_hit(row, space, float(row["_score"])) for row in rows]
        hits.sort(key=lambda hit: -(hit.score or 0.0))
        return hits[:k]

    def scan(self, space: str, page: int = 1000) -> Iterator[tuple[Hit, list[float]]]:
        table = self._table(space)
        if table is None:
            return
        offset = 0
        while True:
            rows = table.search().select([*_HIT_COLUMNS, "vector"]).offset(offset).limit(page).to_list()
            for row in rows:
                yield _hit(row, space, 0.0), [float(value) for value in row["vector"]]
            if len(rows) < page:
                return
            offset += page

    def count(self, space: str | None = None, source: str | None = None) -> int:
        spaces = [space] if space else list(self.dimensions())
        condition = f"source = {_quote(source)}" if source else None
        total = 0
        for name in spaces:
            table = self._table(name)
            if table is not None:
                total += table.count_rows(condition)
        return total
