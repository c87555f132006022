"""shared/models/ocr.py: the words in a picture read in reading order by PP-OCRv4 (the real models of the
rapidocr-onnxruntime wheel); a picture without text reads nothing; a read past its time limit fails in one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from shared.config import Settings
from shared.errors import PermanentError
from shared.models.ocr import Line, RapidOcrReader, SpacedDecoder, in_reading_order, reader_for, spaced, words
from tests.support.media import photo, receipt

LINES = ["BRIGHTMART", "Harbour Road 7", "Oat milk 1.85", "Rye bread 2.40", "Lentils 3.10", "Card payment"]


@pytest.fixture(scope="module")
def reader() -> RapidOcrReader:
    found = reader_for(Settings(models={"ocr": "rapidocr", "threads": 1}))
    assert isinstance(found, RapidOcrReader)
    return found


def test_a_receipt_is_read_line_by_line_top_to_bottom(reader: RapidOcrReader, tmp_path: Path) -> None:
    with Image.open(receipt(tmp_path / "receipt.jpg", LINES)) as image:
        lines = reader.read(image)

    assert [line.text for line in lines] == LINES
    assert all(line.score >= 0.6 for line in lines)
    assert lines[0].box[1] < lines[-1].box[1]


def test_words_the_recogniser_runs_together_get_their_space_back(reader: RapidOcrReader) -> None:
    # Without the spaces the recogniser nearly saw, this sign reads KELVORINBAKERY, Plumtart3.80 and Ryeloaf 4.25.
    with Image.open(Path(__file__).parents[3] / "examples" / "images" / "bakery-sign.jpg") as image:
        assert [line.text for line in reader.read(image)] == ["KELVORIN BAKERY", "Plum tart 3.80", "Rye loaf 4.25"]


def test_the_decoder_puts_a_space_where_the_recogniser_nearly_saw_one() -> None:
    characters = ["blank", "a", "b", "c", " "]
    blank, a, b, c = (np.eye(5)[index] for index in range(4))
    almost_space = np.array([0.85, 0.0, 0.0, 0.0, 0.15])  # the blank wins, the space was likely
    unlikely_space = np.array([0.98, 0.0, 0.0, 0.0, 0.02])
    columns = [a, a, blank, almost_space, blank, b, unlikely_space, c]  # "a" held over two columns is one
    ((text, score),) = SpacedDecoder(characters)(np.array([columns]))
    assert text == "a bc"
    assert score == pytest.approx(1.0)


def test_a_photo_without_text_reads_nothing(reader: RapidOcrReader, tmp_path: Path) -> None:
    with Image.open(photo(tmp_path / "photo.jpg", seed=3)) as image:
        assert reader.read(image) == []


def test_a_read_past_its_time_limit_fails_in_one_line(tmp_path: Path) -> None:
    slow = RapidOcrReader.load(Settings(models={"ocr": "rapidocr", "ocr_timeout_s": 0.001, "threads": 1}))

    with Image.open(receipt(tmp_path / "receipt.jpg", LINES)) as image, pytest.raises(PermanentError) as failed:
        slow.read(image)

    assert "\n" not in str(failed.value) and "MMINDEX_MODELS__OCR_TIMEOUT_S" in str(failed.value)


def test_boxes_on_one_row_read_left_to_right_and_rows_top_to_bottom() -> None:
    total = Line("TOTAL", 0.9, (10, 100, 80, 120))
    amount = Line("7.35", 0.9, (200, 102, 260, 121))
    shop = Line("BRIGHTMART", 0.9, (10, 10, 200, 40))

    assert words(in_reading_order([amount, total, shop])) == "BRIGHTMART\nTOTAL\n7.35"


def test_ocr_none_reads_nothing_and_loads_nothing() -> None:
    assert reader_for(Settings(models={"ocr": "none"})) is None


def test_lines_tilted_by_ten_degrees_keep_their_order() -> None:
    # Text tilted up to the right: the long second line's upright box reaches as high as the short first line's,
    # so ordering by boxes would take them for one row (and read the second first, its box starting further left).
    shop = Line("BRIGHTMART", 0.9, (5, 82, 105, 118), left=(5, 100), height=36)
    price = Line(
        "Rye bread 2.40 and a long list of what else was bought", 0.9, (0, 36, 600, 178), left=(0, 160), height=36
    )

    assert [line.text for line in in_reading_order([price, shop])] == [shop.text, price.text]


def test_a_price_run_into_the_word_before_it_gets_its_space_back() -> None:
    assert spaced("TOTAL7.35") == "TOTAL 7.35"
    assert spaced("Plumtart3.80") == "Plumtart 3.80"
    assert [spaced(text) for text in ("A4 paper", "MP3", "COVID19", "v2.1")] == ["A4 paper", "MP3", "COVID19", "v2.1"]
