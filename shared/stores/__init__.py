"""The vector store: one protocol (`shared.stores.protocol`), an embedded implementation (LanceDB) and OpenSearch.

A store holds several spaces (one vector field each, e.g. `vision` and `text`);
document ids are deterministic, so writing the same documents twice changes nothing.
`STORES` opens the one MMINDEX_STORE names.
"""

from __future__ import annotations

from collections.abc import Callable

from shared.config import Settings, StoreKind
from shared.stores.protocol import MAX_K, SearchFilter, UpsertResult, VectorStore

__all__ = ["MAX_K", "STORES", "SearchFilter", "UpsertResult", "VectorStore", "open_store"]


def _embedded(settings: Settings) -> VectorStore:
    from shared.stores.embedded import EmbeddedStore  # lancedb and pyarrow: imported when this store is chosen

    return EmbeddedStore(settings.home / "store")


def _opensearch(settings: Settings) -> VectorStore:
    from shared.stores.opensearch import OpenSearchStore  # opensearch-py: imported when this store is chosen

    return OpenSearchStore(settings)


STORES: dict[StoreKind, Callable[[Settings], VectorStore]] = {
    StoreKind.EMBEDDED: _embedded,
    StoreKind.OPENSEARCH: _opensearch,
}
"""How each kind of store is opened from the settings."""


def open_store(settings: Settings) -> VectorStore:
    """The store the settings name."""
    return STORES[settings.store](settings)
