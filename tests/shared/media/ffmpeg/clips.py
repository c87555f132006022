"""The media the ffmpeg tests run on, synthesised with lavfi by the real ffmpeg, and how they read frames back.

The main clip encodes time in its pixels: frame n (at n/10 s) is a flat grey of luma 16 + 3n, so a test can tell
from a JPEG alone which source frame it is and check that each frame carries its own time.
"""

from __future__ import annotations

import io
import subprocess
import wave
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from shared.media.ffmpeg import Frame, ffmpeg_exe, frames

TIMEOUT_S = 30.0
CLIP_FPS = 10


def make(path: Path, *args: str) -> Path:
    """Run ffmpeg to synthesise `path` from lavfi sources."""
    command = [ffmpeg_exe(), "-hide_banner", "-nostdin", "-loglevel", "error", "-y", *args, str(path)]
    subprocess.run(command, check=True, timeout=60)
    return path


def x264(gop: int) -> list[str]:
    """Fast H.264 with a keyframe every `gop` frames exactly (no extra keyframes on scene cuts)."""
    return [
        *("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"),
        *("-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0"),
    ]


def write_wav(path: Path, samples: np.ndarray, rate: int = 8000) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return path


def growing_video(path: Path, *, small: int = 64, big: int = 4000) -> Path:
    """Matroska of 3 black MJPEG frames of small x small, then 3 white ones of big x big (at 25 fps): the
    container (and so `probe`) gives the first frames' size only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    parts = []
    for name, side, colour in (("small", small, "black"), ("big", big, "white")):
        part = path.with_name(f"{name}.mjpeg")
        make(part, "-f", "lavfi", "-i", f"color={colour}:s={side}x{side}:r=25:d=0.12", "-c:v", "mjpeg", "-f", "mjpeg")
        parts.append(part.read_bytes())
    joined = path.with_name("joined.mjpeg")
    joined.write_bytes(b"".join(parts))
    return make(path, "-f", "mjpeg", "-i", str(joined), "-c", "copy")


def options(**overrides: Any) -> dict[str, Any]:
    """Keyword arguments for `frames`: 2 fps, 32 px, unless overridden."""
    defaults: dict[str, Any] = {
        "start_s": 0.0,
        "end_s": None,
        "sampling": "fps",
        "fps": 2.0,
        "scene_threshold": 0.3,
        "size_px": 32,
        "timeout_s": TIMEOUT_S,
    }
    return defaults | overrides


def sample(path: Path, **overrides: Any) -> list[Frame]:
    return list(frames(path, **options(**overrides)))


def picture(frame: Frame) -> Image.Image:
    image = Image.open(io.BytesIO(frame.jpeg))
    image.load()
    return image


def source_frame(frame: Frame) -> int:
    """Which frame of the clip this is, read from its grey level (JPEG luma is full range: 16..235 -> 0..255)."""
    luma = float(np.asarray(picture(frame).convert("L"), dtype=np.float64).mean())
    return round(luma * 219 / 255 / 3)


def times(found: list[Frame]) -> list[float]:
    return [round(frame.time_s, 3) for frame in found]
