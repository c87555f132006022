"""workers/embed.py: a batch of items in, one unit vector per item out; an item whose input is unreadable fails
alone. Real models: the packaged all-MiniLM-L6-v2 and the tiny random-weight CLIP."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shared.documents import Item, Modality, Space
from shared.errors import CorruptMedia
from shared.runtime import get_runtime
from tests.support.media import photo
from workers.embed import embed_items


def item(number: int, space: Space, **fields: object) -> Item:
    return Item(
        id=f"doc-{number}",
        source_id=f"src-{number}",
        source=f"/media/{number}",
        version="v1",
        uri=f"/media/{number}",
        modality=Modality.IMAGE if space is Space.VISION else Modality.TEXT,
        item=0,
        space=space,
        **fields,
    )


@pytest.mark.usefixtures("embedded")
def test_texts_become_one_unit_vector_each_and_like_meanings_land_close() -> None:
    texts = ["Prune the roses in early spring.", "Cut back rose bushes before they bud.", "The ferry leaves at six."]

    embedded = embed_items([item(n, Space.TEXT, text=text) for n, text in enumerate(texts)], get_runtime())

    assert [found.id for found in embedded.items] == ["doc-0", "doc-1", "doc-2"] and not embedded.failed
    assert embedded.vectors.shape == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(embedded.vectors, axis=1), 1.0, rtol=1e-5)
    similar, unrelated = embedded.vectors[0] @ embedded.vectors[1], embedded.vectors[0] @ embedded.vectors[2]
    assert similar > unrelated + 0.2


@pytest.mark.usefixtures("embedded")
def test_an_unreadable_thumbnail_fails_its_own_item_and_the_rest_are_embedded(tmp_path: Path) -> None:
    good = [photo(tmp_path / f"{n}.jpg", seed=n) for n in range(2)]
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(good[0].read_bytes()[:200])
    items = [item(0, Space.VISION, input_uri=str(good[0])), item(1, Space.VISION, input_uri=str(broken))]
    items.append(item(2, Space.VISION, input_uri=str(good[1])))

    embedded = embed_items(items, get_runtime())

    assert [found.id for found in embedded.items] == ["doc-0", "doc-2"]
    assert embedded.vectors.shape[0] == 2
    ((failed, error),) = embedded.failed
    assert failed.id == "doc-1"
    assert isinstance(error, CorruptMedia) and str(broken) in str(error) and "ingest it again" in str(error)
