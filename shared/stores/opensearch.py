"""The OpenSearch store: one k-NN index behind an alias, one `knn_vector` field per space.

Works with a self-run cluster and with AWS: a managed domain (service `es`) or OpenSearch
Serverless (service `aoss`), signed with SigV4 from boto3's credential chain. Serverless
differs in two ways, handled here: vector collections refuse caller-chosen `_id`s (so a
write first deletes the documents with the same `id` field, then indexes without `_id`),
and there is no refresh API (refreshes are skipped).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from opensearchpy import OpenSearch, helpers
from opensearchpy.exceptions import (
    ConnectionError as OpenSearchConnectionError,
)
from opensearchpy.exceptions import (
    ConnectionTimeout,
    NotFoundError,
    TransportError,
)

from shared.config import OpenSearchSettings, Settings
from shared.documents import Document, Hit, Modality, Space
from shared.errors import PermanentError, StoreError, mask
from shared.stores.protocol import MAX_K, SearchFilter, UpsertResult

_KEYWORDS = ("id", "source_id", "source", "version", "uri", "modality", "space", "model", "pipeline")
VECTOR_PREFIX = "vector_"


def vector_field(space: str) -> str:
    return f"{VECTOR_PREFIX}{space}"


def base_mappings() -> dict[str, Any]:
    """Every field but the vectors: keywords to filter on, times, and the words for lexical search."""
    properties: dict[str, Any] = {name: {"type": "keyword"} for name in _KEYWORDS}
    properties.update(
        item={"type": "integer"},
        # the words as written (standard analyzer), and with English stems for lexical search
        text={"type": "text", "fields": {"english": {"type": "text", "analyzer": "english"}}},
        thumbnail={"type": "keyword", "index": False},
        start_s={"type": "float"},
        end_s={"type": "float"},
    )
    return {"dynamic": "strict", "properties": properties}


def _hit(doc: dict[str, Any], score: float, space: str) -> Hit:
    return Hit(
        uri=doc["uri"],
        modality=Modality(doc["modality"]),
        score=score,
        start_s=doc.get("start_s"),
        end_s=doc.get("end_s"),
        text=doc.get("text"),
        thumbnail=doc.get("thumbnail"),
        id=doc["id"],
        space=Space(space),
    )


def cosine(score: float, space_type: str) -> float:
    """The cosine similarity behind a k-NN score, for normalized vectors."""
    if space_type == "cosinesimil":
        return 2.0 * score - 1.0
    if space_type == "innerproduct":
        return score - 1.0 if score >= 1.0 else 1.0 - 1.0 / score
    return 1.0 - (1.0 / score - 1.0) / 2.0  # l2: score = 1 / (1 + d^2), d^2 = 2 - 2 cos


def make_client(settings: OpenSearchSettings) -> OpenSearch:
    """A client for the endpoint, authenticated as the settings say."""
    options: dict[str, Any] = {
        "hosts": [settings.url],
        "timeout": settings.timeout_s,
        "max_retries": settings.max_retries,
        "retry_on_timeout": True,
        "retry_on_status": (429, 502, 503, 504),
        "verify_certs": settings.verify_certs,
    }
    if settings.auth == "basic":
        assert settings.username and settings.password
        options["http_auth"] = (settings.username, settings.password.get_secret_value())
    elif settings.auth == "sigv4":
        import boto3
        from opensearchpy import Urllib3AWSV4SignerAuth

        session = boto3.Session()
        credentials = session.get_credentials()
        if credentials is None:
            raise PermanentError("MMINDEX_OPENSEARCH__AUTH=sigv4 but boto3 finds no AWS credentials")
        region = settings.region or session.region_name
        if not region:
            raise PermanentError("MMINDEX_OPENSEARCH__AUTH=sigv4 needs MMINDEX_OPENSEARCH__REGION or AWS_REGION")
        options["http_auth"] = Urllib3AWSV4SignerAuth(credentials, region, settings.service)
    return OpenSearch(**options)


class OpenSearchStore:
    """Documents in the index behind `MMINDEX_OPENSEARCH__INDEX` (an alias)."""

    def __init__(self, settings: Settings, client: OpenSearch | None = None) -> None:
        self._settings = settings.opensearch
        self._alias = self._settings.index
        self._serverless = self._settings.auth == "sigv4" and self._settings.service == "aoss"
        self._client = client or make_client(self._settings)
        self._known: dict[str, int] | None = None  # the vector fields last read from or written to the mapping
        self._engine = self._settings.knn_engine()
        self._engine_checked = False
        self._where = mask(self._settings.url or "")  # the endpoint as messages name it, without its password

    # ------------------------------------------------------------ errors

    def _call(self, what: str, function: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return function(*args, **kwargs)
        except (OpenSearchConnectionError, ConnectionTimeout) as error:
            raise StoreError(mask(f"OpenSearch at {self._where} is unreachable during {what} ({error})")) from error
        except NotFoundError:
            raise
        except TransportError as error:
            status = error.status_code if isinstance(error.status_code, int) else 0
            if status == 429 or status >= 500:
                raise StoreError(f"OpenSearch answered {status} to {what}: {error.error}") from error
            raise PermanentError(f"OpenSearch refused {what} ({status} {error.error}: {error.info})") from error

    # ------------------------------------------------------------ the index

    def dimensions(self) -> dict[str, int]:
        try:
            mappings = self._call("reading the mapping", self._client.indices.get_mapping, index=self._alias)
        except NotFoundError:
            self._known = {}
            return {}
        found: dict[str, int] = {}
        for index in mappings.values():
            for name, field in index["mappings"].get("properties", {}).items():
                if name.startswith(VECTOR_PREFIX) and field.get("type") == "knn_vector":
                    found[name.removeprefix(VECTOR_PREFIX)] = int(field["dimension"])
        self._known = found
        return dict(found)

    def _dimensions(self, spaces: Iterable[str]) -> dict[str, int]:
        """The vector fields, read again only when one of `spaces` is not known yet (another process added it)."""
        if self._known is None or any(space not in self._known for space in spaces):
            return self.dimensions()
        return dict(self._known)

    def _vector_mapping(self, dim: int) -> dict[str, Any]:
        return {
            "type": "knn_vector",
            "dimension": dim,
            "method": {
                "name": "hnsw",
                "engine": self._engine,
                "space_type": self._settings.space_type,
                "parameters": {"m": self._settings.m, "ef_construction": self._settings.ef_construction},
            },
        }

    def ensure(self, dimensions: Mapping[str, int]) -> None:
        existing = self._dimensions(dimensions)
        for space, dim in dimensions.items():
            if space in existing and existing[space] != dim:
                raise PermanentError(
                    f"space {space!r} holds {existing[space]}-d vectors but the model gives {dim}-d;"
                    f" a different model needs a new index (MMINDEX_OPENSEARCH__INDEX)"
                )
        missing = {space: dim for space, dim in dimensions.items() if space not in existing}
        if not missing:
            return
        self.check_engine()
        vectors = {vector_field(space): self._vector_mapping(dim) for space, dim in missing.items()}
        self._known = None  # read again after this change (or the one a concurrent writer made)
        fresh = not existing and not self._call(
            "checking the alias", self._client.indices.exists_alias, name=self._alias
        )
        if fresh and self.create_index(f"{self._alias}-000001", vectors, alias=True):
            return
        # The index exists, perhaps made a moment ago by another worker for another space: add ours to it.
        self._call(
            "adding vector fields", self._client.indices.put_mapping, index=self._alias, body={"properties": vectors}
        )

    def check_engine(self) -> None:
        """Refuse, before anything is written, a native engine on a node that says it cannot load it.

        A k-NN plugin without its native libraries (the zip on Maven Central, which `make opensearch` assembles)
        accepts a faiss or nmslib mapping and then stops the whole node at the first flush
        (`UnsatisfiedLinkError`); no API reports the missing library short of loading it, and loading it is what
        kills the node. Such a node marks itself with the node attribute `knn_native: none`
        (tests/opensearch/run.sh does); AWS domains and collections always carry faiss and are not asked.
        """
        if self._engine_checked or self._engine == "lucene" or self._settings.on_aws:
            return
        answer = self._call(
            "reading the nodes' attributes",
            self._client.nodes.info,
            params={"filter_path": "nodes.*.name,nodes.*.attributes"},
        )
        for node in (answer.get("nodes") or {}).values():
            if str(node.get("attributes", {}).get("knn_native", "")).lower() in ("none", "false", "no"):
                raise PermanentError(
                    f"OpenSearch node {node.get('name')!r} at {self._where} has no k-NN native libraries"
                    f" (node attribute knn_native: none): the {self._engine} engine would stop it at the first"
                    f" flush; set MMINDEX_OPENSEARCH__ENGINE=lucene (or auto)"
                )
        self._engine_checked = True

    def create_index(self, name: str, vectors: dict[str, Any], *, alias: bool) -> bool:
        """A new index from the template; with `alias`, the alias points at it (a first index).

        False if another worker created it first.
        """
        self.check_engine()
        mappings = base_mappings()
        mappings["properties"].update(vectors)
        body: dict[str, Any] = {"mappings": mappings, "settings": {"index": {"knn": True}}}
        if not self._serverless:
            body["settings"]["index"].update(number_of_shards=1, number_of_replicas=self._settings.replicas)
        if alias:
            body["aliases"] = {self._alias: {"is_write_index": True}}
        try:
            self._call(f"creating index {name}", self._client.indices.create, index=name, body=body)
        except PermanentError as error:
            if "resource_already_exists_exception" not in str(error):  # a concurrent worker made it first
                raise
            return False
        return True

    def swap(self, new_index: str) -> None:
        """Point the alias at `new_index` in one step: a re-embedded index goes live without downtime."""
        actions: list[dict[str, Any]] = [{"remove": {"index": f"{self._alias}-*", "alias": self._alias}}]
        actions.append({"add": {"index": new_index, "alias": self._alias, "is_write_index": True}})
        self._call("swapping the alias", self._client.indices.update_aliases, body={"actions": actions})

    def _refresh(self) -> None:
        if not self._serverless:
            with contextlib.suppress(NotFoundError):
                self._call("refreshing", self._client.indices.refresh, index=self._alias)

    # ------------------------------------------------------------ documents

    def _actions(self, documents: Sequence[Document]) -> Iterator[dict[str, Any]]:
        for document in documents:
            source = {key: value for key, value in document.fields().items() if value is not None}
            source[vector_field(document.item.space.value)] = document.vector
            action: dict[str, Any] = {"_op_type": "index", "_index": self._alias, "_source": source}
            if not self._serverless:
                action["_id"] = document.item.id
            yield action

    def upsert(self, documents: Sequence[Document]) -> UpsertResult:
        result = UpsertResult()
        if not documents:
            return result
        first: dict[str, int] = {}
        for doc in documents:
            first.setdefault(doc.item.space.value, len(doc.vector))  # a space is made to fit its first document
        self.ensure(first)
        dims = self._dimensions(first)
        good = []
        for document in documents:
            want = dims[document.item.space.value]
            if len(document.vector) != want:
                result.failed[document.item.id] = f"vector has {len(document.vector)} dimensions, the space has {want}"
            else:
                good.append(document)
        if self._serverless:
            self._delete({"terms": {"id": [doc.item.id for doc in good]}})
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
                self._actions(good),
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
        except (OpenSearchConnectionError, ConnectionTimeout) as error:
            raise StoreError(
                mask(f"OpenSearch at {self._where} is unreachable during a bulk write ({error})")
            ) from error
        if answered != len(good):  # never count a document as written that no answer spoke of
            raise StoreError(f"OpenSearch answered for {answered} of the {len(good)} documents of a bulk write")
        return result

    def _delete(self, query: dict[str, Any]) -> int:
        self._refresh()  # delete-by-query sees only what a refresh has made searchable
        try:
            answer = self._call(
                "deleting documents",
                self._client.delete_by_query,
                index=self._alias,
                body={"query": query},
                params={"conflicts": "proceed", "refresh": "false" if self._serverless else "true"},
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
        return self._delete(query)

    # ------------------------------------------------------------ reading

    @staticmethod
    def _filter(filters: SearchFilter | None) -> dict[str, Any] | None:
        clauses: list[dict[str, Any]] = []
        if filters and filters.modalities:
            clauses.append({"terms": {"modality": list(filters.modalities)}})
        if filters and filters.source_prefix:
            clauses.append({"prefix": {"source": filters.source_prefix}})
        return {"bool": {"filter": clauses}} if clauses else None

    def search(self, space: str, vector: Sequence[float], k: int, filters: SearchFilter | None = None) -> list[Hit]:
        k = max(1, min(k, MAX_K))
        # Ask the graph for ef_search neighbours and return k: its candidate list is k, and recall poor when k is
        # small. A wider k is how every engine and AWS's serverless collections take it (not method_parameters).
        clause: dict[str, Any] = {"vector": list(vector), "k": max(k, self._settings.ef_search)}
        restrict = self._filter(filters)
        if restrict is not None:
            clause["filter"] = restrict  # efficient filtering: inside the k-NN search, not after it
        body = {
            "size": k,
            "_source": {"excludes": [f"{VECTOR_PREFIX}*"]},
            "query": {"knn": {vector_field(space): clause}},
        }
        if space not in self._dimensions([space]):
            return []
        try:
            answer = self._call("a k-NN search", self._client.search, index=self._alias, body=body)
        except NotFoundError:
            return []
        return [
            _hit(hit["_source"], cosine(float(hit["_score"]), self._settings.space_type), space)
            for hit in answer["hits"]["hits"]
        ]

    def search_text(self, text: str, k: int, filters: SearchFilter | None = None) -> list[Hit]:
        if not text.strip():
            return []
        words: dict[str, Any] = {
            "bool": {
                "should": [
                    {"multi_match": {"query": text, "fields": ["text", "text.english"], "type": "most_fields"}},
                    {"match_phrase": {"text": {"query": text, "boost": 2}}},  # the exact code or name first
                ],
                "minimum_should_match": 1,
            }
        }
        restrict = self._filter(filters)
        if restrict is not None:
            words["bool"]["filter"] = restrict["bool"]["filter"]
        body = {"size": max(1, min(k, MAX_K)), "_source": {"excludes": [f"{VECTOR_PREFIX}*"]}, "query": words}
        try:
            answer = self._call("a lexical search", self._client.search, index=self._alias, body=body)
        except NotFoundError:
            return []
        return [
            _hit(hit["_source"], float(hit["_score"]), hit["_source"].get("space", Space.TEXT))
            for hit in answer["hits"]["hits"]
        ]

    def scan(self, space: str, page: int = 1000) -> Iterator[tuple[Hit, list[float]]]:
        field = vector_field(space)
        if space not in self._dimensions([space]):
            return
        self._refresh()
        body: dict[str, Any] = {
            "size": page,
            "query": {"bool": {"filter": [{"exists": {"field": field}}]}},
            "_source": {"includes": [field, "id", "uri", "modality", "start_s", "end_s", "text", "thumbnail"]},
            "sort": [{"id": "asc"}],  # ids are unique: search_after pages through them all, once each
        }
        after: list[Any] | None = None
        while True:
            if after is not None:
                body["search_after"] = after
            try:
                answer = self._call("reading the index", self._client.search, index=self._alias, body=body)
            except NotFoundError:
                return
            hits = answer["hits"]["hits"]
            for hit in hits:
                doc = hit["_source"]
                yield _hit(doc, 0.0, space), [float(value) for value in doc[field]]
            if len(hits) < page:
                return
            after = hits[-1]["sort"]

    def count(self, space: str | None = None, source: str | None = None) -> int:
        clauses: list[dict[str, Any]] = []
        if space:
            clauses.append({"term": {"space": space}})
        if source:
            clauses.append({"term": {"source": source}})
        query = {"bool": {"filter": clauses}} if clauses else {"match_all": {}}
        self._refresh()
        try:
            answer = self._call("counting", self._client.count, index=self._alias, body={"query": query})
        except NotFoundError:
            return 0
        return int(answer["count"])
