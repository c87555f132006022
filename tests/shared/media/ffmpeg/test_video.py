"""shared/media/ffmpeg/video.py: frames sampled by fps, keyframes or scene, with their own times, as JPEGs."""

from __future__ import annotations

import re
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from shared.errors import TooLarge, UnsupportedMedia
from shared.media.ffmpeg import Frame, frames, probe, reaches
from tests.shared.media.ffmpeg.clips import (
    CLIP_FPS,
    TIMEOUT_S,
    growing_video,
    options,
    picture,
    sample,
    source_frame,
    times,
)


def test_fps_sampling_yields_n_frames_per_second_with_their_own_times(media: dict[str, Path]) -> None:
    found = sample(media["clip"], fps=2.0)
    assert times(found) == [i / 2 for i in range(12)]
    assert [source_frame(frame) for frame in found] == [round(frame.time_s * CLIP_FPS) for frame in found]


@pytest.mark.parametrize(
    ("start_s", "end_s", "expected"),
    [
        (2.35, 4.35, [2.4, 2.9, 3.4, 3.9]),  # ticks 2.35 + i/2: the first frame at or after each
        (1.95, 4.0, [2.0, 2.5, 3.0, 3.5]),  # the frame at exactly end_s belongs to the next window
        (4.0, None, [4.0, 4.5, 5.0, 5.5]),
    ],
)
def test_fps_sampling_of_a_window_gives_absolute_times_inside_it(
    media: dict[str, Path], start_s: float, end_s: float | None, expected: list[float]
) -> None:
    found = sample(media["clip"], start_s=start_s, end_s=end_s, fps=2.0)
    assert times(found) == expected
    assert [source_frame(frame) for frame in found] == [round(t * CLIP_FPS) for t in expected]


def test_keyframes_sampling_yields_exactly_the_keyframes(media: dict[str, Path]) -> None:
    found = sample(media["clip"], sampling="keyframes")
    assert times(found) == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    assert [source_frame(frame) for frame in found] == [0, 10, 20, 30, 40, 50]
    assert times(sample(media["clip"], sampling="keyframes", start_s=2.5, end_s=5.0)) == [3.0, 4.0]


def test_scene_sampling_keeps_the_first_frame_and_each_cut(media: dict[str, Path]) -> None:
    found = sample(media["scenes"], sampling="scene")
    assert times(found) == pytest.approx([0.0, 2.0, 4.0], abs=0.11)
    colours = [picture(frame).convert("RGB").getpixel((16, 16)) for frame in found]
    assert [int(np.argmax(colour)) for colour in colours] == [0, 1, 2]  # red, lime, blue
    assert times(sample(media["scenes"], sampling="scene", start_s=1.0, end_s=3.0)) == pytest.approx(
        [1.0, 2.0], abs=0.11
    )


@pytest.mark.parametrize(("name", "size_px"), [("clip", 32), ("scenes", 32), ("clip", 100)])
def test_frames_are_jpegs_scaled_to_the_shorter_side(media: dict[str, Path], name: str, size_px: int) -> None:
    found = sample(media[name], size_px=size_px, sampling="keyframes")
    assert found
    for frame in found:
        image = picture(frame)
        assert image.format == "JPEG"
        assert min(image.size) == size_px
        assert max(image.size) % 2 == 0
        assert max(image.size) / min(image.size) == pytest.approx(64 / 48, abs=0.05)  # both are 4:3


def test_a_window_past_the_end_yields_nothing(media: dict[str, Path]) -> None:
    assert sample(media["clip"], start_s=10.0, end_s=20.0) == []


def test_frames_of_audio_only_is_unsupported(media: dict[str, Path]) -> None:
    with pytest.raises(UnsupportedMedia, match=r"^no video stream$"):
        sample(media["song"])


def test_frames_of_an_unknown_video_codec_are_unsupported_and_name_it(media: dict[str, Path]) -> None:
    found = probe(media["unknown_video"], timeout_s=TIMEOUT_S)
    assert (found.video, found.width, found.height) == ("none", 32, 32)
    with pytest.raises(UnsupportedMedia) as raised:
        sample(media["unknown_video"])
    assert str(raised.value) == "unsupported video codec none (0x5A5A5A5A): this ffmpeg build has no decoder for it"


def test_memory_does_not_grow_with_the_duration(media: dict[str, Path]) -> None:
    def peak(path: Path) -> tuple[int, int]:
        """Frames seen and the peak of Python memory while they stream by, each dropped once seen."""
        tracemalloc.start()
        try:
            count = sum(1 for _ in frames(path, **options(fps=1.0, size_px=120)))  # ~5 KB per JPEG
            return count, tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    short_count, short_peak = peak(media["short"])
    long_count, long_peak = peak(media["long"])
    assert (short_count, long_count) == (30, 300)
    # Ten times the frames: anything kept per frame (JPEGs, log lines) would add well over a megabyte.
    assert long_peak < 2 * short_peak + 64 * 1024, (short_peak, long_peak)


def test_frames_past_the_length_limit_fail_naming_it(media: dict[str, Path]) -> None:
    with pytest.raises(TooLarge, match="MMINDEX_MEDIA__MAX_DURATION_S"):
        sample(media["clip"], max_s=3.0)
    assert len(sample(media["clip"], max_s=6.0)) == 12


def test_a_video_whose_frames_grow_past_the_pixel_limit_fails_naming_it(tmp_path: Path) -> None:
    path = growing_video(tmp_path / "growing.mkv")
    found = probe(path, timeout_s=TIMEOUT_S)
    assert (found.width, found.height) == (64, 64)
    assert len(sample(path, fps=25.0)) == 6  # without a limit, all six frames
    kept: list[Frame] = []
    with pytest.raises(TooLarge, match=r"MMINDEX_VIDEO__MAX_FRAME_PIXELS\)$") as raised:
        kept.extend(frames(path, **options(fps=25.0, max_pixels=1_000_000)))
    message = "a frame of growing.mkv is 40[0-9][0-9]x4000 pixels, over the limit of 1000000 "  # ffmpeg may count
    assert re.fullmatch(message + r"\(MMINDEX_VIDEO__MAX_FRAME_PIXELS\)", str(raised.value))  # a row's padding
    assert len(kept) <= 3 and all(np.asarray(picture(frame).convert("L")).mean() < 64 for frame in kept)
    with pytest.raises(TooLarge, match="MMINDEX_VIDEO__MAX_FRAME_PIXELS"):  # a seek into the big frames
        reaches(path, 0.13, stream="video", timeout_s=TIMEOUT_S, max_pixels=1_000_000)
    assert reaches(path, 0.0, stream="video", timeout_s=TIMEOUT_S, max_pixels=16_000_000)
