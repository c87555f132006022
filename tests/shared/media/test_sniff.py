"""shared/media/sniff.py: a file's kind comes from its content, never from its name."""

from __future__ import annotations

import io
import random
import struct
from pathlib import Path

import pytest
from PIL import Image

from shared.media import MediaKind
from shared.media.sniff import kind_from_name, sniff, sniff_bytes


def encoded(fmt: str, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (16, 12), "red" if mode == "RGB" else 1).save(out, format=fmt)
    return out.getvalue()


def wav() -> bytes:
    data = b"\x00\x00" * 160
    fmt = struct.pack("<HHIIHH", 1, 1, 16000, 32000, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(data)) + data
    return b"RIFF" + struct.pack("<I", len(body)) + body


def mp4_head(brand: bytes) -> bytes:
    return struct.pack(">I", 24) + b"ftyp" + brand + b"\x00\x00\x02\x00" + b"isomiso2" + b"\x00" * 64


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF"])
def test_images_encoded_by_pillow_are_images(tmp_path: Path, fmt: str) -> None:
    path = tmp_path / "no-extension"
    path.write_bytes(encoded(fmt))
    assert sniff(path) is MediaKind.IMAGE


def test_a_big_endian_tiff_is_an_image(tmp_path: Path) -> None:
    assert sniff_bytes(b"MM\x00*" + b"\x00" * 60) is MediaKind.IMAGE


def test_the_name_does_not_decide(tmp_path: Path) -> None:
    png_named_txt = tmp_path / "notes.txt"
    png_named_txt.write_bytes(encoded("PNG"))
    text_named_jpg = tmp_path / "photo.jpg"
    text_named_jpg.write_text("just some words\n")
    assert sniff(png_named_txt) is MediaKind.IMAGE
    assert sniff(text_named_jpg) is MediaKind.TEXT


@pytest.mark.parametrize(
    "content",
    [
        "plain ascii text\nwith lines\n",
        "# Markdown title\n\n* a list\n",
        "Ünïcödé, 日本語のテキスト, emoji 🎸\n",
    ],
)
def test_utf8_text_is_text(tmp_path: Path, content: str) -> None:
    path = tmp_path / "doc"
    path.write_text(content, encoding="utf-8")
    assert sniff(path) is MediaKind.TEXT


def test_a_multibyte_character_cut_at_the_sample_edge_is_still_text(tmp_path: Path) -> None:
    # 4095 ASCII bytes then a 3-byte character: the 4096-byte sample ends inside it.
    path = tmp_path / "long.txt"
    path.write_bytes(b"a" * 4095 + "語".encode() + b" and more")
    assert sniff(path) is MediaKind.TEXT


def test_an_empty_file_is_empty(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    assert sniff(path) is MediaKind.EMPTY


def test_random_bytes_are_unknown(tmp_path: Path) -> None:
    path = tmp_path / "noise.jpg"
    path.write_bytes(random.Random(7).randbytes(8192))
    assert sniff(path) is MediaKind.UNKNOWN


def test_latin1_bytes_with_nul_are_unknown() -> None:
    assert sniff_bytes(b"caf\xe9\x00\x01\x02 binary") is MediaKind.UNKNOWN


def test_a_wav_file_is_audio(tmp_path: Path) -> None:
    path = tmp_path / "speech.bin"
    path.write_bytes(wav())
    assert sniff(path) is MediaKind.AUDIO


@pytest.mark.parametrize("head", [b"ID3\x04\x00", b"fLaC\x00\x00", b"OggS\x00\x02", b"\xff\xfb\x90\x64"])
def test_other_audio_magic_is_audio(head: bytes) -> None:
    assert sniff_bytes(head + b"\x00" * 32) is MediaKind.AUDIO


@pytest.mark.parametrize("brand", [b"isom", b"mp42", b"qt  "])
def test_an_iso_media_file_is_video(brand: bytes) -> None:
    assert sniff_bytes(mp4_head(brand)) is MediaKind.VIDEO


def test_an_m4a_is_audio_and_a_heic_is_an_image() -> None:
    assert sniff_bytes(mp4_head(b"M4A ")) is MediaKind.AUDIO
    assert sniff_bytes(mp4_head(b"heic")) is MediaKind.IMAGE


def test_matroska_and_avi_are_video() -> None:
    assert sniff_bytes(b"\x1a\x45\xdf\xa3" + b"\x00" * 32) is MediaKind.VIDEO
    assert sniff_bytes(b"RIFF\x00\x00\x00\x00AVI LIST") is MediaKind.VIDEO


def test_a_pdf_is_a_text_document_even_with_binary_bytes(tmp_path: Path) -> None:
    path = tmp_path / "scan"
    path.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Length 4 >>\nstream\n\x00\x01\xff\x00\nendstream\n")
    assert sniff(path) is MediaKind.TEXT


def test_text_that_merely_mentions_pdf_is_text_and_binary_that_does_is_not() -> None:
    assert sniff_bytes(b"%PDF is how a PDF starts\n") is MediaKind.TEXT
    assert sniff_bytes(b"\x00%PDF-1.7\n") is MediaKind.UNKNOWN


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("a/b/Photo.JPG", MediaKind.IMAGE),
        ("clip.mp4", MediaKind.VIDEO),
        ("talk.wav", MediaKind.AUDIO),
        ("README.md", MediaKind.TEXT),
        ("papers/Attention.PDF", MediaKind.TEXT),
        ("archive.zip", None),
        ("no-extension", None),
    ],
)
def test_kind_from_name_reads_the_extension(name: str, kind: MediaKind | None) -> None:
    assert kind_from_name(name) is kind
