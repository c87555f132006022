"""shared/media/text.py: text files and PDFs as overlapping chunks of whole paragraphs, within chunk_chars."""

from __future__ import annotations

import io
import itertools
import logging
import random
import tracemalloc
from pathlib import Path

import pytest
from pypdf import PdfWriter

from shared.errors import CorruptMedia, UnsupportedMedia
from shared.media.text import Chunk, chunks

# Fixtures: documents made here.


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    return path


def chunked(path: Path, chunk_chars: int = 1000, overlap_chars: int = 200) -> list[Chunk]:
    return list(chunks(path, chunk_chars=chunk_chars, overlap_chars=overlap_chars))


def texts(path: Path, chunk_chars: int = 1000, overlap_chars: int = 200) -> list[str]:
    return [chunk.text for chunk in chunked(path, chunk_chars, overlap_chars)]


def tokens(count: int, start: int = 0) -> list[str]:
    """Words that are all different, so each one can be traced to its place in the source."""
    return [f"w{number}" for number in range(start, start + count)]


def sentence(words: list[str]) -> str:
    return " ".join(words).capitalize() + "."


def random_document(seed: int, paragraphs: int = 40) -> str:
    """Paragraphs of 1 to 120 unique words, sentences of 1 to 25, line breaks and runs of spaces inside."""
    rng = random.Random(seed)
    out, next_word = [], 0
    for _ in range(paragraphs):
        words = tokens(rng.choice([1, 5, 20, 60, 120]), next_word)
        next_word += len(words)
        text = ""
        for word in words:
            end = "." if rng.random() < 0.08 else ""
            text += word + end + rng.choice([" ", " ", " ", "\n", "  ", "\t"])
        out.append(text)
    return ("\n" + rng.choice(["\n", "  \n", "\n\n"])).join(out)


def overlap_words(previous: list[str], current: list[str]) -> int:
    """How many words `current` repeats from the end of `previous` (words are unique in these documents)."""
    for count in range(min(len(previous), len(current)), 0, -1):
        if previous[-count:] == current[:count]:
            return count
    return 0


def fresh_words(result: list[Chunk]) -> list[str]:
    """The words of the chunks with each chunk's overlap left out: the document's words, if none is lost."""
    words: list[str] = []
    previous: list[str] = []
    for chunk in result:
        current = chunk.text.split()
        words += current[overlap_words(previous, current) :]
        previous = current
    return words


def pdf_document(*pages: str) -> bytes:
    """A minimal PDF, written by hand: each page shows its text in Helvetica; the xref offsets are computed."""
    count = len(pages)
    kids = " ".join(f"{4 + 2 * number} 0 R" for number in range(count))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {count} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    for number, text in enumerate(pages):
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stream = f"BT /F1 12 Tf 72 720 Td ({escaped}) Tj ET".encode("cp1252")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792]"
            f" /Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * number} 0 R >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n" % (len(objects) + 1, xref) + b"%%EOF\n"
    return bytes(out)


def written_by_pypdf(writer: PdfWriter) -> bytes:
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def blank_pdf(password: str | None = None) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=612, height=792)
    if password is not None:
        writer.encrypt(password)
    return written_by_pypdf(writer)


# Paragraphs, sentences, words.


def test_short_paragraphs_are_kept_whole_and_packed_in_order(tmp_path: Path) -> None:
    rng = random.Random(3)
    paragraphs = [sentence(tokens(rng.randint(3, 30), 100 * number)) for number in range(30)]
    path = write(tmp_path, "notes.txt", "\n\n".join(paragraphs) + "\n")

    result = texts(path, chunk_chars=300, overlap_chars=0)

    packed = [chunk.split("\n\n") for chunk in result]
    assert [paragraph for chunk in packed for paragraph in chunk] == paragraphs
    assert any(len(chunk) > 1 for chunk in packed)
    for chunk, after in zip(result, packed[1:], strict=False):
        assert len(chunk) + 2 + len(after[0]) > 300  # a chunk ends only when the next paragraph does not fit


def test_whitespace_inside_a_paragraph_becomes_single_spaces(tmp_path: Path) -> None:
    path = write(tmp_path, "doc.txt", "  Line one\n  goes\ton,   here.\r\n \r\n\n\nSecond\u00a0paragraph \n")
    assert texts(path) == ["Line one goes on, here.\n\nSecond paragraph"]


def test_a_long_paragraph_is_split_at_sentence_ends(tmp_path: Path) -> None:
    rng = random.Random(5)
    sentences: list[str] = []
    start = 0
    while sum(len(each) + 1 for each in sentences) < 3000:
        sentences.append(sentence(tokens(rng.randint(4, 14), start)))
        start += 100
    paragraph = " ".join(sentences)
    path = write(tmp_path, "long.txt", paragraph.replace(". ", ".\n"))

    result = texts(path, chunk_chars=400, overlap_chars=0)

    assert len(result) > 7
    assert " ".join(result) == paragraph
    assert all(chunk.endswith(".") and chunk[0].isupper() for chunk in result)
    assert all(len(chunk) <= 400 for chunk in result)


def test_a_sentence_longer_than_a_chunk_is_split_between_words(tmp_path: Path) -> None:
    words = tokens(300)
    path = write(tmp_path, "run-on.txt", " ".join(words))

    result = texts(path, chunk_chars=200, overlap_chars=0)

    assert " ".join(result).split() == words  # no word was cut
    assert all(len(chunk) <= 200 for chunk in result)


def test_a_word_longer_than_a_chunk_is_cut_and_nothing_is_repeated(tmp_path: Path) -> None:
    word = "".join(random.Random(1).choices("abcdefghij", k=250))
    path = write(tmp_path, "dna.txt", f"{word}\n")

    result = texts(path, chunk_chars=100, overlap_chars=20)

    assert result == [word[:100], word[100:200], word[200:]]


def test_a_paragraph_that_fits_is_not_split_for_the_overlap(tmp_path: Path) -> None:
    first = sentence(tokens(20))
    second = "y" * 97 + "."  # 98 characters: only 2 are left for an overlap, and no word fits in them
    path = write(tmp_path, "doc.txt", f"{first}\n\n{second}\n")

    assert texts(path, chunk_chars=100, overlap_chars=50) == [first, second]


# Overlap.


def test_each_chunk_opens_with_the_end_of_the_one_before(tmp_path: Path) -> None:
    path = write(tmp_path, "doc.txt", random_document(seed=11))
    result = texts(path, chunk_chars=300, overlap_chars=80)
    assert len(result) > 10

    for previous, current in itertools.pairwise(result):
        assert overlap_words(previous.split(), current.split()) > 0
        repeated = max(
            (current[:length] for length in range(1, len(current) + 1) if previous.endswith(current[:length])), key=len
        )
        assert len(repeated) <= 80
        assert previous[-len(repeated) - 1].isspace()  # it starts at a word start
        assert current[len(repeated)].isspace()  # and ends where the chunk before ends


def test_a_phrase_across_a_chunk_boundary_is_found_whole_in_one_chunk(tmp_path: Path) -> None:
    words = tokens(2000)  # no sentence ends: every cut falls between words
    path = write(tmp_path, "doc.txt", " ".join(words))

    result = texts(path, chunk_chars=200, overlap_chars=60)

    for start in range(len(words) - 5):
        phrase = " ".join(words[start : start + 5])  # at most 29 characters
        assert any(phrase in chunk for chunk in result), phrase


def test_the_overlap_starts_at_a_sentence_when_one_is_near(tmp_path: Path) -> None:
    sentences = [sentence(tokens(6, 10 * number)) for number in range(40)]
    path = write(tmp_path, "doc.txt", " ".join(sentences))

    result = texts(path, chunk_chars=200, overlap_chars=60)

    assert all(chunk[0].isupper() for chunk in result)


# No text lost, and the bound.


@pytest.mark.parametrize(("chunk_chars", "overlap_chars"), [(100, 0), (100, 50), (150, 40), (1000, 200), (37, 9)])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_word_is_kept_in_order_and_every_chunk_is_within_chunk_chars(
    tmp_path: Path, seed: int, chunk_chars: int, overlap_chars: int
) -> None:
    document = random_document(seed)
    path = write(tmp_path, "doc.txt", document)

    result = chunked(path, chunk_chars, overlap_chars)

    assert [chunk.index for chunk in result] == list(range(len(result)))
    assert fresh_words(result) == document.split()
    assert max(len(chunk.text) for chunk in result) <= chunk_chars  # the overlap included


def test_sizes_out_of_range_are_refused_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, "doc.txt", "words")
    with pytest.raises(ValueError, match="overlap_chars"):
        chunks(path, chunk_chars=100, overlap_chars=51)


# Formats and encodings.


def test_a_markdown_file_keeps_its_marks_with_its_blocks_as_paragraphs(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "README.md",
        "# Title\n\nSome *intro* text\nover two lines.\n\n- item one\n- item two\n\n```\nx  =  1\n```\n",
    )
    assert texts(path) == ["# Title\n\nSome *intro* text over two lines.\n\n- item one - item two\n\n``` x = 1 ```"]


def test_text_files_have_no_page(tmp_path: Path) -> None:
    path = write(tmp_path, "doc.txt", "Hello.")
    assert chunked(path) == [Chunk(0, "Hello.", None)]


def test_a_latin1_file_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, "old.txt", "Café crème, naïve façade.\n\nÜber die Straße, ½ €?\n".encode("cp1252"))
    assert texts(path) == ["Café crème, naïve façade.\n\nÜber die Straße, ½ €?"]


def test_a_byte_windows_1252_leaves_undefined_is_read_as_latin1(tmp_path: Path) -> None:
    path = write(tmp_path, "odd.txt", b"caf\xe9 \x81 ok\n")
    assert texts(path) == ["café \x81 ok"]


def test_each_line_falls_back_on_its_own(tmp_path: Path) -> None:
    path = write(tmp_path, "mixed.txt", "naïve UTF-8\n".encode() + "naïve Latin-1\n".encode("latin-1"))
    assert texts(path) == ["naïve UTF-8 naïve Latin-1"]


def test_a_latin1_character_at_the_end_of_a_read_is_kept(tmp_path: Path) -> None:
    # The first read of the long line ends with é, which UTF-8 takes for the start of a character.
    path = write(tmp_path, "long-latin1.txt", b"word " * 3276 + b"caf\xe9s\n")
    assert texts(path, chunk_chars=100_000, overlap_chars=0) == ["word " * 3276 + "cafés"]


def test_a_utf8_byte_order_mark_is_dropped(tmp_path: Path) -> None:
    path = write(tmp_path, "bom.txt", "Grüße aus Köln.\n".encode("utf-8-sig"))
    assert texts(path) == ["Grüße aus Köln."]


def test_utf16_with_a_byte_order_mark_is_read(tmp_path: Path) -> None:
    path = write(tmp_path, "wide.txt", "日本語のテキスト.\r\n\r\nSecond.\r\n".encode("utf-16"))
    assert texts(path) == ["日本語のテキスト.\n\nSecond."]


@pytest.mark.parametrize("content", [b"", b"   \n\n\t \r\n \xc2\xa0 \n"])
def test_empty_and_whitespace_only_files_give_no_chunks(tmp_path: Path, content: bytes) -> None:
    assert texts(write(tmp_path, "blank.txt", content)) == []


def test_a_line_longer_than_a_read_loses_nothing(tmp_path: Path) -> None:
    # One 200 kB line arrives in pieces that cut words and multi-byte characters in two.
    words = [f"ü{number}" for number in range(40_000)]
    path = write(tmp_path, "one-line.txt", " ".join(words))

    result = chunked(path, chunk_chars=500, overlap_chars=100)

    assert fresh_words(result) == words


def test_a_crlf_cut_between_two_reads_is_not_a_blank_line(tmp_path: Path) -> None:
    line = "word " * 3276 + "wor"  # 16,383 characters, then CR LF: the first read ends between them
    path = write(tmp_path, "crlf.txt", (line + "\r\nnext\r\n").encode())
    assert texts(path, chunk_chars=100_000, overlap_chars=0) == ["word " * 3276 + "wor next"]


# PDF.


def test_a_pdf_gives_the_text_of_its_pages(tmp_path: Path) -> None:
    path = write(tmp_path, "paper.pdf", pdf_document("The quick brown fox jumps over the lazy dog."))
    assert chunked(path) == [Chunk(0, "The quick brown fox jumps over the lazy dog.", 1)]


def test_a_pdf_chunk_knows_its_page(tmp_path: Path) -> None:
    first = "Page one talks about otters and rivers, at some length."
    second = "Page two moves on to herons standing still in the reeds."
    path = write(tmp_path, "two-pages", pdf_document(first, second))

    result = chunked(path, chunk_chars=100, overlap_chars=30)

    assert [(chunk.page, chunk.text.endswith(text)) for chunk, text in zip(result, [first, second], strict=True)] == [
        (1, True),
        (2, True),
    ]


def test_short_pages_are_not_packed_into_one_chunk_so_each_hit_names_its_page(tmp_path: Path) -> None:
    pages = ["Otters swim at dawn.", "Herons wait in the reeds.", "Kingfishers dive for fish."]
    path = write(tmp_path, "three-pages.pdf", pdf_document(*pages))

    result = chunked(path, chunk_chars=1000, overlap_chars=200)  # all three would fit in one chunk

    assert [chunk.page for chunk in result] == [1, 2, 3]
    assert [chunk.text.endswith(page) for chunk, page in zip(result, pages, strict=True)] == [True, True, True]
    assert result[2].text.startswith(pages[0])  # the overlap may still reach back a page or two


def test_an_encrypted_pdf_asks_for_its_password(tmp_path: Path) -> None:
    path = write(tmp_path, "secret.pdf", blank_pdf(password="secret"))
    with pytest.raises(UnsupportedMedia) as raised:
        chunked(path)
    assert str(raised.value) == "encrypted PDF: cannot extract text without its password"


def test_a_pdf_locked_only_by_an_owner_password_is_read(tmp_path: Path) -> None:
    writer = PdfWriter(clone_from=io.BytesIO(pdf_document("Printing is restricted, reading is not.")))
    writer.encrypt(user_password="", owner_password="owner")
    path = write(tmp_path, "restricted.pdf", written_by_pypdf(writer))
    assert texts(path) == ["Printing is restricted, reading is not."]


def test_a_pdf_of_blank_pages_has_no_text_layer(tmp_path: Path) -> None:
    path = write(tmp_path, "scan.pdf", blank_pdf())
    with pytest.raises(UnsupportedMedia) as raised:
        chunked(path)
    assert str(raised.value) == "PDF has no text layer (scanned pages?); OCR is not supported"


def test_a_corrupt_pdf_fails_in_one_line_without_log_noise(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write(tmp_path, "broken.pdf", b"%PDF-1.7\n" + random.Random(2).randbytes(3000))
    with caplog.at_level(logging.DEBUG), pytest.raises(CorruptMedia) as raised:
        chunked(path)
    message = str(raised.value)
    assert message.startswith("corrupt PDF: ")
    assert "\n" not in message
    assert len(message) < 250
    assert not [record for record in caplog.records if record.name.startswith("pypdf")]


# Memory.


def test_a_large_file_is_chunked_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "large.txt"
    paragraph = "The quick brown fox jumps over the lazy dog. Pack my box with five dozen liquor jugs!\n" * 6
    with path.open("w", encoding="utf-8") as handle:
        handle.write((paragraph + "\n") * (10_000_000 // len(paragraph)))  # 10 MB of paragraphs
        handle.write("one line without an end " * (10_000_000 // 24))  # then 10 MB in a single line
    assert path.stat().st_size > 19_000_000

    tracemalloc.start()
    try:
        count = sum(1 for _ in chunks(path, chunk_chars=1000, overlap_chars=200))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert count > 20_000
    assert peak < 2_000_000
