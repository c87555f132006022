"""shared/media/ffmpeg/still.py: the frame shown at a time `frames` reported, again, at a bounded larger size."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from shared.errors import CorruptMedia, TooLarge, UnsupportedMedia
from shared.media.ffmpeg import Frame, still
from tests.shared.media.ffmpeg.clips import TIMEOUT_S, sample, source_frame


def opened(jpeg: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(jpeg))
    image.load()
    return image


def test_the_still_is_the_frame_sampled_at_that_time(media: dict[str, Path]) -> None:
    sampled = sample(media["clip"], fps=1.5)
    assert len(sampled) >= 8
    for frame in sampled:
        again = Frame(frame.time_s, still(media["clip"], frame.time_s, max_side=64, timeout_s=TIMEOUT_S))
        assert source_frame(again) == source_frame(frame), frame.time_s


@pytest.mark.parametrize(
    ("name", "max_side", "size"),
    [("short", 80, (80, 60)), ("short", 1000, (160, 120)), ("scenes", 32, (24, 32))],
)
def test_the_longer_side_is_at_most_max_side_and_never_enlarged(
    media: dict[str, Path], name: str, max_side: int, size: tuple[int, int]
) -> None:
    assert opened(still(media[name], 1.0, max_side=max_side, timeout_s=TIMEOUT_S)).size == size


def test_no_frame_at_that_time_is_corrupt_media_naming_the_time(media: dict[str, Path]) -> None:
    with pytest.raises(CorruptMedia, match="no video frame at 99 s"):
        still(media["clip"], 99.0, max_side=64, timeout_s=TIMEOUT_S)


@pytest.mark.parametrize("name", ["random", "text", "song"])
def test_what_is_not_a_video_fails_with_a_reason(media: dict[str, Path], name: str) -> None:
    with pytest.raises((CorruptMedia, UnsupportedMedia)) as raised:
        still(media[name], 0.0, max_side=64, timeout_s=TIMEOUT_S)
    assert str(raised.value) and "\n" not in str(raised.value)


def test_a_frame_over_the_pixel_limit_is_too_large(media: dict[str, Path]) -> None:
    with pytest.raises(TooLarge):
        still(media["short"], 1.0, max_side=64, timeout_s=TIMEOUT_S, max_pixels=100)
