"""Words in pictures: OCR behind a seam (MMINDEX_MODELS__OCR), loaded lazily, once per process, like the encoders.

`rapidocr`: PP-OCRv4's detection and recognition models on ONNX Runtime, as the rapidocr-onnxruntime wheel ships
them (so it works offline). A picture is read at a bounded size (MMINDEX_MODELS__OCR_MAX_SIDE on its longer side),
never at the thumbnail's 256 px, where an ordinary slide's or receipt's words run together. A cheap detection pass
on a small copy (`shows_text`, which a thumbnail serves) comes first; only a picture in which it finds a text-like box
is read in full. Lines come back in reading order: top to bottom,
and left to right within a line. `none` turns OCR off.
"""

from __future__ import annotations

import logging
import math
import re
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from threading import Lock
from typing import Any, Protocol

import numpy as np
from PIL import Image

from shared.config import Settings
from shared.errors import ModelUnavailable, PermanentError

log = logging.getLogger(__name__)

SETTING = "MMINDEX_MODELS__OCR"
MIN_SCORE = 0.6
"""A recognised line less certain than this is left out (noise on a photo reads as short garbage)."""
MIN_CHARS = 2
"""A line shorter than this is left out."""
DETECT_SIDE = 320
"""The longer side the cheap first pass detects text at. On the example photos (640×480, no text) it takes about
0.018 s a photo on 2 cores and finds nothing, where detection at the engine's own size (960) takes 0.2-0.4 s and
finds boxes on 2 of 7; a receipt's 28 px lines are found. Words much smaller than 1/50 of the picture are missed."""
TEXT_LIKE = 1.5
"""A detected box is text-like when it is at least this many times wider than high (a line of words)."""


@dataclass(frozen=True)
class Line:
    """One recognised line: its words, how sure the model is (0-1), and its box (left, top, right, bottom) in the
    picture's pixels."""

    text: str
    score: float
    box: tuple[float, float, float, float]
    left: tuple[float, float] | None = None
    """The middle of the line's left edge, and its height along that edge: where a tilted line starts."""
    height: float | None = None

    def anchor(self) -> tuple[float, float, float]:
        """(x, y, height) of where the line starts: its left edge's middle (its box's, for an upright one)."""
        if self.left is not None and self.height:
            return (self.left[0], self.left[1], self.height)
        left, top, _, bottom = self.box
        return (left, (top + bottom) / 2, bottom - top)


class Reader(Protocol):
    name: str

    def shows_text(self, image: Image.Image) -> bool:
        """The cheap pass: whether the picture (at any size, a thumbnail's will do) seems to show a line of text."""
        ...

    def read(self, image: Image.Image, *, checked: bool = False) -> list[Line]:
        """The lines of words in `image`, in reading order; none when it shows no text. `checked`: `shows_text`
        said yes already (it is not asked again)."""
        ...


def in_reading_order(lines: list[Line]) -> list[Line]:
    """Top to bottom by where each line starts (its left edge's middle, so that lines tilted by a few degrees keep
    their order: their upright boxes overlap); lines starting within half a line's height of each other are one
    row, read left to right."""
    rows: list[list[Line]] = []
    for line in sorted(lines, key=lambda line: line.anchor()[1]):
        _, y, _ = line.anchor()
        if rows:
            _, last_y, last_height = rows[-1][-1].anchor()
            if abs(y - last_y) <= last_height / 2:
                rows[-1].append(line)
                continue
        rows.append([line])
    return [line for row in rows for line in sorted(row, key=lambda line: line.anchor()[0])]


def words(lines: list[Line]) -> str:
    """The lines as a text, one a line."""
    return "\n".join(line.text for line in lines)


class RapidOcrReader:
    name = "rapidocr"

    def __init__(self, engine: Any, max_side: int, timeout_s: float) -> None:
        self.engine = engine
        self.max_side = max_side
        self.timeout_s = timeout_s
        self._lock = Lock()  # one picture at a time per engine
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="ocr")

    @classmethod
    def load(cls, settings: Settings) -> RapidOcrReader:
        try:
            from rapidocr_onnxruntime import RapidOCR
        except ImportError:
            raise ModelUnavailable(f"{SETTING}=rapidocr needs the rapidocr-onnxruntime package") from None
        threads = settings.cpu_share()
        models = settings.models
        try:
            engine = RapidOCR(
                det_limit_side_len=models.ocr_max_side,
                det_limit_type="max",
                intra_op_num_threads=threads,
                inter_op_num_threads=1,
                print_verbose=False,
            )
            for holder in (engine.text_det.infer, engine.text_rec.session, engine.text_cls.infer):
                holder.session = _without_spinning(holder.session)
            engine.text_rec.postprocess_op = SpacedDecoder(engine.text_rec.postprocess_op.character)
        except Exception as error:  # a damaged install: the models cannot load
            raise ModelUnavailable(f"cannot load the OCR models ({SETTING}=rapidocr): {error}") from None
        return cls(engine, models.ocr_max_side, models.ocr_timeout_s)

    def shows_text(self, image: Image.Image) -> bool:
        return bool(self._timed(self._detected, image if image.mode == "RGB" else image.convert("RGB")))

    def read(self, image: Image.Image, *, checked: bool = False) -> list[Line]:
        if not checked and not self.shows_text(image):
            return []
        picture = _shrunk(image.convert("RGB"), self.max_side)
        scale = picture.width / image.width
        found = self._timed(self._recognised, np.asarray(picture))
        lines = [
            Line(spaced(text.strip()), float(score), _box(box, scale), *_left_edge(box, scale))
            for box, text, score in found
            if float(score) >= MIN_SCORE and len(text.strip()) >= MIN_CHARS
        ]
        return in_reading_order(lines)

    def _timed(self, work: Any, pixels: Any) -> Any:
        """`work(pixels)` on the engine's thread, within MMINDEX_MODELS__OCR_TIMEOUT_S (one picture at a time)."""
        with self._lock:
            future = self._pool.submit(work, pixels)
            try:
                return future.result(timeout=self.timeout_s)
            except FutureTimeout:
                raise PermanentError(
                    f"reading the words in the picture took over {self.timeout_s:g} s (MMINDEX_MODELS__OCR_TIMEOUT_S)"
                ) from None

    def _detected(self, picture: Image.Image) -> bool:
        """Whether a small copy of the picture shows a text-like box."""
        detector = self.engine.text_det
        pixels = _detector_input(picture, DETECT_SIDE)
        boxes, _ = detector.postprocess_op(detector.infer(pixels)[0], (picture.height, picture.width))
        for box in boxes:
            width = float(np.linalg.norm(box[0] - box[1]))
            height = float(np.linalg.norm(box[1] - box[2]))
            if width >= TEXT_LIKE * max(height, 1.0):
                return True
        return False

    def _recognised(self, pixels: np.ndarray[Any, Any]) -> list[Any]:
        try:
            found, _ = self.engine(pixels, use_det=True, use_cls=False, use_rec=True)
        except Exception as error:  # the engine on a picture it cannot take
            raise PermanentError(f"cannot read the words in the picture: {error}") from None
        return list(found or [])


SPACE_SEEN = 0.1
"""A space goes between two recognised characters when the recogniser gave the space at least this probability
somewhere between them. On bench ocr's 60 pictures, 0.05 to 0.3 all read 58 exactly (54 without); 0.01 reads 56."""


class SpacedDecoder:
    """The recogniser's CTC output as text, like rapidocr's own decoder, and with the spaces it nearly saw.

    PP-OCRv4's recogniser (trained mostly on Chinese, where words have no spaces) often runs English words together
    (`KELVORINBAKERY`, `Plumtart`) although the gap is there: between the two letters the space class is likely,
    but "nothing here" (CTC's blank) more so. A space is put back where the space class reached SPACE_SEEN."""

    def __init__(self, characters: list[str]) -> None:
        self.character = characters  # blank first, space last, as rapidocr builds them
        self.space = characters.index(" ")

    def __call__(self, preds: np.ndarray[Any, Any], return_word_box: bool = False, **_: Any) -> list[Any]:
        best, likelihood = preds.argmax(axis=2), preds.max(axis=2)
        lines: list[tuple[str, float]] = []
        for row in range(len(preds)):
            chosen = best[row]
            kept = np.ones(len(chosen), dtype=bool)
            kept[1:] = chosen[1:] != chosen[:-1]  # a character held over several columns is one
            kept &= chosen != 0  # the blank
            columns = np.nonzero(kept)[0]
            text = ""
            for at, column in enumerate(columns):
                char = self.character[chosen[column]]
                if at and char != " " and text[-1] != " ":
                    between = preds[row, columns[at - 1] + 1 : column, self.space]
                    if between.size and float(between.max()) >= SPACE_SEEN:
                        text += " "
                text += char
            lines.append((text, float(likelihood[row][kept].mean()) if kept.any() else 0.0))
        return lines


def _without_spinning(session: Any) -> Any:
    """ONNX Runtime `session` made again with its threads sleeping between runs. By default they spin for a while
    after each run, waiting for the next, and take the cores from the vision model working in the same process or
    beside it: on 2 cores, the cheap pass and a CLIP encode took 0.15-0.18 s a photo that way, 0.10 s without."""
    import onnxruntime

    options = session.get_session_options()
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return onnxruntime.InferenceSession(session._model_path, options, providers=session.get_providers())


def _detector_input(picture: Image.Image, side: int) -> np.ndarray[Any, Any]:
    """`picture` as the detector takes it: its longer side at most `side`, both sides a multiple of 32, scaled to
    -1..1, channels first, in one resize and one pass over the pixels (rapidocr's own preprocessing resizes twice
    and computes in float64, a fifth of the cheap pass's time)."""
    scale = min(1.0, side / max(picture.size))
    width, height = (max(32, round(length * scale / 32) * 32) for length in picture.size)
    small = picture.resize((width, height), Image.Resampling.BILINEAR) if (width, height) != picture.size else picture
    pixels = np.asarray(small, dtype=np.float32) * np.float32(1 / 127.5) - np.float32(1.0)
    return np.ascontiguousarray(pixels.transpose(2, 0, 1)[np.newaxis])


def _shrunk(image: Image.Image, side: int) -> Image.Image:
    """`image` with its longer side at most `side`."""
    scale = side / max(image.size)
    if scale >= 1.0:
        return image
    return image.resize(
        (max(1, round(image.width * scale)), max(1, round(image.height * scale))), Image.Resampling.BILINEAR
    )


PRICE_AFTER_WORD = re.compile(r"(?<=[^\W\d_]{3})(?=\d+[.,]\d)")
"""Where the recogniser ran a word into the price after it (`TOTAL7.35`, `Plumtart3.80`): a space goes there."""


def spaced(text: str) -> str:
    """`text` with a space put back between a word and the price it was run into."""
    return PRICE_AFTER_WORD.sub(" ", text)


def _left_edge(points: Any, scale: float) -> tuple[tuple[float, float], float]:
    """The middle of a detected quadrilateral's left edge (its corners run clockwise from the top left) and its
    length, in the picture's pixels."""
    (x0, y0), (x3, y3) = (float(points[0][0]), float(points[0][1])), (float(points[3][0]), float(points[3][1]))
    return ((x0 + x3) / 2 / scale, (y0 + y3) / 2 / scale), math.hypot(x3 - x0, y3 - y0) / scale


def _box(points: Any, scale: float) -> tuple[float, float, float, float]:
    xs = [float(point[0]) / scale for point in points]
    ys = [float(point[1]) / scale for point in points]
    return (min(xs), min(ys), max(xs), max(ys))


_readers: dict[tuple[str, int, float, int], Reader] = {}
_lock = Lock()


def reader_for(settings: Settings) -> Reader | None:
    """The configured OCR reader, loaded once per process; None when MMINDEX_MODELS__OCR is `none`."""
    name = settings.models.ocr
    if name == "none":
        return None
    if name != "rapidocr":
        raise ModelUnavailable(f"unknown {SETTING} {name!r}; choose rapidocr or none")
    key = (name, settings.models.ocr_max_side, settings.models.ocr_timeout_s, settings.cpu_share())
    with _lock:
        if key not in _readers:
            _readers[key] = RapidOcrReader.load(settings)
        return _readers[key]
