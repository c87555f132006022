"""shared/media/ffmpeg/jpeg_stream.py: ffmpeg's stream of JPEGs cut into whole images, however it arrives."""

from __future__ import annotations

import io

from PIL import Image

from shared.media.ffmpeg.jpeg_stream import JpegSplitter


def test_jpeg_splitting_survives_any_chunking_and_end_markers_in_headers() -> None:
    images = []
    for colour in ("red", "green", "blue"):
        out = io.BytesIO()
        # A comment holding the end-of-image marker: a naive split at FFD9 would cut the image there.
        Image.new("RGB", (17, 9), colour).save(out, "JPEG", comment=b"tricky \xff\xd9 comment")
        images.append(out.getvalue())
    stream = b"".join(images)
    for size in (1, 2, 7, 300, len(stream)):
        splitter = JpegSplitter()
        found = [
            image for start in range(0, len(stream), size) for image in splitter.feed(stream[start : start + size])
        ]
        assert found == images, size
