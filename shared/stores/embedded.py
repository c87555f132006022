"""The embedded store: LanceDB tables under MMINDEX_HOME, one per generation of each space.

A space's first generation is the table `items_<space>` (as stores made before generations have it), a later one
`items_<space>_g<n>`. The spaces' lineages (shared/generations.py) are one JSON file beside the tables, replaced in
one rename, so a swap is one step; a store without the file (made before generations) reads each table it has as
its space's serving generation 1. Writers on one host (several worker processes) take a file lock, so concurrent
merges never conflict, a table is created whole before another process opens it, and the lineages change one at a
time; readers need no lock.
"""

from __future__ import annotations

import fcntl
import json
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

from shared.documents import Document, Hit, Item, Modality, Space
from shared.errors import PermanentError
from shared.generations import Generation, GenerationState, Lineage, now
from shared.stores.protocol import MAX_K, SearchFilter, UpsertResult

LINEAGES = "generations.json"
"""The file of the spaces' lineages, in the store's directory."""
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
    pa.field("page", pa.int32()),
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


_HIT_COLUMNS = ["id", "uri", "modality", "start_s", "end_s", "page", "text", "thumbnail"]
_ITEM_COLUMNS = [
    "id",
    "source_id",
    "source",
    "version",
    "uri",
    "modality",
    "item",
    "text",
    "thumbnail",
    "start_s",
    "end_s",
    "page",
]


def _present(table: Any, columns: list[str]) -> list[str]:
    """The `columns` that `table` has: one made by an earlier version lacks the later fields (`page`) until written."""
    names = set(table.schema.names)
    return [column for column in columns if column in names]


def _with_every_field(table: Any) -> Any:
    """`table`, given the fields a later version added (empty in the rows it holds) before it is written."""
    missing = [field for field in _FIELDS if field.name not in set(table.schema.names)]
    if missing:
        table.add_columns(missing)
    return table


def _item(row: dict[str, Any], space: str) -> Item:
    fields: dict[str, Any] = {name: row.get(name) for name in _ITEM_COLUMNS}
    return Item(**fields, space=Space(space), input_uri=row["thumbnail"] if space == Space.VISION else None)


def _hit(row: dict[str, Any], space: str, score: float, generation: int | None = None) -> Hit:
    return Hit(
        uri=row["uri"],
        modality=Modality(row["modality"]),
        score=score,
        start_s=row["start_s"],
        end_s=row["end_s"],
        text=row["text"],
        thumbnail=row["thumbnail"],
        page=row.get("page"),
        id=row["id"],
        space=Space(space),
        generation=generation,
    )


class EmbeddedStore:
    """LanceDB in a directory: a table per generation of each space, and the lineages in `generations.json`."""

    def __init__(self, directory: Path) -> None:
        self._directory = directory
        self._directory.mkdir(parents=True, exist_ok=True)
        self._db = lancedb.connect(str(directory))
        self._lock = Lock()
        self._text_indexed: set[str] = set()  # tables this process saw with their full-text index

    @contextmanager
    def _writing(self) -> Iterator[None]:
        with self._lock, (self._directory / ".write.lock").open("w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    @staticmethod
    def _table_name(space: str, number: int = 1) -> str:
        return f"items_{space}" if number == 1 else f"items_{space}_g{number}"

    def _open(self, name: str) -> Any | None:
        try:
            return self._db.open_table(name)
        except (ValueError, FileNotFoundError):
            return None

    # ------------------------------------------------------------ generations

    def _read_lineages(self) -> dict[str, Lineage]:
        path = self._directory / LINEAGES
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return self._legacy_lineages()
        return {space: Lineage.from_record(record) for space, record in data.items()}

    def _legacy_lineages(self) -> dict[str, Lineage]:
        """A store made before generations: each `items_<space>` table is its space's serving generation 1."""
        found: dict[str, Lineage] = {}
        response: Any = self._db.list_tables()
        for name in getattr(response, "tables", response):
            space = name.removeprefix("items_")
            if not name.startswith("items_") or space not in set(Space):
                continue
            table = self._open(name)
            if table is None:  # another process is creating it (and holds the write lock)
                continue
            rows = table.search().select(["model"]).limit(1).to_list()
            generation = Generation(
                space=Space(space),
                number=1,
                model=rows[0]["model"] if rows else None,
                dimension=table.schema.field("vector").type.list_size,
                state=GenerationState.SERVING,
                location=name,
            )
            found[space] = Lineage(Space(space), (generation,))
        return found

    def _write_lineages(self, lineages: dict[str, Lineage]) -> None:
        """Replace the lineages' file in one rename; the caller holds the write lock."""
        path = self._directory / LINEAGES
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps({space: lineage.record() for space, lineage in lineages.items()}, indent=1))
        temporary.replace(path)

    def lineage(self, space: str) -> Lineage:
        return self._read_lineages().get(space, Lineage(Space(space)))

    def _generation(self, space: str, number: int | None) -> Generation | None:
        lineage = self._read_lineages().get(space)
        if lineage is None:  # no such space (yet)
            return None
        if number is None:
            return lineage.serving
        return next((g for g in lineage.generations if g.number == number), None)

    def _generation_table(self, space: str, number: int | None) -> tuple[Generation, Any] | None:
        generation = self._generation(space, number)
        if generation is None:
            return None
        table = self._open(generation.location)
        return None if table is None else (generation, table)

    def begin(self, space: str, model: str | None, dimension: int, fingerprint: str | None = None) -> Generation:
        with self._writing():
            return self._begin(space, model, dimension, fingerprint)

    def _begin(self, space: str, model: str | None, dimension: int, fingerprint: str | None) -> Generation:
        """Under the write lock: the table, then the lineage that names it."""
        lineages = self._read_lineages()
        lineage = lineages.get(space, Lineage(Space(space)))
        number = lineage.next_number()
        name = self._table_name(space, number)
        schema = pa.schema([*_FIELDS, pa.field("vector", pa.list_(pa.float32(), dimension))])
        table = self._db.create_table(name, schema=schema, mode="overwrite")  # a leftover of a dropped one goes
        self._index_text(table, name)
        generation = Generation(
            space=Space(space),
            number=number,
            model=model,
            dimension=dimension,
            state=GenerationState.BUILDING,
            location=name,
            fingerprint=fingerprint,
            created=now(),
        )
        lineages[space] = lineage.add(generation)
        self._write_lineages(lineages)
        return lineages[space].get(number)

    def commit(self, before: Lineage, after: Lineage) -> None:
        with self._writing():
            lineages = self._read_lineages()
            current = lineages.get(before.space.value, Lineage(before.space))
            if current != before:
                raise PermanentError(
                    f"the {before.space.value} space's generations changed meanwhile; read them again and retry"
                )
            lineages[before.space.value] = after
            self._write_lineages(lineages)

    def drop(self, space: str, number: int) -> None:
        with self._writing():
            lineages = self._read_lineages()
            lineage = lineages.get(space, Lineage(Space(space)))
            generation = lineage.get(number)
            lineages[space] = lineage.drop(number)
            self._write_lineages(lineages)
            if self._open(generation.location) is not None:
                self._db.drop_table(generation.location)
            self._text_indexed.discard(generation.location)

    def dimensions(self) -> dict[str, int]:
        return {
            space: lineage.serving.dimension
            for space, lineage in self._read_lineages().items()
            if lineage.serving is not None
        }

    def ensure(self, dimensions: Mapping[str, int], model: str | None = None, fingerprint: str | None = None) -> None:
        with self._writing():
            self._ensure(dimensions, model, fingerprint)

    def _ensure(self, dimensions: Mapping[str, int], model: str | None, fingerprint: str | None = None) -> None:
        """Give the spaces without a generation their first; the caller holds the write lock."""
        lineages = self._read_lineages()
        for space, dim in dimensions.items():
            serving = lineages[space].serving if space in lineages else None
            if serving is None:
                self._begin(space, model, dim, fingerprint)
            elif serving.dimension != dim:
                raise PermanentError(
                    f"space {space!r} serves generation {serving.name} of {serving.dimension}-d vectors but the model"
                    f" gives {dim}-d; a different model needs a new generation (mmindex reindex {space} --model ...)"
                )

    def _index_text(self, table: Any, name: str) -> None:
        """Give a table its full-text index, once (tables made before lexical search have none); under the lock."""
        if name in self._text_indexed:
            return
        if not any(index.index_type == "FTS" and index.columns == ["text"] for index in table.list_indices()):
            table.create_index("text", config=TEXT_INDEX)
        self._text_indexed.add(name)

    # ------------------------------------------------------------ documents

    def upsert(self, documents: Sequence[Document], generation: int | None = None) -> UpsertResult:
        result = UpsertResult()
        by_space: dict[str, list[Document]] = {}
        for document in documents:
            by_space.setdefault(document.item.space.value, []).append(document)
        for space, group in by_space.items():
            # The table is created, opened and written under one lock: a process that finds the space missing
            # creates it whole before any other lists it, opens it or writes to it.
            with self._writing():
                if generation is None:
                    self._ensure({space: len(group[0].vector)}, group[0].model)
                found = self._generation_table(space, generation)
                if found is None:
                    for document in group:
                        result.failed[document.item.id] = f"the {space} space has no generation g{generation}"
                    continue
                target, table = found
                self._index_text(table, target.location)
                rows = []
                for document in group:
                    if len(document.vector) != target.dimension:
                        result.failed[document.item.id] = (
                            f"vector has {len(document.vector)} dimensions, space {space!r} generation"
                            f" {target.name} has {target.dimension}"
                        )
                    elif not target.takes(document.model):
                        result.failed[document.item.id] = (
                            f"a vector of model {document.model} cannot join generation {target.name} of the"
                            f" {space} space, which holds {target.model}'s"
                        )
                    else:
                        rows.append({**document.fields(), "vector": document.vector})
                if not rows:
                    continue
                data = pa.Table.from_pylist(rows, schema=_with_every_field(table).schema)
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
            for lineage in self._read_lineages().values():
                for generation in lineage.generations:
                    table = self._open(generation.location)
                    if table is None:
                        continue
                    found = table.count_rows(condition)
                    if found:
                        table.delete(condition)
                        if generation.state is GenerationState.SERVING:
                            deleted += found
        return deleted

    # ------------------------------------------------------------ reading

    def search(
        self,
        space: str,
        vector: Sequence[float],
        k: int,
        filters: SearchFilter | None = None,
        generation: int | None = None,
    ) -> list[Hit]:
        found = self._generation_table(space, generation)
        if found is None:
            return []
        target, table = found
        query = table.search(list(vector), vector_column_name="vector").distance_type("cosine")
        where = _where(filters)
        if where:
            query = query.where(where, prefilter=True)
        rows = query.limit(max(1, min(k, MAX_K))).to_list()
        return [_hit(row, space, 1.0 - float(row["_distance"]), target.number) for row in rows]

    def search_text(self, text: str, k: int, filters: SearchFilter | None = None) -> list[Hit]:
        if not text.strip():
            return []
        k = max(1, min(k, MAX_K))
        where = _where(filters)
        hits: list[Hit] = []
        for space in self.dimensions():
            found = self._generation_table(space, None)
            if found is None:
                continue
            target, table = found
            words = BooleanQuery([(Occur.SHOULD, MatchQuery(text, "text")), (Occur.SHOULD, PhraseQuery(text, "text"))])
            query = table.search(words, query_type="fts")
            if where:
                query = query.where(where, prefilter=True)
            try:
                rows = query.select([*_present(table, _HIT_COLUMNS), "_score"]).limit(k).to_list()
            except ValueError:  # a table no write has given its full-text index yet: nothing to find in it
                continue
            hits += [_hit(row, space, float(row["_score"]), target.number) for row in rows]
        hits.sort(key=lambda hit: -(hit.score or 0.0))
        return hits[:k]

    def _rows(self, table: Any, columns: list[str], page: int) -> Iterator[dict[str, Any]]:
        offset = 0
        while True:
            rows = table.search().select(_present(table, columns)).offset(offset).limit(page).to_list()
            yield from rows
            if len(rows) < page:
                return
            offset += page

    def scan(self, space: str, page: int = 1000, generation: int | None = None) -> Iterator[tuple[Hit, list[float]]]:
        found = self._generation_table(space, generation)
        if found is None:
            return
        target, table = found
        for row in self._rows(table, [*_HIT_COLUMNS, "vector"], page):
            yield _hit(row, space, 0.0, target.number), [float(value) for value in row["vector"]]

    def items(self, space: str, generation: int | None = None, page: int = 1000) -> Iterator[Item]:
        found = self._generation_table(space, generation)
        if found is None:
            return
        for row in self._rows(found[1], _ITEM_COLUMNS, page):
            yield _item(row, space)

    def count(self, space: str | None = None, source: str | None = None, generation: int | None = None) -> int:
        spaces = [space] if space else list(self.dimensions())
        condition = f"source = {_quote(source)}" if source else None
        total = 0
        for name in spaces:
            found = self._generation_table(name, generation)
            if found is not None:
                total += found[1].count_rows(condition)
        return total
