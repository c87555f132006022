"""shared/stores/__init__.py: the store the settings name is the one opened."""

from __future__ import annotations

from pathlib import Path

from shared.config import Settings, StoreKind
from shared.stores import STORES, open_store
from shared.stores.embedded import EmbeddedStore


def test_every_kind_of_store_can_be_opened() -> None:
    assert set(STORES) == set(StoreKind)


def test_the_embedded_store_lives_under_the_home(tmp_path: Path) -> None:
    store = open_store(Settings(home=tmp_path))
    assert isinstance(store, EmbeddedStore)
    assert store.dimensions() == {}
    assert (tmp_path / "store").is_dir()
