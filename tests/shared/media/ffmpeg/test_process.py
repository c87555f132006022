"""shared/media/ffmpeg/process.py: ffmpeg stopped when its consumer stops, and killed past its time limit."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from shared.errors import TooLarge
from shared.media.ffmpeg import frames, pcm, probe
from tests.shared.media.ffmpeg.clips import options, sample


def test_stopping_early_stops_ffmpeg(media: dict[str, Path]) -> None:
    before = {child.pid for child in psutil.Process().children()}
    iterator = frames(media["long"], **options(fps=5.0))
    first = next(iterator)
    assert first.time_s == 0.0
    assert {child.pid for child in psutil.Process().children()} - before  # ffmpeg is running
    iterator.close()
    assert {child.pid for child in psutil.Process().children()} == before


def test_frames_past_the_time_limit_fail_within_it(media: dict[str, Path]) -> None:
    started = time.monotonic()
    with pytest.raises(TooLarge) as raised:
        sample(media["long"], fps=5.0, timeout_s=0.05)
    assert time.monotonic() - started < 3
    message = str(raised.value)
    assert message.startswith("ffmpeg took longer than 0.05 s on long.mp4 (frames from 0 s)")
    assert "MMINDEX_MEDIA__FFMPEG_TIMEOUT_S" in message
    assert "\n" not in message


@pytest.mark.parametrize("run", [probe, pcm])
def test_probe_and_pcm_past_the_time_limit_fail(media: dict[str, Path], run: Any) -> None:
    started = time.monotonic()
    with pytest.raises(TooLarge, match=r"^ffmpeg took longer than 0\.001 s on long\.mp4 "):
        run(media["long"], timeout_s=0.001)
    assert time.monotonic() - started < 3
