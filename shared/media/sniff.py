"""What a file is, read from its first bytes, never from its name."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from shared.media import MediaKind

_IMAGE_MAGIC: tuple[bytes, ...] = (
    b"\xff\xd8\xff",  # JPEG
    b"\x89PNG\r\n\x1a\n",
    b"GIF87a",
    b"GIF89a",
    b"BM",  # BMP
    b"II*\x00",  # TIFF, little-endian
    b"MM\x00*",  # TIFF, big-endian
)
_AUDIO_MAGIC: tuple[bytes, ...] = (b"ID3", b"fLaC", b"OggS", b"\xff\xfb", b"\xff\xf3", b"\xff\xf2")
_VIDEO_MAGIC: tuple[bytes, ...] = (b"\x1a\x45\xdf\xa3",)  # Matroska / WebM
PDF_MAGIC = b"%PDF-"  # a document whose text layer is indexed as text, binary as its bytes are

_EXTENSIONS: dict[str, MediaKind] = {
    **dict.fromkeys(
        (".jpg", ".jpeg", ".png", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".heic", ".avif"), MediaKind.IMAGE
    ),
    **dict.fromkeys((".mp4", ".mov", ".mkv", ".webm", ".avi", ".m4v"), MediaKind.VIDEO),
    **dict.fromkeys((".wav", ".mp3", ".flac", ".ogg", ".m4a", ".aac", ".opus"), MediaKind.AUDIO),
    **dict.fromkeys((".txt", ".md", ".markdown", ".pdf"), MediaKind.TEXT),
}


def kind_from_name(name: str) -> MediaKind | None:
    """The kind a file's extension claims, if it claims one."""
    return _EXTENSIONS.get(PurePosixPath(name).suffix.lower())


def _looks_like_text(head: bytes) -> bool:
    if b"\x00" in head:
        return False
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as error:
        # A multi-byte character cut at the end of the sample is still text.
        return error.start >= len(head) - 3
    return True


def sniff_bytes(head: bytes) -> MediaKind:
    """The kind of content that starts with `head`."""
    if not head:
        return MediaKind.EMPTY
    if head.startswith(_IMAGE_MAGIC) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP"):
        return MediaKind.IMAGE
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in {b"heic", b"heix", b"mif1", b"avif"}:
            return MediaKind.IMAGE
        if brand in {b"M4A ", b"M4B "}:
            return MediaKind.AUDIO
        return MediaKind.VIDEO
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return MediaKind.AUDIO
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return MediaKind.VIDEO
    if head.startswith(_VIDEO_MAGIC):
        return MediaKind.VIDEO
    if head.startswith(_AUDIO_MAGIC):
        return MediaKind.AUDIO
    if head.startswith(PDF_MAGIC):
        return MediaKind.TEXT
    if _looks_like_text(head):
        return MediaKind.TEXT
    return MediaKind.UNKNOWN


SNIFF_BYTES = 4096
"""How much of a file's start `sniff` reads."""


def sniff(path: Path) -> MediaKind:
    """The kind of the file at `path`, from its content."""
    with path.open("rb") as handle:
        return sniff_bytes(handle.read(SNIFF_BYTES))
