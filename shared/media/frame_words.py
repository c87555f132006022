"""Words in a video's frames: the sampled frames read by OCR, and the same words over consecutive frames (a slide
held for 40 s) made one time-coded segment, which a search for the slide's title finds with the slide's time span.

Cheap by construction (`FrameReader`): a frame nearly identical to the last one looked at (`Fingerprint`: a small
grayscale copy) takes its words without a look; any other gets the cheap detection pass on the small sampled frame;
only a frame that seems to show text is extracted again near full size and read. Words are "the same" when their
normalised forms (case and spacing ignored) are at least `SAME_TEXT` alike, so OCR jitter does not split a slide.

Segments are merged within one window of a long video (each window is decoded by a task of its own): a slide held
across a window's edge gives one segment in each window, each numbered by its own start (`number`).
"""

from __future__ import annotations

import io
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from difflib import SequenceMatcher

import numpy as np
from PIL import Image

from shared.documents import Item
from shared.errors import CorruptMedia, MmindexError, one_line
from shared.models.ocr import Reader

log = logging.getLogger(__name__)

NUMBERS = 1_000_000_000
"""Added to a segment's start in milliseconds to number its text-space items. Speech segments share the text
space and are numbered by their start in milliseconds, below this for any video shorter than 277 h, so the two never
share a document id; the number depends on the time alone, so a redelivered window numbers its segments the same.
(The embedded store keeps numbers as int32: room for segments starting up to 318 h in.)"""
SAME_TEXT = 0.9
"""Normalised words at least this alike (difflib's ratio) are one slide's words read twice."""
FINGERPRINT_PX = 64
"""The side of the grayscale copy frames are compared by."""
CHANGED_LEVELS = 24
"""A fingerprint pixel differing by more than this (of 255) has changed."""
CHANGED_SHARE = 0.002
"""A frame with no more than this share of its fingerprint's pixels changed is nearly identical to the one compared
(video noise changes none; a line of words appearing on a slide changes more)."""
BUDGET_S = 60.0
"""Seconds one window's frames may spend on OCR in all; past them, the window's remaining frames are not looked at
(their pictures and the speech are indexed all the same), so reading words never makes a decode task overrun."""


@dataclass(frozen=True)
class Sampled:
    """One sampled frame: when it is shown, its thumbnail's address and its small JPEG (the thumbnail's pixels)."""

    start_s: float
    end_s: float
    thumbnail: str
    jpeg: bytes

    @classmethod
    def of(cls, frame: Item, jpeg: bytes) -> Sampled:
        """A frame's vision-space item (its times and thumbnail) and its small JPEG."""
        return cls(frame.start_s or 0.0, frame.end_s or 0.0, frame.thumbnail or "", jpeg)


@dataclass
class Segment:
    """The same words over consecutive frames: those of its first frame, and that frame's thumbnail."""

    lines: list[str]
    start_s: float
    end_s: float
    thumbnail: str
    frames: int = 1

    @property
    def number(self) -> int:
        """Its first item's number: `NUMBERS` + its start in milliseconds."""
        return NUMBERS + round(self.start_s * 1000)


def normalised(lines: Iterable[str]) -> str:
    """The words, case-folded, with every run of spaces and line breaks made one space."""
    return " ".join(" ".join(lines).casefold().split())


def same_text(first: list[str], second: list[str]) -> bool:
    """Whether two readings are the same words, up to case, spacing and OCR jitter."""
    a, b = normalised(first), normalised(second)
    if not a or not b:
        return a == b
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    return matcher.quick_ratio() >= SAME_TEXT and matcher.ratio() >= SAME_TEXT


def merged(readings: Iterable[tuple[Sampled, list[str]]]) -> list[Segment]:
    """Consecutive frames with the same words as one segment from the first one's start to the last one's end; a
    frame without words ends a segment and starts none."""
    segments: list[Segment] = []
    open_: Segment | None = None
    for frame, lines in readings:
        if not lines:
            open_ = None
        elif open_ is not None and same_text(open_.lines, lines):
            open_.end_s = frame.end_s
            open_.frames += 1
        else:
            open_ = Segment(list(lines), frame.start_s, frame.end_s, frame.thumbnail)
            segments.append(open_)
    return segments


class Fingerprint:
    """A frame's small grayscale copy, to tell a frame nearly identical to another."""

    def __init__(self, image: Image.Image) -> None:
        small = image.convert("L").resize((FINGERPRINT_PX, FINGERPRINT_PX), Image.Resampling.BOX)
        self.pixels = np.asarray(small, dtype=np.int16)

    def near(self, other: Fingerprint) -> bool:
        changed = np.count_nonzero(np.abs(self.pixels - other.pixels) > CHANGED_LEVELS)
        return bool(changed <= CHANGED_SHARE * self.pixels.size)


@dataclass
class Tally:
    """What reading a window's frames cost: frames reused (nearly identical to the last looked at), passed (the
    cheap pass found no text), read, failed, and left unlooked once the budget was spent; seconds spent."""

    reused: int = 0
    passed: int = 0
    read: int = 0
    failed: int = 0
    unlooked: int = 0
    spent_s: float = 0.0
    reason: str | None = None
    """Why the first frame that failed failed."""

    def failure(self, reason: str) -> None:
        self.failed += 1
        self.reason = self.reason or reason


class FrameReader:
    """Reads the words of a window's frames one after the other, cheaply (see the module). `larger(time_s)` gives
    the frame shown at that time near full size as a JPEG (e.g. `ffmpeg.still`), for reading."""

    def __init__(self, reader: Reader, larger: Callable[[float], bytes], budget_s: float = BUDGET_S) -> None:
        self.reader = reader
        self.larger = larger
        self.budget_s = budget_s
        self.tally = Tally()
        self._last: tuple[Fingerprint, list[str]] | None = None

    def lines(self, frame: Sampled) -> list[str]:
        """The lines of words the frame shows; none when it shows none, or when they cannot be read (the reason is
        kept in `tally`)."""
        tally = self.tally
        if tally.spent_s >= self.budget_s:
            tally.unlooked += 1
            return []
        started = time.monotonic()
        try:
            return self._lines(frame)
        finally:
            tally.spent_s += time.monotonic() - started

    def _lines(self, frame: Sampled) -> list[str]:
        tally = self.tally
        try:
            small = _decoded(frame.jpeg)
        except MmindexError as error:
            tally.failure(one_line(error))
            return []
        fingerprint = Fingerprint(small)
        if self._last is not None and fingerprint.near(self._last[0]):
            tally.reused += 1
            return self._last[1]
        lines: list[str] = []
        try:
            if self.reader.shows_text(small):
                lines = [line.text for line in self.reader.read(_decoded(self.larger(frame.start_s)), checked=True)]
                tally.read += 1
            else:
                tally.passed += 1
        except MmindexError as error:
            tally.failure(one_line(error))
        self._last = (fingerprint, lines)
        return lines


def _decoded(jpeg: bytes) -> Image.Image:
    """A frame's JPEG (from ffmpeg) as an RGB image."""
    try:
        with Image.open(io.BytesIO(jpeg)) as opened:
            return opened.convert("RGB")
    except OSError as error:
        raise CorruptMedia(f"a frame from ffmpeg cannot be decoded: {error}") from None


def frame_words(frames: list[Sampled], reader: FrameReader, what: str) -> list[Segment]:
    """The segments of words in `frames` (one window's, in order); what could not be read is logged once, as
    "`what`: ...", and costs only those frames' words."""
    segments = merged((frame, reader.lines(frame)) for frame in frames)
    tally = reader.tally
    if tally.failed:
        log.warning(
            "%s: the words of %d of its %d frames cannot be read (nor tried again on frames nearly identical), and"
            " those frames are indexed without them: %s",
            what,
            tally.failed,
            len(frames),
            tally.reason,
        )
    if tally.unlooked:
        log.warning(
            "%s: reading words took over %g s, so the last %d of its %d frames are indexed without theirs",
            what,
            reader.budget_s,
            tally.unlooked,
            len(frames),
        )
    log.debug(
        "%s: %d frames, %d reused, %d without text, %d read, %d failed, %.2f s: %d segments",
        what,
        len(frames),
        tally.reused,
        tally.passed,
        tally.read,
        tally.failed,
        tally.spent_s,
        len(segments),
    )
    return segments
