"""Cutting ffmpeg's stream of concatenated JPEGs (`-f image2pipe -c:v mjpeg`) into whole images as it arrives."""

from __future__ import annotations

from shared.errors import CorruptMedia


class JpegSplitter:
    """Cuts ffmpeg's stream of concatenated JPEGs into whole images, as the bytes arrive.

    It walks the marker segments by their lengths (so a 0xFFD9 inside a header, a comment or EXIF data, does not
    end an image) and, in entropy-coded data, stops at the first marker that is not stuffing (FF00), a restart
    (FFD0–FFD7) or fill; only the end-of-image marker FFD9 there completes the image.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._pos = 0  # where parsing resumes; 0 = looking for the start of an image
        self._entropy = False  # inside entropy-coded data (after a start-of-scan header)

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        images = []
        while (image := self._next_image()) is not None:
            images.append(image)
        return images

    def _next_image(self) -> bytes | None:
        buffer = self._buffer
        if self._pos == 0:
            start = buffer.find(b"\xff\xd8")
            if start < 0:
                del buffer[: max(len(buffer) - 1, 0)]  # keep a trailing 0xFF: it may start the next image
                return None
            del buffer[:start]
            self._pos = 2
        while True:
            if self._entropy:
                marker = self._end_of_entropy()
                if marker is None:
                    return None
                self._entropy = False
                self._pos = marker
            pos = self._pos
            while pos + 1 < len(buffer) and buffer[pos] == 0xFF and buffer[pos + 1] == 0xFF:
                pos += 1  # fill bytes before a marker
            if pos + 1 >= len(buffer):
                self._pos = pos
                return None
            if buffer[pos] != 0xFF:
                raise CorruptMedia("ffmpeg wrote a malformed JPEG stream (a segment does not start with a marker)")
            marker_code = buffer[pos + 1]
            if marker_code == 0xD9:  # end of image
                image = bytes(buffer[: pos + 2])
                del buffer[: pos + 2]
                self._pos = 0
                return image
            if marker_code == 0x01 or 0xD0 <= marker_code <= 0xD7:  # markers without a length
                self._pos = pos + 2
                continue
            if pos + 4 > len(buffer):
                self._pos = pos
                return None
            self._pos = pos + 2 + int.from_bytes(buffer[pos + 2 : pos + 4], "big")
            self._entropy = marker_code == 0xDA  # start of scan: entropy-coded data follows its header
            if self._pos > len(buffer):
                if self._entropy:
                    self._entropy = False  # re-enter the segment walk once the scan header has arrived
                    self._pos = pos
                return None

    def _end_of_entropy(self) -> int | None:
        """Offset of the marker that ends the entropy-coded data, or None until more bytes arrive."""
        buffer = self._buffer
        pos = self._pos
        while True:
            ff = buffer.find(b"\xff", pos)
            if ff < 0 or ff + 1 >= len(buffer):
                self._pos = ff if ff >= 0 else len(buffer)
                return None
            following = buffer[ff + 1]
            if following == 0x00 or 0xD0 <= following <= 0xD7:
                pos = ff + 2  # stuffed 0xFF or a restart marker: still entropy-coded data
            elif following == 0xFF:
                pos = ff + 1  # fill
            else:
                return ff
