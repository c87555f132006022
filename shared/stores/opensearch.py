"""The OpenSearch store: an index per generation of each space, one `knn_vector` field in it, behind an alias.

Each space's generations (shared/generations.py) are recorded in a metadata index, and the alias points at the
serving ones (shared/stores/opensearch_generations.py). Searches, scans and counts name the index of the generation
they read, from the lineage as it is at each call.

Works with a self-run cluster and with AWS: a managed domain (service `es`) or OpenSearch
Serverless (service `aoss`), signed with SigV4 from boto3's credential chain. Serverless
differs in two ways, handled here: vector collections refuse caller-chosen `_id`s (so a
write first deletes the documents with the same `id` field, then indexes without `_id`),
and there is no refresh API (refreshes are skipped); its record of the generations is weaker
(shared/stores/opensearch_generations.py says how).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from opensearchpy import OpenSearch, helpers
from opensearchpy.exceptions import NotFoundError

from shared.config import Settings
from shared.documents import Document, Hit, Item, Modality, Space
from shared.errors import PermanentError, StoreError, mask
from shared.generations import Generation, GenerationState, Lineage
from shared.stores.opensearch_client import (
    UNREACHABLE,
    VECTOR_PREFIX,
    base_mappings,
    call,
    cosine,
    make_client,
    vector_field,
)
from shared.stores.opensearch_generations import Lineages, space_of
from shared.stores.opensearch_indices import Indices
from shared.stores.protocol import MAX_K, SearchFilter, UpsertResult

__all__ = ["OpenSearchStore", "base_mappings", "cosine", "make_client", "vector_field"]

_ITEM_FIELDS = ["id", "source_id", "source", "version", "uri", "modality", "item", "text", "thumbnail", "start_s",
                "end_s", "page"]  # fmt: skip


def _hit(doc: dict[str, Any], score: float, space: str, generation: int | None) -> Hit:
    return Hit(
        uri=doc["uri"],
        modality=Modality(doc["modality"]),
        score=score,
        start_s=doc.get("start_s"),
        end_s=doc.get("end_s"),
        text=doc.get("text"),
        thumbnail=doc.get("thumbnail"),
        page=doc.get("page"),
        id=doc["id"],
        space=Space(space),
        generation=generation,
    )


def _item(doc: dict[str, Any], space: Space) -> Item:
    fields: dict[str, Any] = {name: doc.get(name) for name in _ITEM_FIELDS}
    return Item(**fields, space=space, input_uri=doc.get("thumbnail") if space is Space.VISION else None)


def _held_by(generations: Iterable[Generation]) -> dict[str, Any]:
    """Documents of these generations only: an index made before generations holds several spaces' documents."""
    held = [{"bool": {"filter": [{"term": {"_index": g.location}}, {"term": {"space": g.space.value}}]}}
            for g in generations]  # fmt: skip
    return {"bool": {"should": held, "minimum_should_match": 1}}


def _describe(generation: Generation) -> str:
    model = f"model {generation.model}" if generation.model else "a model not recorded"
    return f"generation {generation.name} of the {generation.space.value} space ({model}, {generation.dimension}-d)"


class OpenSearchStore:
    """Documents in the indices behind `MMINDEX_OPENSEARCH__INDEX` (an alias), an index per generation."""

    def __init__(self, settings: Settings, client: OpenSearch | None = None) -> None:
        self._settings = settings.opensearch
        self._alias = self._settings.index
        self._serverless = self._settings.auth == "sigv4" and self._settings.service == "aoss"
        self._client = client or make_client(self._settings)
        self._where = mask(self._settings.url or "")  # the endpoint as messages name it, without its password
        self._indices = Indices(self._client, self._settings, serverless=self._serverless, where=self._where)
        self._lineages = Lineages(
            self._client, self._indices, self._alias, serverless=self._serverless, where=self._where
        )

    def _call(self, what: str, function: Any, *args: Any, **kwargs: Any) -> Any:
        return call(self._where, what, function, *args, **kwargs)

    # ------------------------------------------------------------ generations

    def _space(self, space: str) -> Space:
        known = space_of(space)
        if known is None:
            raise PermanentError(f"there is no space {space!r}; the spaces are {', '.join(s.value for s in Space)}")
        return known

    def lineage(self, space: str) -> Lineage:
        known = self._space(space)
        return self._lineages.read([known])[known].lineage

    def commit(self, before: Lineage, after: Lineage) -> None:
        self._lineages.commit(before, after)

    def _serving(self) -> list[Generation]:
        return [g for read in self._lineages.all().values() if (g := read.lineage.serving) is not None]

    def _target(self, space: str, generation: int | None) -> Generation | None:
        """The generation a read of `space` goes to: `generation`, or the serving one (None: there is none, and the
        read finds nothing)."""
        known = space_of(space)
        if known is None:
            return None
        lineage = self._lineages.read([known])[known].lineage
        if generation is None:
            return lineage.serving
        return next((g for g in lineage.generations if g.number == generation), None)

    def dimensions(self) -> dict[str, int]:
        return {generation.space.value: generation.dimension for generation in self._serving()}

    def ensure(self, dimensions: Mapping[str, int], model: str | None = None, fingerprint: str | None = None) -> None:
        spaces = {self._space(space): dim for space, dim in dimensions.items()}
        reads = self._lineages.read(list(spaces))
        for space, dim in spaces.items():
            serving = reads[space].lineage.serving
            if serving is not None and serving.dimension != dim:
                raise PermanentError(
                    f"space {space.value!r} holds {serving.dimension}-d vectors but the model gives {dim}-d"
                    f" ({_describe(serving)} serves it); a model of another dimension needs a generation of its own:"
                    f" mmindex reindex {space.value} --model NAME"
                )
        for space, dim in spaces.items():
            if reads[space].lineage.serving is None:
                self._lineages.first(space, model, dim, fingerprint)
        self._lineages.follow()  # the alias as the lineages say, should a commit have stopped before moving it

    def begin(self, space: str, model: str | None, dimension: int, fingerprint: str | None = None) -> Generation:
        return self._lineages.begin(self._space(space), model, dimension, fingerprint)

    def drop(self, space: str, number: int) -> None:
        """Forget the generation first, then delete its documents: a stop in between leaves only an index that
        nothing names (the next `begin` of that number makes it again), never a generation without its index."""
        known = self._space(space)
        lineage = self._lineages.read([known])[known].lineage
        target = lineage.get(number)
        self._lineages.commit(lineage, lineage.drop(number))
        shared = {g.location for read in self._lineages.all().values() for g in read.lineage.generations}
        if target.location in shared:  # the index made before generations, still holding another space
            self._delete({"match_all": {}}, [target])
            return
        self._indices.delete(target.location)

    # ------------------------------------------------------------ indices

    def create_index(self, name: str, vectors: dict[str, Any], *, alias: bool) -> bool:
        """A new index from the template with the `vectors` fields; with `alias`, behind the alias too. False if it
        exists already."""
        return self._indices.create(name, vectors, alias=self._alias if alias else None)

    def _refresh(self, generations: Iterable[Generation]) -> None:
        indices = sorted({generation.location for generation in generations})
        if indices and not self._serverless:
            with contextlib.suppress(NotFoundError):
                self._call("refreshing", self._client.indices.refresh, index=",".join(indices))

    # ------------------------------------------------------------ documents

    def _actions(self, documents: Sequence[Document], targets: dict[Space, Generation]) -> Iterator[dict[str, Any]]:
        for document in documents:
            source = {key: value for key, value in document.fields().items() if value is not None}
            source[vector_field(document.item.space.value)] = document.vector
            index = targets[document.item.space].location
            action: dict[str, Any] = {"_op_type": "index", "_index": index, "_source": source}
            if not self._serverless:
                action["_id"] = document.item.id
            yield action

    def _targets(
        self, documents: Sequence[Document], generation: int | None, result: UpsertResult
    ) -> dict[Space, Generation]:
        """The generation each space's documents go to (made, for a first write); the refused in `result`."""
        targets: dict[Space, Generation] = {}
        refused: dict[Space, str] = {}
        reads = self._lineages.read(list(dict.fromkeys(document.item.space for document in documents)))
        for space, read in reads.items():
            if generation is not None:
                try:
                    targets[space] = read.lineage.get(generation)
                except PermanentError as error:
                    refused[space] = str(error)
            elif read.lineage.serving is not None:
                targets[space] = read.lineage.serving
            else:
                first = next(document for document in documents if document.item.space is space)
                targets[space] = self._lineages.first(space, first.model, len(first.vector))
        for document in documents:
            space, id = document.item.space, document.item.id
            target = targets.get(space)
            if target is None:
                result.failed[id] = refused[space]
            elif len(document.vector) != target.dimension:
                result.failed[id] = f"{_describe(target)} takes no vector of {len(document.vector)} dimensions"
            elif not target.takes(document.model):
                result.failed[id] = f"{_describe(target)} takes no vector of model {document.model}"
        return targets

    def upsert(self, documents: Sequence[Document], generation: int | None = None) -> UpsertResult:
        result = UpsertResult()
        if not documents:
            return result
        targets = self._targets(documents, generation, result)
        good = [document for document in documents if document.item.id not in result.failed]
        self._indices.add_fields({targets[document.item.space].location for document in good if document.item.page})
        if self._serverless and good:
            self._delete({"terms": {"id": [doc.item.id for doc in good]}}, targets.values())
        options: dict[str, Any] = {}
        if not self._serverless and self._settings.refresh != "false":
            options["refresh"] = self._settings.refresh
        # Which document an answer is about: its `_id`, or on Serverless (no `_id` of ours) its place, since answers
        # come in the order of the documents when the helper retries nothing (429s are then the task's to retry).
        ids = {document.item.id for document in good}
        answered = 0
        try:
            for ok, info in helpers.streaming_bulk(
                self._client,
                self._actions(good, targets),
                chunk_size=self._settings.bulk_docs,
                max_chunk_bytes=self._settings.bulk_bytes,
                raise_on_error=False,
                raise_on_exception=True,
                max_retries=0 if self._serverless else self._settings.max_retries,
                initial_backoff=1,
                max_backoff=30,
                **options,
            ):
                outcome = next(iter(info.values()))
                id = good[answered].item.id if self._serverless else str(outcome.get("_id"))
                answered += 1
                if ok:
                    result.written += 1
                    continue
                status = int(outcome.get("status", 0))
                if status == 429 or status >= 500:
                    raise StoreError(f"OpenSearch kept refusing writes ({status}: {outcome.get('error')})")
                if id not in ids:
                    raise StoreError(f"OpenSearch refused a document of a bulk write that is not in it (_id {id})")
                error = outcome.get("error", {})
                reason = error.get("reason", error) if isinstance(error, dict) else error
                result.failed[id] = str(reason)
        except UNREACHABLE as error:
            raise StoreError(
                mask(f"OpenSearch at {self._where} is unreachable during a bulk write ({error})")
            ) from error
        if answered != len(good):  # never count a document as written that no answer spoke of
            raise StoreError(f"OpenSearch answered for {answered} of the {len(good)} documents of a bulk write")
        return result

    def _delete(self, query: dict[str, Any], generations: Iterable[Generation]) -> int:
        """Delete the documents `query` matches in `generations`; how many."""
        generations = list(generations)
        if not generations:
            return 0
        self._refresh(generations)  # delete-by-query sees only what a refresh has made searchable
        try:
            answer = self._call(
                "deleting documents",
                self._client.delete_by_query,
                index=",".join(sorted({generation.location for generation in generations})),
                body={"query": {"bool": {"filter": [query, _held_by(generations)]}}},
                params={
                    "conflicts": "proceed",
                    "refresh": "false" if self._serverless else "true",
                    "ignore_unavailable": "true",
                },
            )
        except NotFoundError:
            return 0
        return int(answer.get("deleted", 0))

    def delete_source(self, source: str, *, keep_version: str | None = None, only_version: str | None = None) -> int:
        query: dict[str, Any] = {"bool": {"filter": [{"term": {"source": source}}]}}
        if keep_version is not None:
            query["bool"]["must_not"] = [{"term": {"version": keep_version}}]
        if only_version is not None:
            query["bool"]["filter"].append({"term": {"version": only_version}})
        generations = [g for read in self._lineages.all().values() for g in read.lineage.generations]
        self._delete(query, [g for g in generations if g.state is not GenerationState.SERVING])
        return self._delete(query, [g for g in generations if g.state is GenerationState.SERVING])

    # ------------------------------------------------------------ reading

    @staticmethod
    def _filter(filters: SearchFilter | None) -> list[dict[str, Any]]:
        clauses: list[dict[str, Any]] = []
        if filters and filters.modalities:
            clauses.append({"terms": {"modality": list(filters.modalities)}})
        if filters and filters.source_prefix:
            clauses.append({"prefix": {"source": filters.source_prefix}})
        return clauses

    def search(
        self,
        space: str,
        vector: Sequence[float],
        k: int,
        filters: SearchFilter | None = None,
        generation: int | None = None,
    ) -> list[Hit]:
        target = self._target(space, generation)
        if target is None:
            return []
        k = max(1, min(k, MAX_K))
        # Ask the graph for ef_search neighbours and return k: its candidate list is k, and recall poor when k is
        # small. A wider k is how every engine and AWS's serverless collections take it (not method_parameters).
        clause: dict[str, Any] = {"vector": list(vector), "k": max(k, self._settings.ef_search)}
        restrict = self._filter(filters)
        if restrict:
            clause["filter"] = {"bool": {"filter": restrict}}  # efficient filtering: inside the k-NN search
        body = {
            "size": k,
            "_source": {"excludes": [f"{VECTOR_PREFIX}*"]},
            "query": {"knn": {vector_field(space): clause}},
        }
        try:
            answer = self._call("a k-NN search", self._client.search, index=target.location, body=body)
        except NotFoundError:
            return []
        score = self._settings.space_type
        return [_hit(hit["_source"], cosine(float(hit["_score"]), score), space, target.number)
                for hit in answer["hits"]["hits"]]  # fmt: skip

    def search_text(self, text: str, k: int, filters: SearchFilter | None = None) -> list[Hit]:
        serving = self._serving()
        if not text.strip() or not serving:
            return []
        words: dict[str, Any] = {
            "bool": {
                "should": [
                    {"multi_match": {"query": text, "fields": ["text", "text.english"], "type": "most_fields"}},
                    {"match_phrase": {"text": {"query": text, "boost": 2}}},  # the exact code or name first
                ],
                "minimum_should_match": 1,
                "filter": [*self._filter(filters), _held_by(serving)],
            }
        }
        body = {"size": max(1, min(k, MAX_K)), "_source": {"excludes": [f"{VECTOR_PREFIX}*"]}, "query": words}
        indices = ",".join(sorted({g.location for g in serving}))
        try:
            answer = self._call("a lexical search", self._client.search, index=indices, body=body)
        except NotFoundError:
            return []
        numbers = {(g.location, g.space.value): g.number for g in serving}
        hits = []
        for hit in answer["hits"]["hits"]:
            space = hit["_source"].get("space", Space.TEXT)
            hits.append(_hit(hit["_source"], float(hit["_score"]), space, numbers.get((hit["_index"], space))))
        return hits

    def _pages(self, target: Generation, includes: list[str], page: int) -> Iterator[dict[str, Any]]:
        """Every document of `target` (its `includes` fields), `page` at a time, in the order of their ids."""
        self._refresh([target])
        body: dict[str, Any] = {
            "size": page,
            "query": {"bool": {"filter": [{"exists": {"field": vector_field(target.space)}}, _held_by([target])]}},
            "_source": {"includes": includes},
            "sort": [{"id": "asc"}],  # ids are unique: search_after pages through them all, once each
        }
        while True:
            try:
                answer = self._call("reading the index", self._client.search, index=target.location, body=body)
            except NotFoundError:
                return
            hits = answer["hits"]["hits"]
            yield from (hit["_source"] for hit in hits)
            if len(hits) < page:
                return
            body["search_after"] = hits[-1]["sort"]

    def scan(self, space: str, page: int = 1000, generation: int | None = None) -> Iterator[tuple[Hit, list[float]]]:
        target = self._target(space, generation)
        if target is None:
            return
        field = vector_field(space)
        includes = [field, "id", "uri", "modality", "start_s", "end_s", "page", "text", "thumbnail"]
        for doc in self._pages(target, includes, page):
            yield _hit(doc, 0.0, space, target.number), [float(value) for value in doc[field]]

    def items(self, space: str, generation: int | None = None, page: int = 1000) -> Iterator[Item]:
        target = self._target(space, generation)
        if target is None:
            return
        for doc in self._pages(target, _ITEM_FIELDS, page):
            yield _item(doc, target.space)

    def count(self, space: str | None = None, source: str | None = None, generation: int | None = None) -> int:
        if space:
            target = self._target(space, generation)
            generations = [] if target is None else [target]
        else:
            generations = self._serving()
        if not generations:
            return 0
        clauses: list[dict[str, Any]] = [_held_by(generations)]
        if source:
            clauses.append({"term": {"source": source}})
        self._refresh(generations)
        indices = ",".join(sorted({g.location for g in generations}))
        try:
            answer = self._call(
                "counting", self._client.count, index=indices, body={"query": {"bool": {"filter": clauses}}}
            )
        except NotFoundError:
            return 0
        return int(answer["count"])
