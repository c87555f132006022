"""Fixtures of the ffmpeg tests: the media they read, made once, and a check that no test leaves ffmpeg running."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import psutil
import pytest

from tests.shared.media.ffmpeg.clips import CLIP_FPS, make, write_wav, x264


@pytest.fixture(scope="module")
def media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every input the tests use, made once."""
    root = tmp_path_factory.mktemp("ffmpeg")
    paths = {
        # 6 s, 64x48 at 10 fps, frame n has luma 16 + 3n (lossless, so the grey survives); keyframe every second.
        "clip": make(
            root / "clip.mp4",
            *("-f", "lavfi", "-i", f"color=black:s=64x48:r={CLIP_FPS}:d=6,geq=lum='16+3*N':cb=128:cr=128"),
            *("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000:duration=6"),
            *x264(CLIP_FPS),
            *("-qp", "0", "-c:a", "aac"),
        ),
        # Portrait 48x64: red, lime, blue, two seconds each (three different lumas: scene scores use luma); no audio.
        "scenes": make(
            root / "scenes.mp4",
            "-filter_complex",
            ";".join(f"color={colour}:s=48x64:r=10:d=2[{colour}]" for colour in ("red", "lime", "blue"))
            + ";[red][lime][blue]concat=n=3:v=1:a=0",
            *x264(50),
        ),
        # Audio only, with cover art (an attached picture is not a video).
        "song": make(
            root / "song.mp3",
            *("-f", "lavfi", "-i", "sine=frequency=440:sample_rate=16000:duration=1"),
            *("-f", "lavfi", "-i", "color=red:s=32x32:r=1:d=1"),
            *("-map", "0:a", "-map", "1:v", "-c:a", "libmp3lame", "-c:v", "mjpeg"),
            *("-disposition:v", "attached_pic"),
        ),
        "short": make(root / "short.mp4", "-f", "lavfi", "-i", "testsrc=s=160x120:r=5:d=30", *x264(50)),
        "long": make(root / "long.mp4", "-f", "lavfi", "-i", "testsrc=s=160x120:r=5:d=300", *x264(50)),
    }
    paths["random"] = root / "random.bin"
    paths["random"].write_bytes(np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8).tobytes())
    paths["truncated"] = root / "truncated.mp4"
    paths["truncated"].write_bytes(paths["clip"].read_bytes()[:20_000])  # the moov atom is at the end: lost
    paths["text"] = root / "notes.mp4"
    paths["text"].write_text("this is a shopping list, not a video\n" * 20)
    paths["tone"] = write_wav(root / "tone.wav", np.full(8000, 1000, dtype="<i2"))
    paths["empty"] = write_wav(root / "empty.wav", np.zeros(0, dtype="<i2"))
    # The same tone with WAVE format tag 0x1234, which no decoder claims.
    unknown = bytearray(paths["tone"].read_bytes())
    assert unknown[20:22] == struct.pack("<H", 1)
    unknown[20:22] = struct.pack("<H", 0x1234)
    paths["unknown"] = root / "unknown.wav"
    paths["unknown"].write_bytes(unknown)
    # An AVI whose video FourCC (MJPG) is replaced by one no decoder claims.
    avi = make(root / "mjpeg.avi", "-f", "lavfi", "-i", "color=red:s=32x32:r=5:d=1", "-c:v", "mjpeg").read_bytes()
    assert avi.count(b"MJPG") == 2
    paths["unknown_video"] = root / "unknown.avi"
    paths["unknown_video"].write_bytes(avi.replace(b"MJPG", b"ZZZZ"))
    return paths


@pytest.fixture(autouse=True)
def no_ffmpeg_left_behind() -> Iterator[None]:
    """Whatever a test does, it leaves no ffmpeg running."""
    before = {child.pid for child in psutil.Process().children()}
    yield
    assert {child.pid for child in psutil.Process().children()} <= before
