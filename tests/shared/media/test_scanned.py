"""Scanned PDFs (shared/media/scanned.py through shared/media/text.py `chunks` and `chunks_in_child`): with OCR on,
a page without a text layer is rendered and read, its words chunked with its page number, in page order with the
text pages; a page that cannot be read costs only itself; with OCR off a scanned PDF fails as it always did."""

from __future__ import annotations

import io
import logging
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter

from shared.errors import UnsupportedMedia
from shared.media.scanned import OcrOptions, paragraphs
from shared.media.text import Chunk, chunks
from shared.media.text_child import chunks_in_child
from shared.models.ocr import Line
from tests.shared.media.test_text import blank_pdf, pdf_document, written_by_pypdf
from tests.support.media import scan, scanned_pdf

OCR = OcrOptions("rapidocr", max_side=800, timeout_s=30)
"""Pages are drawn 800 pt wide, so they are read at the size they were drawn at (one pixel a point)."""
OTTERS = "The otters swim in the river at dawn."
FISH = "They eat fish and crabs all day long."
HERONS = "Page two is about herons in the reeds."
SLIVER = "the page is a sliver (800 × 2 pt), too thin to read"


def squeezed(text: str) -> str:
    """The text without spaces or case: OCR reads the words, not always the spaces between them."""
    return "".join(text.split()).lower()


def test_a_scanned_pdf_is_read_page_by_page_when_ocr_is_on(tmp_path: Path) -> None:
    path = scanned_pdf(tmp_path / "scan.pdf", scan(OTTERS, FISH), scan(HERONS))

    found = list(chunks(path, chunk_chars=50, overlap_chars=0, ocr=OCR))

    assert [(chunk.page, squeezed(chunk.text)) for chunk in found] == [
        (1, squeezed(OTTERS)),
        (1, squeezed(FISH)),
        (2, squeezed(HERONS)),
    ]


def test_a_scanned_pdf_is_read_in_the_child_process_too(tmp_path: Path) -> None:
    path = scanned_pdf(tmp_path / "scan.pdf", scan(OTTERS), scan(HERONS))

    found = list(chunks_in_child(path, chunk_chars=50, overlap_chars=0, timeout_s=60, ocr=OCR))

    assert [(chunk.index, chunk.page, squeezed(chunk.text)) for chunk in found] == [
        (0, 1, squeezed(OTTERS)),
        (1, 2, squeezed(HERONS)),
    ]


def test_lines_far_apart_are_paragraphs_and_lines_close_together_one() -> None:
    lines = [
        Line("The otters swim", 0.9, (50, 60, 300, 90)),
        Line("at dawn.", 0.9, (50, 96, 150, 126)),  # the next line
        Line("Herons wait.", 0.9, (50, 186, 200, 216)),  # two lines' gap above
        Line("In the reeds.", 0.9, (220, 188, 380, 214)),  # on the same line
    ]

    assert paragraphs(lines) == "The otters swim\nat dawn.\n\nHerons wait.\nIn the reeds."


def test_text_pages_and_scanned_pages_come_in_page_order(tmp_path: Path) -> None:
    typed = "This page was typed and has a text layer about kingfishers."
    writer = PdfWriter()
    for page in PdfReader(scanned_pdf(tmp_path / "scan.pdf", scan(HERONS))).pages:
        writer.add_page(page)
    for page in PdfReader(io.BytesIO(pdf_document(typed))).pages:
        writer.add_page(page)
    path = tmp_path / "mixed.pdf"
    path.write_bytes(written_by_pypdf(writer))

    found = list(chunks(path, chunk_chars=40, overlap_chars=0, ocr=OCR))

    assert (found[0].page, squeezed(found[0].text)) == (1, squeezed(HERONS))
    assert [chunk.page for chunk in found[1:]] == [2, 2]
    assert " ".join(chunk.text for chunk in found[1:]) == typed


def test_a_page_that_cannot_be_read_costs_only_that_page(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    writer = PdfWriter(clone_from=scanned_pdf(tmp_path / "scan.pdf", scan(OTTERS)))
    writer.add_blank_page(width=800, height=2)  # a sliver: too thin to render into anything OCR can read
    path = tmp_path / "sliver.pdf"
    path.write_bytes(written_by_pypdf(writer))

    with caplog.at_level(logging.WARNING, logger="shared.media.scanned"):
        found = list(chunks(path, chunk_chars=1000, overlap_chars=0, ocr=OCR))

    assert [(chunk.page, squeezed(chunk.text)) for chunk in found] == [(1, squeezed(OTTERS))]
    assert [record.getMessage() for record in caplog.records] == [
        f"OCR of page 2 of sliver.pdf failed, its words are left out: {SLIVER}"
    ]


def test_a_page_the_child_cannot_read_is_logged_by_the_parent(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    writer = PdfWriter(clone_from=io.BytesIO(pdf_document("A typed page about the migration of eels to the sea.")))
    writer.add_blank_page(width=800, height=2)
    path = tmp_path / "sliver.pdf"
    path.write_bytes(written_by_pypdf(writer))

    with caplog.at_level(logging.WARNING, logger="shared.media.text_child"):
        found = list(chunks_in_child(path, chunk_chars=1000, overlap_chars=0, timeout_s=60, ocr=OCR))

    assert found == [Chunk(0, "A typed page about the migration of eels to the sea.", 1)]
    assert [record.getMessage() for record in caplog.records] == [
        f"OCR of page 2 of sliver.pdf failed, its words are left out: {SLIVER}"
    ]


def test_a_pdf_where_ocr_finds_no_words_fails_saying_so(tmp_path: Path) -> None:
    path = tmp_path / "blank.pdf"
    path.write_bytes(blank_pdf())

    with pytest.raises(UnsupportedMedia) as raised:
        list(chunks(path, chunk_chars=1000, overlap_chars=0, ocr=OCR))

    assert str(raised.value) == "PDF has no text layer, and OCR found no words on its 1 scanned page"


def test_a_pdf_whose_pages_cannot_be_read_fails_saying_why(tmp_path: Path) -> None:
    writer = PdfWriter()
    writer.add_blank_page(width=800, height=2)
    path = tmp_path / "sliver.pdf"
    path.write_bytes(written_by_pypdf(writer))

    with pytest.raises(UnsupportedMedia) as raised:
        list(chunks_in_child(path, chunk_chars=1000, overlap_chars=0, timeout_s=60, ocr=OCR))

    assert str(raised.value) == (
        f"PDF has no text layer, and OCR found no words on its 1 scanned page (1 could not be read; page 1: {SLIVER})"
    )


def test_with_ocr_off_a_scanned_pdf_fails_as_before(tmp_path: Path) -> None:
    path = scanned_pdf(tmp_path / "scan.pdf", scan(OTTERS))

    for found in (
        chunks(path, chunk_chars=1000, overlap_chars=0),
        chunks_in_child(path, chunk_chars=1000, overlap_chars=0, timeout_s=60),
    ):
        with pytest.raises(UnsupportedMedia) as raised:
            list(found)
        assert str(raised.value) == "PDF has no text layer (scanned pages?); OCR is not supported"
