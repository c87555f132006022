"""Words in pictures (workers/decoders.py `decode_image` with MMINDEX_MODELS__OCR=rapidocr): a photographed
receipt is found by its shop's name and by an item and its price, and the hit shows the picture; a photo without
text adds no words; OCR turned off, or failing, leaves the picture indexed as before, and a corrupt picture still
fails with its reason. A scanned PDF (no text layer) is found by a sentence on one of its pages, and the hit names
the page."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from shared.documents import Space
from shared.runtime import get_runtime, reset_runtime
from shared.search import Query
from tests.shared.media.test_scanned import FISH, OTTERS, scan, scanned_pdf
from tests.support.media import photo, receipt
from workers.query import search

LINES = [
    "BRIGHTMART",
    "Harbour Road 7",
    "Oat milk 1.85",
    "Rye bread 2.40",
    "Lentils 3.10",
    "TOTAL 7.35",
    "Card payment",
]


def library(folder: Path) -> Path:
    receipt(folder / "receipt.jpg", LINES)
    for seed in (1, 2, 3):
        photo(folder / f"photo-{seed}.jpg", seed=seed)
    (folder / "notes.txt").write_text("Lentil soup wants an onion, two carrots and a bay leaf.")
    return folder


def found(text: str, mode: str = "hybrid") -> list[dict[str, object]]:
    hits: list[dict[str, object]] = search.apply(args=(Query(text=text, k=3, mode=mode).to_message(),)).get()
    return hits


@pytest.fixture
def ocr_on(monkeypatch: pytest.MonkeyPatch, embedded: None) -> None:
    monkeypatch.setenv("MMINDEX_MODELS__OCR", "rapidocr")
    reset_runtime()


@pytest.mark.usefixtures("ocr_on")
def test_a_receipt_is_found_by_its_shop_its_total_and_a_price_and_the_hit_shows_the_picture(
    ingested: Callable[..., list[str]], tmp_path: Path
) -> None:
    folder = library(tmp_path / "library")
    ingested(folder)

    by_shop = found("Brightmart", mode="lexical")
    by_total = found("total 7.35")
    by_price = found("rye bread 2.40")

    for hits in (by_shop, by_total, by_price):
        assert Path(str(hits[0]["uri"])).name == "receipt.jpg", hits
        assert hits[0]["modality"] == "image" and hits[0]["thumbnail"]
        assert "Rye bread 2.40" in str(hits[0]["text"]) and "TOTAL 7.35" in str(hits[0]["text"])
    store = get_runtime().store
    pictures_read = [hit for hit, _ in store.scan(Space.TEXT) if Path(hit.uri).suffix == ".jpg"]
    assert [Path(hit.uri).name for hit in pictures_read] == ["receipt.jpg"]  # the photos add no words


@pytest.mark.usefixtures("embedded")
def test_with_ocr_off_a_receipt_is_a_picture_only(ingested: Callable[..., list[str]], tmp_path: Path) -> None:
    folder = library(tmp_path / "library")
    ingested(folder)

    assert [Path(hit.uri).name for hit, _ in get_runtime().store.scan(Space.TEXT)] == ["notes.txt"]
    assert get_runtime().store.count(Space.VISION) == 4


def test_a_read_that_fails_costs_only_the_words_and_a_corrupt_picture_still_fails_with_its_reason(
    ingested: Callable[..., list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embedded: None
) -> None:
    monkeypatch.setenv("MMINDEX_MODELS__OCR", "rapidocr")
    monkeypatch.setenv("MMINDEX_MODELS__OCR_TIMEOUT_S", "0.001")
    reset_runtime()
    folder = library(tmp_path / "library")
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 this is no JPEG")

    indexed = ingested(folder, failed=1)

    assert sorted(Path(uri).name for uri in indexed) == [
        "notes.txt",
        "photo-1.jpg",
        "photo-2.jpg",
        "photo-3.jpg",
        "receipt.jpg",
    ]
    assert [Path(hit.uri).name for hit, _ in get_runtime().store.scan(Space.TEXT)] == ["notes.txt"]
    [broken] = [record for record in get_runtime().ledger.failures() if record.uri.endswith("broken.jpg")]
    assert broken.error and "image" in broken.error and "\n" not in broken.error


@pytest.mark.usefixtures("ocr_on")
def test_a_scanned_pdf_is_found_by_a_sentence_on_its_second_page(
    ingested: Callable[..., list[str]], tmp_path: Path
) -> None:
    folder = tmp_path / "scans"
    folder.mkdir()
    scanned_pdf(folder / "otters.pdf", scan(OTTERS, FISH), scan("Herons wait in the reeds for frogs."))
    (folder / "notes.txt").write_text("Lentil soup wants an onion, two carrots and a bay leaf.")
    ingested(folder)

    hits = found("herons waiting for frogs among reeds")

    assert Path(str(hits[0]["uri"])).name == "otters.pdf", hits
    assert hits[0]["modality"] == "text" and "frogs" in str(hits[0]["text"]).lower()
    assert hits[0]["page"] == 2  # the hit says where in the document its words are
    otters = found("otters eat fish")
    assert (Path(str(otters[0]["uri"])).name, otters[0]["page"]) == ("otters.pdf", 1), otters
