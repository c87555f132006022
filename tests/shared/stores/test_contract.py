"""shared/stores: the VectorStore contract.

Every test takes the `store` fixture and speaks only the protocol, so another implementation
(OpenSearch against a real node) joins by adding one entry to STORES.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from shared.config import Settings, StoreKind
from shared.documents import Document, Item, Space, document_id
from shared.errors import PermanentError
from shared.stores import MAX_K, SearchFilter, VectorStore
from shared.stores.embedded import EmbeddedStore
from shared.stores.opensearch import OpenSearchStore, make_client

VISION_DIM = 4
TEXT_DIM = 3


def embedded(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    yield EmbeddedStore(tmp_path / "store")


def opensearch(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    """A fresh index on the real OpenSearch node (lucene engine: see tests/opensearch/README.md)."""
    url = request.getfixturevalue("opensearch_url")
    alias = f"contract-{uuid.uuid4().hex[:12]}"
    options = {"url": url, "engine": "lucene", "refresh": "wait_for", "replicas": 0, "index": alias}
    store = OpenSearchStore(Settings(store=StoreKind.OPENSEARCH, opensearch=options))
    yield store
    make_client(store._settings).indices.delete(index=f"{alias}-*", ignore_unavailable=True)


STORES: dict[str, Callable[[pytest.FixtureRequest, Path], Iterator[VectorStore]]] = {
    "embedded": embedded,
    "opensearch": opensearch,
}


@pytest.fixture(params=sorted(STORES))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[VectorStore]:
    """A fresh store with the two spaces created."""
    made = STORES[request.param](request, tmp_path)
    store = next(made)
    store.ensure({Space.VISION: VISION_DIM, Space.TEXT: TEXT_DIM})
    yield store
    next(made, None)


def doc(
    key: str,
    vector: list[float],
    *,
    item: int = 0,
    version: str = "v1",
    space: str = Space.VISION,
    modality: str = "image",
    root: str = "photos",
    text: str | None = None,
    start_s: float | None = None,
    end_s: float | None = None,
    page: int | None = None,
) -> Document:
    source = f"s3://{root}/{key}"
    return Document(
        item=Item(
            id=document_id(root, key, version, item, space),
            source_id=f"{root}:{key}",
            source=source,
            version=version,
            uri=source,
            modality=modality,
            item=item,
            space=str(space),
            text=text,
            thumbnail=f"s3://{root}/_mmindex/{key}.{item}.jpg",
            start_s=start_s,
            end_s=end_s,
            page=page,
        ),
        vector=vector,
        model="test-model",
        pipeline="1",
    )


def unit(index: int, dim: int = VISION_DIM) -> list[float]:
    return [1.0 if i == index else 0.0 for i in range(dim)]


def uris(hits: list) -> list[str]:
    return [hit.uri for hit in hits]


# ---------------------------------------------------------------- spaces


def test_ensure_creates_the_spaces_with_their_dimensions(store: VectorStore) -> None:
    assert store.dimensions() == {"vision": VISION_DIM, "text": TEXT_DIM}
    store.ensure({Space.VISION: VISION_DIM})  # again: nothing changes
    assert store.dimensions() == {"vision": VISION_DIM, "text": TEXT_DIM}


def test_ensure_with_another_dimension_is_refused(store: VectorStore) -> None:
    with pytest.raises(PermanentError, match="vision"):
        store.ensure({Space.VISION: VISION_DIM + 1})
    assert store.dimensions()["vision"] == VISION_DIM


def test_a_vector_of_the_wrong_dimension_fails_alone(store: VectorStore) -> None:
    good = doc("good.jpg", unit(0))
    bad = doc("bad.jpg", [1.0, 0.0])
    result = store.upsert([good, bad])
    assert result.written == 1
    assert list(result.failed) == [bad.item.id]
    assert store.count(Space.VISION) == 1


# ---------------------------------------------------------------- writing


def test_writing_the_same_documents_twice_changes_nothing(store: VectorStore) -> None:
    documents = [doc(f"{n}.jpg", unit(n % VISION_DIM)) for n in range(6)]
    assert store.upsert(documents).written == 6
    assert store.upsert([doc(f"{n}.jpg", unit(n % VISION_DIM)) for n in range(6)]).written == 6
    assert store.count(Space.VISION) == 6
    assert store.count() == 6


def test_a_rewritten_document_replaces_the_old_one(store: VectorStore) -> None:
    store.upsert([doc("talk.wav", [1.0, 0.0, 0.0], space=Space.TEXT, modality="audio", text="old words")])
    store.upsert([doc("talk.wav", [1.0, 0.0, 0.0], space=Space.TEXT, modality="audio", text="new words")])
    (hit,) = store.search(Space.TEXT, [1.0, 0.0, 0.0], k=10)
    assert hit.text == "new words"


def test_documents_land_in_their_own_space(store: VectorStore) -> None:
    store.upsert([doc("a.jpg", unit(0)), doc("a.txt", [0.0, 1.0, 0.0], space=Space.TEXT, modality="text")])
    assert store.count(Space.VISION) == 1
    assert store.count(Space.TEXT) == 1
    assert uris(store.search(Space.TEXT, [0.0, 1.0, 0.0], k=10)) == ["s3://photos/a.txt"]


# ---------------------------------------------------------------- searching


def test_the_nearest_neighbour_comes_first_with_cosine_scores(store: VectorStore) -> None:
    store.upsert(
        [
            doc("same.jpg", [0.6, 0.8, 0.0, 0.0]),
            doc("close.jpg", [0.8, 0.6, 0.0, 0.0]),
            doc("orthogonal.jpg", [0.0, 0.0, 1.0, 0.0]),
            doc("opposite.jpg", [-0.6, -0.8, 0.0, 0.0]),
        ]
    )
    hits = store.search(Space.VISION, [3.0, 4.0, 0.0, 0.0], k=10)  # same direction, another length
    assert uris(hits) == ["s3://photos/same.jpg", "s3://photos/close.jpg", "s3://photos/orthogonal.jpg",
                          "s3://photos/opposite.jpg"]  # fmt: skip
    scores = [hit.score for hit in hits]
    assert scores[0] == pytest.approx(1.0, abs=1e-4)
    assert scores[1] == pytest.approx(0.96, abs=1e-4)
    assert scores[2] == pytest.approx(0.0, abs=1e-4)
    assert scores[3] == pytest.approx(-1.0, abs=1e-4)


def test_hits_carry_what_search_prints(store: VectorStore) -> None:
    document = doc("clip.mp4", unit(1), item=3, modality="video", start_s=12.0, end_s=14.5, text="a goal")
    store.upsert([document])
    (hit,) = store.search(Space.VISION, unit(1), k=1)
    assert hit.public() == {
        "uri": "s3://photos/clip.mp4",
        "modality": "video",
        "score": pytest.approx(1.0, abs=1e-4),
        "relevance": None,  # given by a search's fusion, not by a store
        "start_s": 12.0,
        "end_s": 14.5,
        "page": None,
        "text": "a goal",
        "thumbnail": "s3://photos/_mmindex/clip.mp4.3.jpg",
    }
    assert (hit.id, hit.space) == (document.item.id, "vision")


def test_a_pdf_chunk_s_hits_and_items_carry_its_page(store: VectorStore) -> None:
    chunk = doc("deed.pdf", unit(2, TEXT_DIM), item=4, space=Space.TEXT, modality="text", text="the otter", page=2)
    store.upsert([chunk, doc("notes.txt", unit(1, TEXT_DIM), space=Space.TEXT, modality="text", text="otters")])
    pages = {hit.uri: hit.page for hit in store.search(Space.TEXT, unit(2, TEXT_DIM), k=5)}
    assert pages == {"s3://photos/deed.pdf": 2, "s3://photos/notes.txt": None}
    assert [hit.page for hit in store.search_text("otter", k=1)] == [2]
    assert {hit.uri: hit.page for hit, _ in store.scan(Space.TEXT)}["s3://photos/deed.pdf"] == 2
    assert {item.uri: item.page for item in store.items(Space.TEXT)}["s3://photos/deed.pdf"] == 2


def test_k_limits_the_hits(store: VectorStore) -> None:
    store.upsert([doc(f"{n}.jpg", [1.0, n / 10, 0.0, 0.0]) for n in range(10)])
    hits = store.search(Space.VISION, [1.0, 0.0, 0.0, 0.0], k=3)
    assert uris(hits) == ["s3://photos/0.jpg", "s3://photos/1.jpg", "s3://photos/2.jpg"]


def test_k_is_bounded_by_max_k(store: VectorStore) -> None:
    total = MAX_K + 5
    store.upsert([doc(f"{n}.jpg", [1.0, math.sin(n), math.cos(n), 0.5]) for n in range(total)])
    assert store.count(Space.VISION) == total
    assert len(store.search(Space.VISION, [1.0, 0.0, 0.0, 0.0], k=total)) == MAX_K
    assert len(store.search(Space.VISION, [1.0, 0.0, 0.0, 0.0], k=10**9)) == MAX_K


def test_a_space_that_does_not_exist_has_no_hits(store: VectorStore) -> None:
    store.upsert([doc("a.jpg", unit(0))])
    assert store.search("audio", [1.0, 0.0], k=10) == []
    assert store.count("audio") == 0


def test_an_empty_space_has_no_hits(store: VectorStore) -> None:
    assert store.search(Space.VISION, unit(0), k=10) == []


def test_filter_by_modality(store: VectorStore) -> None:
    store.upsert(
        [
            doc("photo.jpg", unit(0), modality="image"),
            doc("clip.mp4", unit(0), modality="video", start_s=0.0, end_s=1.0),
            doc("other.mp4", [0.9, 0.1, 0.0, 0.0], modality="video", start_s=0.0, end_s=1.0),
        ]
    )
    videos = store.search(Space.VISION, unit(0), k=10, filters=SearchFilter(modalities=("video",)))
    assert sorted(uris(videos)) == ["s3://photos/clip.mp4", "s3://photos/other.mp4"]
    both = store.search(Space.VISION, unit(0), k=10, filters=SearchFilter(modalities=("video", "image")))
    assert len(both) == 3
    assert store.search(Space.VISION, unit(0), k=10, filters=SearchFilter(modalities=("audio",))) == []


def test_filter_by_source_prefix(store: VectorStore) -> None:
    store.upsert(
        [
            doc("trip/a.jpg", unit(0)),
            doc("trip/b.jpg", unit(0)),
            doc("trip-old/c.jpg", unit(0)),
            doc("home/d.jpg", unit(0)),
        ]
    )
    hits = store.search(Space.VISION, unit(0), k=10, filters=SearchFilter(source_prefix="s3://photos/trip/"))
    assert sorted(uris(hits)) == ["s3://photos/trip/a.jpg", "s3://photos/trip/b.jpg"]
    nothing = store.search(Space.VISION, unit(0), k=10, filters=SearchFilter(source_prefix="s3://elsewhere/"))
    assert nothing == []


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        ("s3://photos/it's/", ["s3://photos/it's/a.jpg"]),
        ("s3://photos/100%/", ["s3://photos/100%/a.jpg"]),
        ("s3://photos/a_b/", ["s3://photos/a_b/a.jpg"]),
        ("s3://photos/back\\slash/", ["s3://photos/back\\slash/a.jpg"]),
        ('s3://photos/q"uote/', ['s3://photos/q"uote/a.jpg']),
    ],
    ids=["quote", "percent", "underscore", "backslash", "double-quote"],
)
def test_filter_by_a_prefix_with_special_characters(store: VectorStore, prefix: str, expected: list[str]) -> None:
    keys = ["it's/a.jpg", "its/a.jpg", "100%/a.jpg", "1000/a.jpg", "a_b/a.jpg", "axb/a.jpg", "back\\slash/a.jpg",
            'q"uote/a.jpg', "quote/a.jpg"]  # fmt: skip
    store.upsert([doc(key, unit(0)) for key in keys])
    hits = store.search(Space.VISION, unit(0), k=100, filters=SearchFilter(source_prefix=prefix))
    assert uris(hits) == expected


def test_filters_combine(store: VectorStore) -> None:
    store.upsert(
        [
            doc("trip/a.jpg", unit(0), modality="image"),
            doc("trip/b.mp4", unit(0), modality="video"),
            doc("home/c.mp4", unit(0), modality="video"),
        ]
    )
    only = SearchFilter(modalities=("video",), source_prefix="s3://photos/trip/")
    assert uris(store.search(Space.VISION, unit(0), k=10, filters=only)) == ["s3://photos/trip/b.mp4"]


def test_filters_do_not_cut_k_short(store: VectorStore) -> None:
    # Many better matches outside the filter must not crowd out the ones inside it.
    store.upsert([doc(f"noise/{n}.jpg", unit(0)) for n in range(50)])
    store.upsert([doc(f"keep/{n}.jpg", [0.5, 0.5, 0.5, 0.5]) for n in range(3)])
    hits = store.search(Space.VISION, unit(0), k=3, filters=SearchFilter(source_prefix="s3://photos/keep/"))
    assert len(hits) == 3


# ---------------------------------------------------------------- lexical search


def words(key: str, text: str, *, version: str = "v1", item: int = 0, modality: str = "text") -> Document:
    """A text-space document of `key` whose words are `text`."""
    return doc(key, [1.0, 0.0, 0.0], item=item, version=version, space=Space.TEXT, modality=modality, text=text)


def test_an_exact_code_is_found_first_by_its_words(store: VectorStore) -> None:
    store.upsert(
        [
            words("near.txt", "invoice INV-2024-0918 of 2024, paid on 0917; inv inv inv"),
            words("exact.txt", "the boiler was paid with invoice INV-2024-0917 in March"),
            words("other.txt", "minutes of the harbour committee about the ferry timetable"),
            doc("photo.jpg", unit(0)),  # no words: never a lexical hit
        ]
    )
    hits = store.search_text("INV-2024-0917", k=5)
    assert uris(hits)[0] == "s3://photos/exact.txt"
    assert "s3://photos/other.txt" not in uris(hits) and "s3://photos/photo.jpg" not in uris(hits)
    assert hits[0].text == "the boiler was paid with invoice INV-2024-0917 in March"
    assert hits[0].space is Space.TEXT and hits[0].score > hits[-1].score > 0
    assert uris(store.search_text("ferry timetables", k=5)) == ["s3://photos/other.txt"]  # stems match
    assert store.search_text("zanzibar", k=5) == []
    assert store.search_text("   ", k=5) == []


def test_a_replaced_or_deleted_document_s_words_are_gone(store: VectorStore) -> None:
    store.upsert([words("notes.txt", "the giraffe escaped on friday"), words("keep.txt", "a giraffe at the zoo")])
    store.upsert([words("notes.txt", "the zebra escaped on monday")])  # the same document, rewritten
    assert uris(store.search_text("friday", k=5)) == []
    assert uris(store.search_text("zebra", k=5)) == ["s3://photos/notes.txt"]
    assert uris(store.search_text("giraffe", k=5)) == ["s3://photos/keep.txt"]

    store.upsert([words("notes.txt", "the okapi escaped on sunday", version="v2")])  # a new version settles
    store.delete_source("s3://photos/notes.txt", keep_version="v2")
    assert uris(store.search_text("zebra", k=5)) == []
    assert uris(store.search_text("okapi", k=5)) == ["s3://photos/notes.txt"]

    store.delete_source("s3://photos/notes.txt")  # the source left storage
    assert uris(store.search_text("okapi", k=5)) == []
    assert uris(store.search_text("escaped", k=5)) == []


def test_lexical_search_takes_the_same_filters(store: VectorStore) -> None:
    store.upsert(
        [
            words("talks/harbour.ogg", "the ferry leaves the harbour at seven", modality="audio"),
            words("docs/harbour.txt", "the ferry timetable of the harbour", modality="text"),
            words("clips/harbour.mp4", "the ferry in the harbour at dawn", modality="video"),
        ]
    )
    audio = store.search_text("ferry harbour", k=5, filters=SearchFilter(modalities=("audio",)))
    assert uris(audio) == ["s3://photos/talks/harbour.ogg"]
    docs = store.search_text("ferry", k=5, filters=SearchFilter(source_prefix="s3://photos/docs/"))
    assert uris(docs) == ["s3://photos/docs/harbour.txt"]
    assert len(store.search_text("ferry", k=2)) == 2


def test_scan_reads_every_document_of_a_space_with_its_vector_page_by_page(store: VectorStore) -> None:
    store.upsert([doc(f"p{n}.jpg", unit(n % VISION_DIM)) for n in range(5)] + [words("t.txt", "a note")])
    seen = {hit.uri: vector for hit, vector in store.scan(Space.VISION, page=2)}
    assert sorted(seen) == [f"s3://photos/p{n}.jpg" for n in range(5)]
    assert seen["s3://photos/p3.jpg"] == pytest.approx(unit(3))
    assert [hit.uri for hit, _ in store.scan(Space.TEXT)] == ["s3://photos/t.txt"]
    assert list(store.scan("audio")) == []


# ---------------------------------------------------------------- deleting and counting


def test_delete_source_removes_it_from_every_space(store: VectorStore) -> None:
    store.upsert(
        [
            doc("clip.mp4", unit(0), item=0, modality="video"),
            doc("clip.mp4", unit(1), item=1, modality="video"),
            doc("clip.mp4", [1.0, 0.0, 0.0], item=2, space=Space.TEXT, modality="video", text="hello"),
            doc("other.jpg", unit(0)),
        ]
    )
    assert store.count(source="s3://photos/clip.mp4") == 3
    assert store.delete_source("s3://photos/clip.mp4") == 3
    assert store.count(source="s3://photos/clip.mp4") == 0
    assert uris(store.search(Space.VISION, unit(0), k=10)) == ["s3://photos/other.jpg"]
    assert store.search(Space.TEXT, [1.0, 0.0, 0.0], k=10) == []
    assert store.delete_source("s3://photos/clip.mp4") == 0


def test_delete_source_keeping_a_version_removes_only_the_others(store: VectorStore) -> None:
    store.upsert([doc("a.jpg", unit(0), version="v1"), doc("a.jpg", unit(1), version="v2")])
    assert store.count(source="s3://photos/a.jpg") == 2
    assert store.delete_source("s3://photos/a.jpg", keep_version="v2") == 1
    (hit,) = store.search(Space.VISION, unit(1), k=10)
    assert hit.id == document_id("photos", "a.jpg", "v2", 0, Space.VISION)
    assert store.delete_source("s3://photos/a.jpg", keep_version="v2") == 0


def test_delete_source_of_only_one_version_keeps_the_others(store: VectorStore) -> None:
    store.upsert([doc("a.jpg", unit(0), version="v1"), doc("a.jpg", unit(1), version="v2")])
    assert store.delete_source("s3://photos/a.jpg", only_version="v2") == 1
    (hit,) = store.search(Space.VISION, unit(1), k=10)
    assert hit.id == document_id("photos", "a.jpg", "v1", 0, Space.VISION)


def test_delete_source_matches_the_whole_source_not_a_prefix(store: VectorStore) -> None:
    store.upsert([doc("a.jpg", unit(0)), doc("a.jpg.xmp", unit(0)), doc("it's.jpg", unit(0))])
    assert store.delete_source("s3://photos/a.jpg") == 1
    assert store.delete_source("s3://photos/it's.jpg") == 1
    assert uris(store.search(Space.VISION, unit(0), k=10)) == ["s3://photos/a.jpg.xmp"]


def test_count_per_space_and_per_source(store: VectorStore) -> None:
    store.upsert(
        [
            doc("a.mp4", unit(0), item=0, modality="video"),
            doc("a.mp4", unit(1), item=1, modality="video"),
            doc("a.mp4", [0.0, 1.0, 0.0], item=2, space=Space.TEXT, modality="video"),
            doc("b.jpg", unit(2)),
        ]
    )
    assert store.count() == 4
    assert store.count(Space.VISION) == 3
    assert store.count(Space.TEXT) == 1
    assert store.count(source="s3://photos/a.mp4") == 3
    assert store.count(Space.VISION, source="s3://photos/a.mp4") == 2
    assert store.count(Space.TEXT, source="s3://photos/b.jpg") == 0
    assert store.count(source="s3://photos/missing.jpg") == 0


# ---------------------------------------------------------------- several writers on one host

WRITER = """
import sys, time
from pathlib import Path
from tests.shared.stores.test_contract import doc, unit, TEXT_DIM
from shared.documents import Space
from shared.stores.embedded import EmbeddedStore

base, number, rounds = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
(base / f"ready-{number}").touch()
for round in range(rounds):  # each round a fresh home, all writers starting at once
    while not (base / f"go-{round}").exists():
        time.sleep(0.001)
    store = EmbeddedStore(base / f"store-{round}")
    store.upsert([doc(f"w{number}.txt", unit(number % TEXT_DIM, TEXT_DIM), space=Space.TEXT, modality="text")])
    store.upsert([doc(f"w{number}.jpg", unit(number % 4))])
    (base / f"done-{round}-{number}").touch()
"""


def test_processes_writing_to_a_fresh_embedded_store_at_once_all_land(tmp_path: Path) -> None:
    """Worker processes on one host share a fresh LanceDB home: each creates the tables it needs as it writes,
    and none may miss a table another is creating (`Table 'items_text' was not found`)."""
    import subprocess
    import sys

    writers, rounds = 8, 4
    root = Path(__file__).parents[3]
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path), str(n), str(rounds)],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for n in range(writers)
    ]
    for round in range(-1, rounds):  # wait until every writer is ready (or finished the round before), then go
        deadline = time.monotonic() + 120
        while any(
            not (tmp_path / (f"ready-{n}" if round < 0 else f"done-{round}-{n}")).exists()
            and processes[n].poll() is None
            for n in range(writers)
        ):
            assert time.monotonic() < deadline, "writers stuck"
            time.sleep(0.01)
        if round + 1 < rounds:
            (tmp_path / f"go-{round + 1}").touch()
    outputs = [process.communicate(timeout=120)[0] for process in processes]

    assert [process.returncode for process in processes] == [0] * writers, "\n".join(outputs)[-3000:]
    for round in range(rounds):
        store = EmbeddedStore(tmp_path / f"store-{round}")
        assert store.count(Space.TEXT) == writers
        assert store.count(Space.VISION) == writers
