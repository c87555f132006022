"""The OpenSearch store's indices: made from one template (the base fields and a space's `knn_vector` field), on
an engine the node can run, and removed."""

from __future__ import annotations

import contextlib
from typing import Any

from opensearchpy import OpenSearch
from opensearchpy.exceptions import NotFoundError

from shared.config import OpenSearchSettings
from shared.errors import PermanentError
from shared.stores.opensearch_client import base_mappings, call, vector_field

LATER_FIELDS = ("page",)
"""Fields of the template added after its first version: an index made before them gets them on first use."""


class Indices:
    """Creates, reads and deletes indices of one endpoint."""

    def __init__(self, client: OpenSearch, settings: OpenSearchSettings, *, serverless: bool, where: str) -> None:
        self._client = client
        self._settings = settings
        self._serverless = serverless
        self._where = where
        self._engine = settings.knn_engine()
        self._engine_checked = False
        self._current: set[str] = set()  # indices this process gave the fields of today's template

    def add_fields(self, names: set[str]) -> None:
        """Give indices made by an earlier version the fields added since (`page`): their mapping is strict, and a
        document with a field the mapping lacks would be refused. Adding a field is allowed and idempotent."""
        added = {name: field for name, field in base_mappings()["properties"].items() if name in LATER_FIELDS}
        for name in sorted(names - self._current):
            call(self._where, f"adding fields to index {name}", self._client.indices.put_mapping, index=name,
                 body={"properties": added})  # fmt: skip
            self._current.add(name)

    def vector_mapping(self, dim: int) -> dict[str, Any]:
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
        answer = call(
            self._where,
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

    def create(self, name: str, vectors: dict[str, Any], *, alias: str | None = None) -> bool:
        """A new index from the template with the `vectors` fields (and behind `alias`, if given).

        False if it exists already (another worker created it first).
        """
        self.check_engine()
        mappings = base_mappings()
        mappings["properties"].update(vectors)
        body: dict[str, Any] = {"mappings": mappings, "settings": {"index": {"knn": True}}}
        if not self._serverless:
            body["settings"]["index"].update(number_of_shards=1, number_of_replicas=self._settings.replicas)
        if alias:
            body["aliases"] = {alias: {}}
        try:
            call(self._where, f"creating index {name}", self._client.indices.create, index=name, body=body)
        except PermanentError as error:
            if "resource_already_exists_exception" not in str(error):
                raise
            return False
        return True

    def create_space(self, name: str, space: str, dimension: int) -> bool:
        """A new index holding one space's vectors of `dimension`; False if it exists already."""
        return self.create(name, {vector_field(space): self.vector_mapping(dimension)})

    def dimension(self, name: str, space: str) -> int:
        """The dimension of `space`'s vectors in index `name`."""
        mappings = call(self._where, "reading the mapping", self._client.indices.get_mapping, index=name)
        return int(mappings[name]["mappings"]["properties"][vector_field(space)]["dimension"])

    def delete(self, name: str) -> None:
        """Delete index `name`, if it exists."""
        with contextlib.suppress(NotFoundError):
            call(self._where, f"deleting index {name}", self._client.indices.delete, index=name)
