"""Scanned PDF pages: a page without a text layer rendered by PDFium (pypdfium2) and read by OCR.

A page counts as scanned when its text layer has fewer than `SCANNED_CHARS` characters other than whitespace (a
scan often carries a page number or a stamp as text). It is rendered so that its longer side is
MMINDEX_MODELS__OCR_MAX_SIDE pixels (about 145 dpi for a Letter or A4 page at the default 1600), never finer than
`MAX_DPI`, so a page's pixels stay within that side squared whatever its size. The recognised lines come back in
reading order, with a blank line, which the chunker reads as a paragraph break, where the gap above a line is taller
than `PARAGRAPH_GAP` of the line before. Reading one page takes seconds: at 1600 px on 2 busy cores, 4-6 s for a
Letter page of a few lines, 15-20 s for one of 40 (recognition grows with the lines; rendering takes 0.02 s). The
time limit of the child process chunking the PDF covers it like any other work.

A page that cannot be rendered or read (too slow for MMINDEX_MODELS__OCR_TIMEOUT_S, a page PDFium refuses) costs
only that page: a warning says why, and the other pages are read.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.config import Settings
from shared.errors import MmindexError, ModelUnavailable, UnsupportedMedia, one_line
from shared.model_settings import ModelSettings
from shared.models.ocr import Line, Reader, reader_for

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

SCANNED_CHARS = 20
"""A page whose text layer has fewer non-whitespace characters than this is read by OCR."""
MAX_DPI = 300
"""The finest a page is rendered at: a small page (a receipt, a card) is not blown up past what a scanner gives."""
MIN_SIDE_PX = 8
"""A page rendered with a side shorter than this (a sliver) cannot be read."""
PARAGRAPH_GAP = 0.8
"""A gap above a line taller than this share of the line before starts a new paragraph."""


@dataclass(frozen=True)
class OcrOptions:
    """How scanned pages are read (the OCR values of the settings), passed to the process that chunks a PDF; the
    reader is loaded there, once per process. `worker_processes` sets the threads OCR uses, as in the worker."""

    name: str
    max_side: int
    timeout_s: float
    worker_processes: int = 1

    @classmethod
    def of(cls, settings: Settings) -> OcrOptions | None:
        """The options of `settings`; None when OCR is off (MMINDEX_MODELS__OCR=none)."""
        models = settings.models
        if models.ocr == "none":
            return None
        return cls(models.ocr, models.ocr_max_side, models.ocr_timeout_s, settings.worker_processes)

    def to_json(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> OcrOptions:
        return cls(**json.loads(text))

    def settings(self) -> Settings:
        """Settings holding these values (and defaults otherwise), for `reader_for`; the environment is not read."""
        models = ModelSettings.model_validate(
            {"ocr": self.name, "ocr_max_side": self.max_side, "ocr_timeout_s": self.timeout_s}
        )
        return Settings.model_construct(models=models, worker_processes=self.worker_processes)

    def threads(self) -> int:
        """The CPU threads OCR runs on."""
        return self.settings().cpu_share()

    def reader(self) -> Reader:
        reader = reader_for(self.settings())
        if reader is None:
            raise ModelUnavailable(f"no OCR reader is configured ({self.name!r})")
        return reader


def is_scanned(text: str) -> bool:
    """Whether a page with this text layer is to be read by OCR."""
    return sum(not char.isspace() for char in text) < SCANNED_CHARS


def paragraphs(lines: list[Line]) -> str:
    """The lines (in reading order) one a line, with a blank line where a gap above a line shows a new paragraph."""
    out: list[str] = []
    previous: Line | None = None
    for line in lines:
        if previous is not None:
            gap = line.box[1] - previous.box[3]
            out.append("\n\n" if gap > PARAGRAPH_GAP * (previous.box[3] - previous.box[1]) else "\n")
        out.append(line.text)
        previous = line
    return "".join(out)


def render(page: Any, max_side: int) -> Image.Image:
    """A pypdfium2 page as a picture whose longer side is `max_side` (at most `MAX_DPI`)."""
    width, height = page.get_size()  # in points, 72 to the inch
    longer = max(width, height)
    if not longer > 0:
        raise UnsupportedMedia(f"the page has no size ({width:g} × {height:g} pt)")
    scale = min(max_side / longer, MAX_DPI / 72)
    if min(width, height) * scale < MIN_SIDE_PX:
        raise UnsupportedMedia(f"the page is a sliver ({width:g} × {height:g} pt), too thin to read")
    picture: Image.Image = page.render(scale=scale).to_pil()
    return picture


@dataclass
class ScannedPages:
    """The scanned pages of the PDF at `path`, rendered and read one at a time; the document is opened and the reader
    loaded on the first page asked for. Counts what it read, for the reason a PDF without words fails with."""

    path: Path
    options: OcrOptions
    read: int = 0
    failed: int = 0
    first_failure: str = ""
    _document: Any = field(default=None, repr=False)

    def words(self, number: int) -> str:
        """The words OCR finds on page `number` (from 1) as paragraphs; "" when it finds none or fails (logged)."""
        import pypdfium2

        reader = self.options.reader()  # ModelUnavailable: OCR cannot run at all, which is no page's fault
        self.read += 1
        try:
            if self._document is None:
                self._document = pypdfium2.PdfDocument(self.path)
            page = self._document[number - 1]
            try:
                picture = render(page, self.options.max_side)
            finally:
                page.close()
            return paragraphs(reader.read(picture, checked=True))  # checked: a whole page, its words small
        except (MmindexError, pypdfium2.PdfiumError, ValueError, OSError) as error:
            self.failed += 1
            reason = one_line(error)
            self.first_failure = self.first_failure or f"page {number}: {reason}"
            log.warning("OCR of page %d of %s failed, its words are left out: %s", number, self.path.name, reason)
            return ""

    def no_words(self) -> str:
        """The one-line reason a PDF whose pages gave no words fails with."""
        pages = f"{self.read} scanned page" + ("" if self.read == 1 else "s")
        reason = f"PDF has no text layer, and OCR found no words on its {pages}"
        if self.failed:
            reason += f" ({self.failed} could not be read; {self.first_failure})"
        return reason

    def close(self) -> None:
        if self._document is not None:
            self._document.close()
            self._document = None


@contextmanager
def scanned_pages(path: Path, options: OcrOptions | None) -> Iterator[ScannedPages | None]:
    """`ScannedPages` of the PDF at `path`, closed at the end; None when OCR is off."""
    if options is None:
        yield None
        return
    pages = ScannedPages(path, options)
    try:
        yield pages
    finally:
        pages.close()
