"""Text documents (plain text, Markdown, PDF) as overlapping chunks of whole paragraphs.

The rules, in the order they apply:

- Paragraphs are separated by blank lines (a PDF page ends one, and a chunk). Inside a paragraph every run of
  whitespace, line breaks included, becomes one space; paragraphs in a chunk are joined by a blank line.
- Consecutive paragraphs are packed into one chunk while it stays within `chunk_chars`. A paragraph that
  fits in `chunk_chars` is never split: when it does not fit after the ones before, it starts the next chunk.
- A paragraph longer than `chunk_chars` fills the room left in the chunk (up to its last sentence end that
  fits) and is then cut into pieces: at the last sentence end (``.``, ``!``, ``?`` or ``…``, closing quotes
  and brackets kept, then a space) when that keeps at least half the room, else at the last space, and in
  the middle of a word only when that word alone does not fit.
- Every chunk after the first opens with up to `overlap_chars` of the end of the chunk before, starting at
  a sentence start when that keeps at least half of what is allowed, else at a word start, so that the words
  on either side of a boundary also appear together in one chunk. The overlap shrinks, to nothing if need be, so that a
  paragraph which fits is kept whole, and so that a word which fits is not cut.
- Bound: ``len(chunk.text) <= chunk_chars`` for every chunk, the overlap included.
- Empty or whitespace-only content yields no chunks. Markdown is text like any other: its marks stay, and a
  list or code block with no blank line inside is one paragraph whose line breaks became spaces.

Files are read as they are chunked, so memory follows `chunk_chars`, not the file's size. Text is UTF-8
(with or without a byte-order mark) or UTF-16/32 with a byte-order mark; a line that is not valid UTF-8 is
read as Windows-1252, or Latin-1 where Windows-1252 leaves a byte undefined, so decoding never fails.
A PDF (content starting with ``%PDF-``) gives the text layer of its pages through pypdf, page by page; with OCR on
(`ocr`), a page with no text layer to speak of is rendered and read instead (`shared.media.scanned`), in page order.
"""

from __future__ import annotations

import codecs
import logging
import re
import struct
import warnings
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from pypdf import PasswordType, PdfReader
from pypdf.errors import DependencyError, FileNotDecryptedError, PyPdfError

from shared.errors import CorruptMedia, UnsupportedMedia
from shared.media.scanned import OcrOptions, is_scanned, scanned_pages
from shared.media.sniff import PDF_MAGIC

_READ_BYTES = 1 << 14  # longest line read at once; a longer one arrives in pieces
_BOMS: tuple[tuple[bytes, str], ...] = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),  # before UTF-16 LE, whose mark it starts with
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
    (codecs.BOM_UTF8, "utf-8"),
)
_SENTENCE_END = re.compile(r"[.!?…][\"'”’»)\]]*(?= )")
_SENTENCE_START = re.compile(r"(?:[.!?…][\"'”’»)\]]*\s+|\n\n)(?=\S)")
_WORD_START = re.compile(r"\s(?=\S)")
_WHITESPACE = re.compile(r"\s+")
_ODD_SPACE = re.compile(r"[^\S ]|  ")  # whitespace other than single spaces
# What pypdf raises on a damaged file besides its own errors.
_PDF_FAULTS: tuple[type[Exception], ...] = (
    PyPdfError,
    ValueError,
    KeyError,
    IndexError,
    TypeError,
    AttributeError,
    RecursionError,
    zlib.error,
    struct.error,
)


@dataclass(frozen=True)
class Chunk:
    """A piece of a document to embed: `index` counts from 0 in document order.

    `page` is the PDF page (from 1) that holds the chunk's own text, after the overlap (a page ends a chunk, so a
    hit on its words names the right page); None for text files.
    """

    index: int
    text: str
    page: int | None = None


def chunks(path: Path, *, chunk_chars: int, overlap_chars: int, ocr: OcrOptions | None = None) -> Iterator[Chunk]:
    """The chunks of the text file or PDF at `path`, read as they are consumed (see the module's rules); `ocr`: how
    a PDF's scanned pages are read, None to leave them out.

    Raises `CorruptMedia` for a PDF that cannot be read and `UnsupportedMedia` for one that is encrypted with a
    password or has no text layer (with OCR, no words on its scanned pages either), each with a one-line reason;
    `ValueError` at once for sizes out of range.
    """
    if chunk_chars < 8 or not 0 <= overlap_chars <= chunk_chars // 2:
        raise ValueError(
            f"chunk_chars must be at least 8 and overlap_chars between 0 and half of it;"
            f" got chunk_chars={chunk_chars}, overlap_chars={overlap_chars}"
        )
    return _chunks(path, _Packer(chunk_chars, overlap_chars), ocr)


def _chunks(path: Path, packer: _Packer, ocr: OcrOptions | None) -> Iterator[Chunk]:
    with path.open("rb") as handle:
        is_pdf = handle.read(len(PDF_MAGIC)) == PDF_MAGIC
        handle.seek(0)
        if is_pdf:
            yield from _pdf_chunks(path, handle, packer, ocr)
        else:
            yield from packer.pack(_fragments(_decoded(handle)))
            yield from packer.finish()


# Text files: bytes to lines to paragraph fragments.


def _decoded(handle: BinaryIO) -> Iterator[str]:
    """The file's text in pieces (a line, or a part of a long one), decoded as the module's docstring says."""
    head = handle.read(4)
    for bom, codec in _BOMS:
        if head.startswith(bom):
            handle.seek(len(bom))
            if codec != "utf-8":
                decoder = codecs.getincrementaldecoder(codec)(errors="replace")
                while block := handle.read(_READ_BYTES):
                    yield decoder.decode(block)
                yield decoder.decode(b"", final=True)
                return
            break
    else:
        handle.seek(0)
    utf8 = codecs.getincrementaldecoder("utf-8")()
    while line := handle.readline(_READ_BYTES):
        pending = utf8.getstate()[0]  # the start of a character cut at the end of the piece before
        try:
            yield utf8.decode(line)
        except UnicodeDecodeError:
            utf8.reset()
            yield _legacy(pending + line)
    pending = utf8.getstate()[0]
    if pending:
        yield _legacy(pending)


def _legacy(data: bytes) -> str:
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:  # 0x81, 0x8d, 0x8f, 0x90 and 0x9d are undefined in Windows-1252
        return data.decode("latin-1")


def _fragments(pieces: Iterable[str]) -> Iterator[str | None]:
    """Paragraph text from raw text: words joined by single spaces, and None where a blank line ends a paragraph.

    A fragment that continues a paragraph after whitespace starts with one space; one that continues a word
    cut between two pieces does not. A fragment never ends with a space.
    """
    in_paragraph = False  # text seen since the last paragraph break
    line_blank = True  # nothing but whitespace on the current line so far
    space = False  # whitespace since the last word
    carried_cr = False
    for raw in pieces:
        piece = "\r" + raw if carried_cr else raw
        carried_cr = piece.endswith("\r")  # may be the first half of a CRLF cut between two pieces
        if carried_cr:
            piece = piece[:-1]
        for number, line in enumerate(piece.replace("\r\n", "\n").replace("\r", "\n").split("\n")):
            if number:  # a line ended before this one
                if line_blank and in_paragraph:
                    yield None
                    in_paragraph = False
                line_blank, space = True, True
            # Most lines need no change but their ends; sub() would allocate a string per word of them.
            normal = _WHITESPACE.sub(" ", line).strip(" ") if _ODD_SPACE.search(line) else line.strip(" ")
            if not normal:
                space = space or bool(line)
                continue
            lead = " " if in_paragraph and (space or line[0].isspace()) else ""
            yield lead + normal
            in_paragraph, line_blank, space = True, False, line[-1].isspace()


# Packing paragraphs into chunks.


class _Packer:
    """Packs paragraph fragments into chunks of at most `chunk_chars`, each opening with an overlap."""

    def __init__(self, chunk_chars: int, overlap_chars: int) -> None:
        self._limit = chunk_chars
        self._overlap = overlap_chars
        self.page: int | None = None  # the page the fragments fed now come from
        self._index = 0
        self._previous = ""  # text of the last chunk made
        self._joint = ""  # what separates the last chunk's end from the text after it: "\n\n", " " or ""
        self._text = ""  # the chunk being filled, overlap included
        self._started = False  # whether `_text` holds text of its own yet
        self._page: int | None = None  # where that text begins
        self._paragraph = ""  # the paragraph being read, or what is left of a long one
        self._long = False  # whether that paragraph exceeds `chunk_chars`

    @property
    def made(self) -> int:
        """How many chunks have been made so far."""
        return self._index

    def pack(self, fragments: Iterable[str | None]) -> Iterator[Chunk]:
        """Feed fragments from `_fragments`; yields the chunks they complete."""
        for fragment in fragments:
            if fragment is None:
                yield from self.end_paragraph()
                continue
            self._paragraph += fragment.lstrip(" ") if not self._paragraph else fragment
            if self._long or len(self._paragraph) > self._limit:
                self._long = True
                yield from self._split(final=False)

    def end_paragraph(self) -> Iterator[Chunk]:
        if self._paragraph:
            yield from self._split(final=True) if self._long else self._whole(self._paragraph)
        self._paragraph, self._long = "", False

    def finish(self) -> Iterator[Chunk]:
        """The last chunk, once the input has ended."""
        yield from self.end_paragraph()
        if self._started:
            yield self._emit("")

    def _whole(self, paragraph: str) -> Iterator[Chunk]:
        yield from self._new_page()
        if self._started:
            if len(self._text) + 2 + len(paragraph) <= self._limit:
                self._text += "\n\n" + paragraph
                return
            yield self._emit("\n\n")
        self._start(self._opening(len(paragraph)) + paragraph)

    def _split(self, *, final: bool) -> Iterator[Chunk]:
        """Cut chunks from the long paragraph read so far; with `final`, its tail stays in the open chunk."""
        yield from self._new_page()
        text, at = self._paragraph, 0  # what is left of it starts at `at`
        while True:
            if self._started:  # after whole paragraphs: only a sentence end that fits will do
                head = self._text + "\n\n"
                room = self._limit - len(head)
                cut, joint = _cut_at_sentence(text, at, room) if room > 0 else (at, "")
                if cut == at:
                    yield self._emit("\n\n")
                    continue
            else:
                word_end = text.find(" ", at)
                head = self._opening((len(text) if word_end < 0 else word_end) - at)
                room = self._limit - len(head)
                if len(text) - at <= room:
                    if final:
                        self._start(head + text[at:])
                        at = len(text)
                    break
                cut, joint = _cut(text, at, room)
                self._start(head)
            self._text = head + text[at:cut]
            at = cut + len(joint)  # the joint is the space the cut was made at, or nothing
            yield self._emit(joint)
        self._paragraph = text[at:]

    def _new_page(self) -> Iterator[Chunk]:
        """The open chunk, ended where a new page begins: a chunk's own text is on one page, the one its hit names
        (its overlap may come from the page before)."""
        if self._started and self._page != self.page:
            yield self._emit("\n\n")

    def _opening(self, need: int) -> str:
        """The overlap that opens a chunk, leaving room for `need` characters of its own text."""
        tail = _tail(self._previous, min(self._overlap, self._limit - need - len(self._joint)))
        return tail + self._joint if tail else ""

    def _start(self, text: str) -> None:
        self._text, self._started, self._page = text, True, self.page

    def _emit(self, joint: str) -> Chunk:
        chunk = Chunk(self._index, self._text, self._page)
        self._index += 1
        self._previous, self._joint = self._text, joint
        self._text, self._started, self._page = "", False, None
        return chunk


def _cut_at_sentence(text: str, at: int, room: int) -> tuple[int, str]:
    """The last sentence end in `room` characters of `text` from `at` (`at` itself if none), and the joint after it."""
    ends = [match.end() for match in _SENTENCE_END.finditer(text, at, at + room + 1)]
    return (ends[-1], " ") if ends else (at, "")


def _cut(text: str, at: int, room: int) -> tuple[int, str]:
    """Where to cut `text` from `at`, longer than `room`, to fill a chunk with at most `room` characters of it."""
    cut, joint = _cut_at_sentence(text, at, room)
    if cut - at >= max(1, room // 2):
        return cut, joint
    space = text.rfind(" ", at + 1, at + room + 1)
    if space > at:
        return space, " "
    return at + room, ""  # a single word longer than the room


def _tail(text: str, most: int) -> str:
    """The end of `text` in at most `most` characters, from a sentence start, else from a word start."""
    if most <= 0 or not text:
        return ""
    if len(text) <= most:
        return text
    start = len(text) - most
    for match in _SENTENCE_START.finditer(text, max(0, start - 16)):
        if match.end() >= start:
            if len(text) - match.end() >= most // 2:
                return text[match.end() :]
            break
    word = _WORD_START.search(text, start - 1)
    return text[word.end() :] if word else ""


# PDFs: the text layer, page by page.


def _pdf_chunks(path: Path, handle: BinaryIO, packer: _Packer, ocr: OcrOptions | None) -> Iterator[Chunk]:
    with scanned_pages(path, ocr) as scanned:
        for number, layer in _pdf_pages(handle):
            text = layer
            if scanned is not None and is_scanned(layer):
                text = scanned.words(number) or layer  # no words found: what the text layer has, if anything
            packer.page = number
            yield from packer.pack(_fragments((text,)))
            yield from packer.end_paragraph()
        yield from packer.finish()
        if not packer.made:
            if scanned is not None:
                raise UnsupportedMedia(scanned.no_words())
            raise UnsupportedMedia("PDF has no text layer (scanned pages?); OCR is not supported")


def _pdf_pages(handle: BinaryIO) -> Iterator[tuple[int, str]]:
    """(page number from 1, its text) for each page of the PDF open as `handle`."""
    # pypdf reports damage it works around as log warnings, one or more per odd file; a PDF it cannot read raises.
    # Set here, where PDFs are read, so that importing this module changes no logger.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    with _pdf_faults():
        reader = PdfReader(handle)
        if reader.is_encrypted:
            _decrypt(reader)
        count = len(reader.pages)
    for index in range(count):
        with _pdf_faults():
            text = reader.pages[index].extract_text()
        yield index + 1, text


def _decrypt(reader: PdfReader) -> None:
    """Open a PDF encrypted with an empty user password, as many are to restrict printing or copying."""
    try:
        opened = reader.decrypt("")
    except DependencyError:
        raise UnsupportedMedia(
            "encrypted PDF: decrypting it needs the 'cryptography' package (pip install cryptography)"
        ) from None
    except NotImplementedError as error:
        raise UnsupportedMedia(f"encrypted PDF: {_reason(error)}") from None
    if opened == PasswordType.NOT_DECRYPTED:
        raise UnsupportedMedia("encrypted PDF: cannot extract text without its password")


@contextmanager
def _pdf_faults() -> Iterator[None]:
    """pypdf's errors on a damaged file as `CorruptMedia`, its warnings silenced."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    except FileNotDecryptedError:
        raise UnsupportedMedia("encrypted PDF: cannot extract text without its password") from None
    except _PDF_FAULTS as error:
        raise CorruptMedia(f"corrupt PDF: {_reason(error)}") from None


def _reason(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 200 else text[:199] + "…"
