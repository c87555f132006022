"""Words in a video's frames (workers/decoders.py `decode_video` with MMINDEX_MODELS__OCR=rapidocr): a slideshow is
found by a slide's title at that slide's time span, each slide held over several frames is one text segment, a
video without words adds none, and with OCR off, or failing, the video is indexed as before."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from shared.documents import Item, Space
from shared.media.frame_words import NUMBERS
from shared.runtime import get_runtime, reset_runtime
from shared.search import Query
from tests.support.media import photo, slide, slideshow
from workers.query import search

SECONDS_EACH = 4.0
SLIDES = [
    ("Quarterly Harvest Report", ["Apples up twelve percent", "Pears held steady"]),
    ("Irrigation Schedule", ["Monday: the north field", "Thursday: the orchard rows"]),
    ("Questions and Answers", ["Thank you for listening"]),
]


def library(folder: Path, work: Path) -> Path:
    """A talk of three slides held 4 s each, and a video of photos without words."""
    slides = [slide(work / f"slide-{n}.jpg", title, lines) for n, (title, lines) in enumerate(SLIDES)]
    slideshow(slides, SECONDS_EACH, folder / "talk.mp4", size="640x360")
    photos = [photo(work / f"photo-{seed}.jpg", seed=seed) for seed in (1, 2)]
    slideshow(photos, 2.0, folder / "holiday.mp4", size="640x360")
    return folder


def frame_words() -> list[Item]:
    """The text-space items made of words in frames (those numbered from `NUMBERS`)."""
    return [item for item in get_runtime().store.items(Space.TEXT) if item.item >= NUMBERS]


@pytest.fixture
def ocr_on(monkeypatch: pytest.MonkeyPatch, embedded: None) -> None:
    monkeypatch.setenv("MMINDEX_MODELS__OCR", "rapidocr")
    reset_runtime()


@pytest.mark.usefixtures("ocr_on")
def test_a_talk_is_found_by_a_slides_title_at_that_slides_time_and_each_slide_is_one_segment(
    ingested: Callable[..., list[str]], tmp_path: Path
) -> None:
    folder = library(tmp_path / "media", tmp_path / "work")
    ingested(folder)

    hits: list[dict[str, object]] = search.apply(args=(Query(text="irrigation schedule", k=3).to_message(),)).get()

    best = hits[0]
    assert (Path(str(best["uri"])).name, best["modality"]) == ("talk.mp4", "video"), hits
    start_s, end_s = float(str(best["start_s"])), float(str(best["end_s"]))
    assert abs(start_s - SECONDS_EACH) <= 1.0 and abs(end_s - 2 * SECONDS_EACH) <= 1.0, best  # within a frame
    assert best["thumbnail"] and "Irrigation Schedule" in str(best["text"])
    segments = sorted(frame_words(), key=lambda item: item.start_s or 0.0)
    assert [Path(item.uri).name for item in segments] == ["talk.mp4"] * len(SLIDES)  # none from the photos
    for (title, _), segment, number in zip(SLIDES, segments, range(len(SLIDES)), strict=True):
        assert title in str(segment.text)
        assert abs((segment.start_s or 0.0) - number * SECONDS_EACH) <= 1.0
        assert (segment.end_s or 0.0) - (segment.start_s or 0.0) >= SECONDS_EACH - 1.0  # its frames as one


@pytest.mark.usefixtures("embedded")
def test_with_ocr_off_a_talk_is_its_frames_only(ingested: Callable[..., list[str]], tmp_path: Path) -> None:
    folder = library(tmp_path / "media", tmp_path / "work")
    ingested(folder)

    assert frame_words() == []
    assert get_runtime().store.count(Space.VISION) == 3 * 4 + 2 * 2  # a frame a second


def test_a_read_that_fails_costs_only_the_words_and_is_logged_once_a_video(
    ingested: Callable[..., list[str]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    embedded: None,
) -> None:
    monkeypatch.setenv("MMINDEX_MODELS__OCR", "rapidocr")
    monkeypatch.setenv("MMINDEX_MODELS__OCR_TIMEOUT_S", "0.001")
    reset_runtime()
    folder = library(tmp_path / "media", tmp_path / "work")

    assert sorted(Path(uri).name for uri in ingested(folder)) == ["holiday.mp4", "talk.mp4"]

    assert frame_words() == []
    assert get_runtime().store.count(Space.VISION) == 3 * 4 + 2 * 2
    told = [record.getMessage() for record in caplog.records if "cannot be read" in record.getMessage()]
    assert sorted(Path(message.partition(":")[0]).name for message in told) == ["holiday.mp4", "talk.mp4"], told
    assert all("MMINDEX_MODELS__OCR_TIMEOUT_S" in message for message in told)
