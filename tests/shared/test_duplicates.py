"""shared/duplicates.py on the embedded store: items of different sources that look alike form a group, the frames
of one video never group by themselves, and the threshold decides."""

from __future__ import annotations

from pathlib import Path

from shared.documents import Document, Item, Modality, Space, document_id
from shared.duplicates import near_duplicates
from shared.stores.embedded import EmbeddedStore


def frame(uri: str, vector: list[float], item: int = 0, start_s: float | None = None) -> Document:
    modality = Modality.VIDEO if start_s is not None else Modality.IMAGE
    item_ = Item(
        id=document_id("local", uri, "v1", item, Space.VISION),
        source_id=uri,
        source=uri,
        version="v1",
        uri=uri,
        modality=modality,
        item=item,
        space=Space.VISION,
        start_s=start_s,
        thumbnail=f"{uri}.{item}.jpg",
    )
    return Document(item_, vector, "model", "1")


def test_alike_items_of_different_sources_group_and_one_video_s_frames_do_not(tmp_path: Path) -> None:
    store = EmbeddedStore(tmp_path / "store")
    store.upsert(
        [
            frame("/a.jpg", [1.0, 0.0, 0.0, 0.0]),
            frame("/a-copy.jpg", [0.999, 0.045, 0.0, 0.0]),  # cosine 0.999 with a.jpg
            frame("/c.jpg", [0.0, 1.0, 0.0, 0.0]),
            frame("/clip.mp4", [0.0, 0.0, 1.0, 0.0], item=0, start_s=0.0),
            frame("/clip.mp4", [0.0, 0.0, 0.999, 0.045], item=1, start_s=1.0),  # its own next frame
            frame("/clip.mp4", [0.0, 0.6, 0.0, 0.8], item=2, start_s=2.0),
            frame("/other.mp4", [0.0, 0.0, 0.8, 0.6], item=0, start_s=5.0),  # 0.8 with frame 0, ~0.83 with 1
            frame("/still.jpg", [0.0, 0.62, 0.0, 0.78]),  # cosine 0.9996 with clip.mp4 at 2 s
        ]
    )

    groups = near_duplicates(store, threshold=0.95)
    found = {frozenset((hit.uri, hit.start_s) for hit in group.members) for group in groups}
    assert found == {
        frozenset({("/a.jpg", None), ("/a-copy.jpg", None)}),
        frozenset({("/clip.mp4", 2.0), ("/still.jpg", None)}),
    }
    by_first = {group.members[0].uri: group for group in groups}
    assert round(by_first["/a.jpg"].similarity, 3) == 0.999
    assert by_first["/a.jpg"].public()["members"][1] == {
        "uri": "/a-copy.jpg",
        "modality": "image",
        "start_s": None,
        "thumbnail": "/a-copy.jpg.0.jpg",
    }

    # Lower, clip.mp4's first frames match other.mp4 too; its frame at 2 s, another scene, stays with still.jpg.
    lower = near_duplicates(store, threshold=0.8)
    joined = {frozenset((hit.uri, hit.start_s) for hit in group.members) for group in lower}
    assert frozenset({("/clip.mp4", 1.0), ("/other.mp4", 5.0)}) in joined
    assert frozenset({("/clip.mp4", 2.0), ("/still.jpg", None)}) in joined
    assert near_duplicates(store, threshold=0.9999) == []
    assert near_duplicates(EmbeddedStore(tmp_path / "empty"), threshold=0.5) == []
