"""shared/stores/embedded.py: a store made by an earlier version (its tables without the fields added since) is read
as it is and given those fields at its next write."""

from __future__ import annotations

from pathlib import Path

from shared.documents import Space
from shared.stores.embedded import EmbeddedStore
from tests.shared.stores.test_contract import TEXT_DIM, doc, unit


def test_a_table_made_before_pages_is_read_and_then_given_them(tmp_path: Path) -> None:
    old = EmbeddedStore(tmp_path / "store")
    old.upsert([doc("notes.txt", unit(0, TEXT_DIM), space=Space.TEXT, modality="text", text="the ferry")])
    old._db.open_table("items_text").drop_columns(["page"])  # as an earlier version made it

    store = EmbeddedStore(tmp_path / "store")
    assert [(hit.uri, hit.page) for hit in store.search_text("ferry", k=5)] == [("s3://photos/notes.txt", None)]
    assert [item.page for item in store.items(Space.TEXT)] == [None]

    deed = doc("deed.pdf", unit(1, TEXT_DIM), space=Space.TEXT, modality="text", text="the ferry deed", page=2)
    assert store.upsert([deed]).failed == {}
    assert {hit.uri: hit.page for hit in store.search(Space.TEXT, unit(1, TEXT_DIM), k=5)} == {
        "s3://photos/deed.pdf": 2,
        "s3://photos/notes.txt": None,
    }
