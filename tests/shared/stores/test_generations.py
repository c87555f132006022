"""shared/stores: a space's generations on every store: the first write makes one, another is built beside it by
number, searches read only the serving one until a swap, and a source's deletion, a rollback and a drop do what
`mmindex models` promises. The stores are those of test_contract.py, from fresh (no space made yet)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from opensearchpy import helpers

from shared.config import Settings, StoreKind
from shared.documents import Document, Hit, Space
from shared.errors import PermanentError
from shared.generations import GenerationState
from shared.stores import VectorStore
from shared.stores.opensearch import OpenSearchStore, base_mappings, make_client, vector_field
from tests.shared.stores.test_contract import STORES, TEXT_DIM, VISION_DIM, doc, unit

NEW_MODEL = "new-model"
NEW_DIM = 2


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    """A fresh store: no space has a generation yet."""
    made = STORES[request.param](request, tmp_path)
    yield next(made)
    next(made, None)


def text(key: str, words: str, vector: list[float], *, model: str = "test-model") -> Document:
    made = doc(key, vector, space=Space.TEXT, modality="audio", text=words, start_s=1.0, end_s=2.5)
    return dataclasses.replace(made, model=model)


def image(key: str, vector: list[float], *, model: str = "test-model") -> Document:
    return dataclasses.replace(doc(key, vector), model=model)


def found(hits: list[Hit]) -> list[tuple[str, int | None]]:
    return sorted((hit.uri.rsplit("/", 1)[-1], hit.generation) for hit in hits)


def with_a_second_text_generation(store: VectorStore) -> None:
    """Text g1 (3-d, test-model) holds a.ogg and b.ogg; g2 (2-d, new-model), being built, holds a.ogg again."""
    assert store.upsert([text("a.ogg", "the ferry to the harbour", unit(0, TEXT_DIM)),
                         text("b.ogg", "a ferry timetable", unit(1, TEXT_DIM))]).failed == {}  # fmt: skip
    made = store.begin(Space.TEXT, NEW_MODEL, NEW_DIM, fingerprint="f2")
    assert (made.number, made.state, made.model, made.dimension) == (2, GenerationState.BUILDING, NEW_MODEL, NEW_DIM)
    result = store.upsert([text("a.ogg", "the ferry to the harbour", unit(0, NEW_DIM), model=NEW_MODEL)], generation=2)
    assert (result.written, result.failed) == (1, {})


def test_the_first_write_makes_generation_1_serving_for_its_model(store: VectorStore) -> None:
    store.upsert([image("a.jpg", unit(0))])
    (first,) = store.lineage(Space.VISION).generations
    assert (first.number, first.state, first.model, first.dimension) == (1, GenerationState.SERVING, "test-model", 4)
    assert store.dimensions() == {"vision": VISION_DIM}
    assert found(store.search(Space.VISION, unit(0), k=5)) == [("a.jpg", 1)]
    assert store.lineage(Space.TEXT).generations == ()


def test_searches_read_the_serving_generation_until_the_swap_then_only_the_new_one(store: VectorStore) -> None:
    store.upsert([image("photo.jpg", unit(0))])
    with_a_second_text_generation(store)

    assert store.dimensions() == {"vision": VISION_DIM, "text": TEXT_DIM}
    assert found(store.search(Space.TEXT, unit(0, TEXT_DIM), k=5)) == [("a.ogg", 1), ("b.ogg", 1)]
    assert found(store.search_text("ferry", k=5)) == [("a.ogg", 1), ("b.ogg", 1)]
    assert (store.count(Space.TEXT), store.count()) == (2, 3)
    assert [len(vector) for _, vector in store.scan(Space.TEXT)] == [TEXT_DIM] * 2
    assert found(store.search(Space.TEXT, unit(0, NEW_DIM), k=5, generation=2)) == [("a.ogg", 2)]  # by its number
    assert store.count(Space.TEXT, generation=2) == 1

    lineage = store.lineage(Space.TEXT)
    store.commit(lineage, lineage.swap(2))

    assert store.dimensions() == {"vision": VISION_DIM, "text": NEW_DIM}
    assert found(store.search(Space.TEXT, unit(0, NEW_DIM), k=5)) == [("a.ogg", 2)]
    assert found(store.search_text("ferry", k=5)) == [("a.ogg", 2)]
    assert (store.count(Space.TEXT), store.count()) == (1, 2)
    assert [(hit.generation, len(vector)) for hit, vector in store.scan(Space.TEXT)] == [(2, NEW_DIM)]
    assert found(store.search(Space.VISION, unit(0), k=5)) == [("photo.jpg", 1)]  # the other space is untouched
    assert store.count(Space.TEXT, generation=1) == 2  # the retired one keeps its documents for a rollback


def test_items_give_back_what_a_rebuild_embeds(store: VectorStore) -> None:
    frame = doc("clip.mp4", unit(1), item=3, modality="video", start_s=12.0, end_s=14.5, text="a goal")
    speech = text("talk.ogg", "the words as spoken", unit(2, TEXT_DIM))
    store.upsert([frame, speech])
    store.begin(Space.VISION, NEW_MODEL, NEW_DIM)
    store.upsert([dataclasses.replace(frame, vector=unit(1, NEW_DIM), model=NEW_MODEL)], generation=2)

    (again,) = store.items(Space.VISION, 2)
    assert again == dataclasses.replace(frame.item, input_uri="s3://photos/_mmindex/clip.mp4.3.jpg")
    assert list(store.items(Space.VISION, 1)) == [again]
    (words,) = store.items(Space.TEXT)
    assert words == speech.item and (words.text, words.input_uri) == ("the words as spoken", None)


def test_delete_source_reaches_every_generation(store: VectorStore) -> None:
    with_a_second_text_generation(store)
    assert store.delete_source("s3://photos/a.ogg") == 1  # counted in the serving generation
    assert (store.count(Space.TEXT, generation=1), store.count(Space.TEXT, generation=2)) == (1, 0)
    assert store.delete_source("s3://photos/a.ogg") == 0


def test_a_rollback_serves_the_previous_generation_again(store: VectorStore) -> None:
    with_a_second_text_generation(store)
    lineage = store.lineage(Space.TEXT)
    store.commit(lineage, lineage.swap(2))
    lineage = store.lineage(Space.TEXT)
    store.commit(lineage, lineage.rollback())

    states = [(g.number, g.state) for g in store.lineage(Space.TEXT).generations]
    assert states == [(1, GenerationState.SERVING), (2, GenerationState.RETIRED)]
    assert found(store.search_text("ferry", k=5)) == [("a.ogg", 1), ("b.ogg", 1)]
    assert store.dimensions()["text"] == TEXT_DIM


def test_a_retired_generation_is_dropped_with_its_documents_and_the_serving_one_is_not(store: VectorStore) -> None:
    with_a_second_text_generation(store)
    lineage = store.lineage(Space.TEXT)
    store.commit(lineage, lineage.swap(2))

    with pytest.raises(PermanentError, match="serves"):
        store.drop(Space.TEXT, 2)
    store.drop(Space.TEXT, 1)

    assert [g.number for g in store.lineage(Space.TEXT).generations] == [2]
    assert store.count(Space.TEXT, generation=1) == 0  # a generation that is no more reads as empty
    assert found(store.search_text("ferry", k=5)) == [("a.ogg", 2)]
    again = store.begin(Space.TEXT, "test-model", TEXT_DIM)  # a new generation is empty, whatever its number
    assert store.count(Space.TEXT, generation=again.number) == 0


def test_a_commit_over_generations_that_changed_meanwhile_is_refused(store: VectorStore) -> None:
    with_a_second_text_generation(store)
    read = store.lineage(Space.TEXT)
    store.commit(read, read.swap(2))
    with pytest.raises(PermanentError, match="changed"):
        store.commit(read, read.swap(2))  # a second command, from the same read
    with pytest.raises(PermanentError, match="changed"):
        store.commit(read, read.drop(2))  # another transition from that read
    states = [(g.number, g.state) for g in store.lineage(Space.TEXT).generations]
    assert states == [(1, GenerationState.RETIRED), (2, GenerationState.SERVING)]


def test_a_document_the_generation_does_not_take_is_refused_naming_it(store: VectorStore) -> None:
    with_a_second_text_generation(store)
    other_model = text("c.ogg", "c", unit(0, NEW_DIM))  # test-model, into new-model's generation
    other_dimension = text("d.ogg", "d", unit(0, TEXT_DIM), model=NEW_MODEL)
    fits = text("e.ogg", "e", unit(1, NEW_DIM), model=NEW_MODEL)

    result = store.upsert([other_model, other_dimension, fits], generation=2)

    assert result.written == 1 and sorted(result.failed) == sorted([other_model.item.id, other_dimension.item.id])
    for reason in result.failed.values():
        assert "g2" in reason and "\n" not in reason
    assert "test-model" in result.failed[other_model.item.id]
    absent = store.upsert([fits], generation=9)
    assert absent.written == 0 and "g9" in absent.failed[fits.item.id]


# ---------------------------------------------------------------- OpenSearch: an index made before generations


@pytest.fixture
def legacy(opensearch_url: str) -> Iterator[OpenSearchStore]:
    """An alias as the store made it before generations: `{alias}-000001` holds both spaces, no record."""
    alias = f"legacy-{uuid.uuid4().hex[:12]}"
    options = {"url": opensearch_url, "engine": "lucene", "refresh": "wait_for", "replicas": 0, "index": alias}
    store = OpenSearchStore(Settings(store=StoreKind.OPENSEARCH, opensearch=options))
    client = make_client(store._settings)
    mappings = base_mappings()
    del mappings["properties"]["page"]  # made before chunks had pages, too
    vectors = {vector_field(Space.VISION): VISION_DIM, vector_field(Space.TEXT): TEXT_DIM}
    method = {"name": "hnsw", "engine": "lucene", "space_type": "cosinesimil"}
    mappings["properties"].update(
        {field: {"type": "knn_vector", "dimension": dim, "method": method} for field, dim in vectors.items()}
    )
    body = {
        "mappings": mappings,
        "settings": {"index": {"knn": True, "number_of_shards": 1, "number_of_replicas": 0}},
        "aliases": {alias: {"is_write_index": True}},
    }
    client.indices.create(index=f"{alias}-000001", body=body)
    old = [image("old.jpg", unit(0)), text("old.ogg", "the ferry of old", unit(0, TEXT_DIM))]
    old[0].item.text = "a ferry in the picture"  # a frame with words: never a lexical hit once its space moves on
    actions = [
        {
            "_index": alias,
            "_id": document.item.id,
            "_source": {
                **{key: value for key, value in document.fields().items() if value is not None},
                vector_field(document.item.space): document.vector,
            },
        }
        for document in old
    ]
    helpers.bulk(client, actions, refresh=True)
    yield store
    client.indices.delete(index=f"{alias}-*", ignore_unavailable=True)


def test_an_index_made_before_generations_reads_as_generation_1_of_each_space(legacy: OpenSearchStore) -> None:
    alias = legacy._alias
    (vision,) = legacy.lineage(Space.VISION).generations
    assert (vision.number, vision.state, vision.model, vision.location) == (1, "serving", None, f"{alias}-000001")
    assert legacy.dimensions() == {"vision": VISION_DIM, "text": TEXT_DIM}
    assert found(legacy.search(Space.VISION, unit(0), k=5)) == [("old.jpg", 1)]
    assert found(legacy.search_text("ferry", k=5)) == [("old.jpg", 1), ("old.ogg", 1)]
    assert legacy.upsert([image("new.jpg", unit(1))]).written == 1  # any model: the old one was not recorded
    assert legacy.count(Space.VISION) == 2
    paged = doc("deed.pdf", unit(2, TEXT_DIM), space=Space.TEXT, modality="text", text="a deed", page=3)
    assert legacy.upsert([paged]).written == 1  # the index is given the field pages came with
    assert [hit.page for hit in legacy.search_text("deed", k=5)] == [3]
    legacy.delete_source("s3://photos/deed.pdf")

    legacy.begin(Space.VISION, NEW_MODEL, NEW_DIM)
    legacy.upsert([image("new.jpg", unit(1, NEW_DIM), model=NEW_MODEL)], generation=2)
    lineage = legacy.lineage(Space.VISION)
    legacy.commit(lineage, lineage.swap(2))

    assert sorted(make_client(legacy._settings).indices.get_alias(name=alias)) == [
        f"{alias}-000001",  # still serving the text space
        f"{alias}-vision-g2",
    ]
    assert found(legacy.search(Space.VISION, unit(1, NEW_DIM), k=5)) == [("new.jpg", 2)]
    assert found(legacy.search_text("ferry", k=5)) == [("old.ogg", 1)]
    assert legacy.delete_source("s3://photos/new.jpg") == 1
    assert legacy.count(Space.VISION, generation=1) == 1

    legacy.drop(Space.VISION, 1)  # the old index stays for the text space; its vision documents go
    assert legacy.lineage(Space.TEXT).serving.location == f"{alias}-000001"  # type: ignore[union-attr]
    assert legacy.count() == 1
    assert found(legacy.search(Space.TEXT, unit(0, TEXT_DIM), k=5)) == [("old.ogg", 1)]
