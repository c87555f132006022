"""workers/decode.py on a long video: a decode worker's peak memory does not grow with the video's length.

A child process does what the decode tasks do with one local video (fetch, sniff, `decode_video` for every
window, thumbnails written to its own MMINDEX_HOME; speech to text off), as `mmindex bench decode` measures
it; its peak resident memory (VmHWM) and its ffmpeg processes' are compared on a 1-minute and a 10-minute clip.

Every frame is sampled (10 a second), so that holding a window's frames in memory would show: a 300 s window
of these thumbnails is about 40 MB of JPEG. Measured here (2 cores, shared): the worker peaked at 76.2 MB on
1 minute and 78.5 MB on 10 minutes (three runs each, within 0.2 MB), ffmpeg at 41.7 and 42.8 MB; the extra
2.3 MB is the window's item list (3000 items instead of 600). The bound leaves room for that and for noise,
not for a window's frames: with `frames` made to hold them all, the worker peaked at 84 and 120 MB.
"""

from __future__ import annotations

import os
from pathlib import Path

from bench.decode import decode_peak_memory, loop_clip
from tests.support.media import ffmpeg

MB = 1024 * 1024
GROWTH = 1.1
SLACK = 12 * MB
"""Long ≤ short × GROWTH + SLACK."""


def test_a_ten_minute_video_keeps_a_decode_worker_s_peak_memory_flat(tmp_path: Path) -> None:
    short = tmp_path / "media" / "minute.mp4"
    ffmpeg(
        *("-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10", "-f", "lavfi", "-i", "sine=frequency=220"),
        *("-t", "60", "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(short)),
    )
    long = loop_clip(short, 10, tmp_path / "media" / "ten-minutes.mp4")
    env = {key: value for key, value in os.environ.items() if not key.startswith("MMINDEX_")}
    env["MMINDEX_VIDEO__FPS"] = "10"  # every frame

    small = decode_peak_memory(short, tmp_path / "home-short", env)
    large = decode_peak_memory(long, tmp_path / "home-long", env)

    assert (small["windows"], small["frames"]) == (1, 600)
    assert large["windows"] >= 2 and large["frames"] == 6000  # decoded in windows, every frame once
    thumbnails = list((tmp_path / "home-long" / "artifacts").rglob("*.jpg"))
    assert len(thumbnails) == 6000
    for what in ("worker_peak_bytes", "ffmpeg_peak_bytes"):
        assert small[what] and large[what], (what, small, large)
        assert large[what] <= small[what] * GROWTH + SLACK, (what, small, large)
