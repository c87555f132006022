"""shared/media/frame_words.py: the same words over consecutive frames are one segment (up to case, spacing and
OCR jitter), numbered apart from speech; a frame nearly identical to the last one looked at is not looked at again,
only frames that seem to show text are read, and a frame that cannot be read costs only its words."""

from __future__ import annotations

import io
import logging

import numpy as np
import pytest
from PIL import Image, ImageDraw

from shared.errors import CorruptMedia
from shared.media.frame_words import NUMBERS, FrameReader, Sampled, Segment, frame_words, merged, same_text
from shared.models.ocr import Line


def jpeg(*, text: bool, shade: int = 250) -> bytes:
    """A small frame: a plain background, with a dark bar where a line of words would be when `text`."""
    image = Image.new("RGB", (455, 256), (shade, shade, shade))
    if text:
        ImageDraw.Draw(image).rectangle((40, 40, 400, 70), fill=(10, 10, 10))
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def frames(*shown: bytes) -> list[Sampled]:
    """Frames a second apart, each with its thumbnail named by its time."""
    return [
        Sampled(float(second), second + 1.0, f"thumbs/{second * 1000}.jpg", pixels)
        for second, pixels in enumerate(shown)
    ]


class Scripted:
    """A reader whose cheap pass finds text where a frame has dark pixels, and whose reading gives the words
    scripted for the time of the larger frame it was last given (`larger`), or fails there."""

    name = "scripted"

    def __init__(self, words: dict[float, list[str]], failing: frozenset[float] = frozenset()) -> None:
        self.words = words
        self.failing = failing
        self.passes = 0
        self.asked: list[float] = []

    def larger(self, time_s: float) -> bytes:
        self.asked.append(time_s)
        if time_s in self.failing:
            raise CorruptMedia(f"no frame at {time_s:g} s")
        return jpeg(text=True)

    def shows_text(self, image: Image.Image) -> bool:
        self.passes += 1
        return bool(np.asarray(image.convert("L")).min() < 100)

    def read(self, image: Image.Image, *, checked: bool = False) -> list[Line]:
        assert checked and image.size == (455, 256)
        return [Line(text, 0.9, (0.0, 0.0, 1.0, 1.0)) for text in self.words[self.asked[-1]]]


def reading(words: list[list[str]]) -> list[Segment]:
    return merged(zip(frames(*[jpeg(text=bool(lines)) for lines in words]), words, strict=True))


def test_the_same_words_are_the_same_up_to_case_spacing_and_jitter() -> None:
    assert same_text(
        ["Irrigation Schedule", "Monday: the north field"], ["IRRIGATION  schedule\nMonday: the north field"]
    )
    assert same_text(
        ["Irrigation Schedule", "Monday: the north field"], ["lrrigation Schedule", "Monday: the nort field"]
    )
    assert not same_text(["Irrigation Schedule"], ["Harvest Report"])
    assert not same_text(["Agenda", "1. Budget"], ["Agenda", "1. Budget", "2. Hiring", "3. Office move"])
    assert same_text([], []) and not same_text([], ["Agenda"])


def test_consecutive_frames_with_the_same_words_are_one_segment_from_the_first_start_to_the_last_end() -> None:
    title, other = ["Irrigation Schedule"], ["Quarterly Harvest Report"]

    segments = reading([title, ["IRRIGATION schedule"], ["lrrigation Schedule"], other, other])

    assert [(s.lines, s.start_s, s.end_s, s.thumbnail, s.frames) for s in segments] == [
        (title, 0.0, 3.0, "thumbs/0.jpg", 3),
        (other, 3.0, 5.0, "thumbs/3000.jpg", 2),
    ]


def test_a_frame_without_words_ends_a_segment_and_words_shown_again_are_a_segment_of_their_own() -> None:
    title = ["Irrigation Schedule"]

    segments = reading([[], title, [], title, title])

    assert [(s.start_s, s.end_s) for s in segments] == [(1.0, 2.0), (3.0, 5.0)]
    assert reading([[], []]) == []


def test_segments_are_numbered_by_their_start_apart_from_speech() -> None:
    segment = Segment(["Irrigation Schedule"], 4.0, 8.0, "thumbs/4000.jpg")

    assert segment.number == NUMBERS + 4000 == Segment(["other words"], 4.0, 5.0, "t").number  # the time alone
    assert segment.number > 6 * 3600 * 1000  # past any speech segment's number (its start in ms)
    assert NUMBERS + 318 * 3600 * 1000 < 2**31  # and within the store's int32


def test_only_frames_that_change_are_looked_at_and_only_those_showing_text_are_read() -> None:
    script = Scripted({1.0: ["Irrigation Schedule"], 4.0: ["Harvest Report"]})
    reader = FrameReader(script, script.larger)
    blank, slide, other = jpeg(text=False), jpeg(text=True), jpeg(text=True, shade=200)

    segments = frame_words(frames(blank, slide, slide, slide, other, other, blank), reader, "talk.mp4")

    assert [(s.lines, s.start_s, s.end_s) for s in segments] == [
        (["Irrigation Schedule"], 1.0, 4.0),
        (["Harvest Report"], 4.0, 6.0),
    ]
    assert script.asked == [1.0, 4.0]  # read: the first frame of each slide
    assert script.passes == 4  # the cheap pass: frames 0, 1, 4 and 6; the others are nearly identical
    assert (reader.tally.read, reader.tally.passed, reader.tally.reused, reader.tally.failed) == (2, 2, 3, 0)


def test_a_frame_that_cannot_be_read_costs_only_its_words_and_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    script = Scripted({3.0: ["Harvest Report"]}, failing=frozenset({0.0, 2.0}))
    reader = FrameReader(script, script.larger)
    one, two, three = (jpeg(text=True, shade=shade) for shade in (250, 200, 150))

    with caplog.at_level(logging.WARNING):
        segments = frame_words(frames(one, one, two, three, b"no jpeg"), reader, "talk.mp4")

    assert [(s.lines, s.start_s) for s in segments] == [(["Harvest Report"], 3.0)]
    assert reader.tally.failed == 3  # two reads and a frame that is no picture
    [told] = [record.getMessage() for record in caplog.records]
    assert told.startswith("talk.mp4: the words of 3 of its 5 frames cannot be read") and "no frame at 0 s" in told


def test_past_the_budget_the_remaining_frames_are_not_looked_at(caplog: pytest.LogCaptureFixture) -> None:
    script = Scripted({})
    reader = FrameReader(script, script.larger, budget_s=0.0)

    with caplog.at_level(logging.WARNING):
        assert frame_words(frames(jpeg(text=True), jpeg(text=False)), reader, "talk.mp4") == []

    assert script.passes == 0 and reader.tally.unlooked == 2
    assert "the last 2 of its 2 frames are indexed without theirs" in caplog.text
