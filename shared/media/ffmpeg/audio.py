"""Audio through ffmpeg: a stream decoded to float mono samples, whole (`pcm`) or a chunk at a time
(`pcm_chunks`), and samples encoded as a compact recording (`write_audio`)."""

from __future__ import annotations

import functools
import subprocess
from collections.abc import Iterator
from pathlib import Path

import ffmpeg
import numpy as np

from shared.media.ffmpeg.failures import Line, failure
from shared.media.ffmpeg.inputs import Source, open_input, window
from shared.media.ffmpeg.limits import stop, too_long
from shared.media.ffmpeg.process import CHUNK, QUIET, Process, ffmpeg_exe, run


def pcm(
    path: Source, *, start_s: float = 0.0, end_s: float | None = None, timeout_s: float, rate: int = 16000
) -> np.ndarray:
    """The first audio stream of `path` in [start_s, end_s) as float32 mono samples in [-1, 1) at `rate` Hz.

    A recording without samples (e.g. a WAV header with an empty data chunk) gives an empty array: the caller
    decides that a zero-length recording is a failure. Raises `UnsupportedMedia("no audio stream")` when there is
    no audio, `UnsupportedMedia` naming the codec when ffmpeg has no decoder for it, `CorruptMedia` when decoding
    fails, `TooLarge` past `timeout_s`.
    """
    stream = open_input(path, **window(start_s, end_s))["a:0"]
    output = stream.output("pipe:", format="s16le", acodec="pcm_s16le", ac=1, ar=rate)
    args: list[str] = output.compile(cmd=[ffmpeg_exe(), *QUIET, "-loglevel", "level+warning"])
    what = f"audio {start_s:g}–{end_s:g} s" if end_s is not None else f"audio from {start_s:g} s"
    result = run(args, path=path, what=what, timeout_s=timeout_s)
    if result.returncode != 0:
        lines = [Line.parse(raw) for raw in result.stderr.decode("utf-8", "replace").splitlines()]
        raise failure(lines, path=path, subject="audio")
    samples = np.frombuffer(result.stdout, dtype="<i2", count=len(result.stdout) // 2)
    return samples.astype(np.float32) / np.float32(32768.0)


def pcm_chunks(
    path: Source,
    *,
    start_s: float = 0.0,
    end_s: float | None = None,
    chunk_s: float,
    max_s: float | None = None,
    timeout_s: float,
    rate: int = 16000,
) -> Iterator[np.ndarray]:
    """`pcm` as it is decoded, in chunks of `chunk_s` seconds (the last one shorter), so memory holds one chunk
    however long the audio is. No chunk at all for a recording without samples.

    ffmpeg waits while the consumer works on a chunk, and `timeout_s` counts only the time it runs. `max_s`: how
    long the audio may be at most (`MMINDEX_MEDIA__MAX_DURATION_S`), whatever its container says: ffmpeg stops
    just past it, and audio that goes on past it raises `TooLarge` naming the setting. Other errors as `pcm`.
    """
    stream = open_input(path, **window(start_s, stop(end_s, max_s)))["a:0"]
    output = stream.output("pipe:", format="s16le", acodec="pcm_s16le", ac=1, ar=rate)
    args: list[str] = output.compile(cmd=[ffmpeg_exe(), *QUIET, "-loglevel", "level+warning"])
    what = f"audio {start_s:g}–{end_s:g} s" if end_s is not None else f"audio from {start_s:g} s"
    chunk_bytes = 2 * max(1, round(chunk_s * rate))
    limit = None if max_s is None or (end_s is not None and end_s <= max_s) else 2 * round((max_s - start_s) * rate)
    decoded = 0
    with Process(args, timeout_s=timeout_s) as process:
        pending = bytearray()
        while data := process.read(CHUNK):
            pending += data
            decoded += len(data)
            if limit is not None and decoded > limit + 2 * rate // 10:  # a tenth of a second: resampler rounding
                assert max_s is not None
                raise too_long(path, max_s)
            while len(pending) >= chunk_bytes:
                chunk = _floats(pending[:chunk_bytes])
                del pending[:chunk_bytes]
                with process.paused():
                    yield chunk
        process.finish(path=path, what=what, subject="audio")
    if len(pending) >= 2:
        yield _floats(pending)


def _floats(data: bytes | bytearray) -> np.ndarray:
    samples = np.frombuffer(data, dtype="<i2", count=len(data) // 2)
    return samples.astype(np.float32) / np.float32(32768.0)


def write_audio(samples: np.ndarray, rate: int, *, timeout_s: float) -> bytes:
    """Float mono samples at `rate` Hz as a compact self-describing file: Ogg/Opus at 32 kb/s (FLAC if the ffmpeg
    build has no libopus). Used to send a short query recording; ffmpeg resamples to a rate Opus accepts.

    Samples outside [-1, 1] are clipped. Raises `ValueError` for anything but one channel of samples, and
    `TooLarge` past `timeout_s`.
    """
    if samples.ndim != 1:
        raise ValueError(f"write_audio takes mono samples (one dimension), got shape {samples.shape}")
    data = np.clip(np.nan_to_num(samples.astype(np.float32)), -1.0, 1.0).astype("<f4").tobytes()
    stream = ffmpeg.input("pipe:", format="f32le", ar=rate, ac=1)
    if _has_encoder("libopus"):
        output = stream.output("pipe:", format="ogg", acodec="libopus", audio_bitrate="32k")
    else:
        output = stream.output("pipe:", format="flac", acodec="flac")
    args: list[str] = output.compile(cmd=[ffmpeg_exe(), "-hide_banner", "-nostats", "-loglevel", "level+warning"])
    recording = Path("recording")
    result = run(args, path=recording, what="encoding audio", timeout_s=timeout_s, stdin=data)
    if result.returncode != 0:
        lines = [Line.parse(raw) for raw in result.stderr.decode("utf-8", "replace").splitlines()]
        raise failure(lines, path=recording, subject="audio")
    return result.stdout


@functools.cache
def _has_encoder(name: str) -> bool:
    listing = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-encoders"], capture_output=True, check=False, timeout=30
    ).stdout.decode("utf-8", "replace")
    return any(line.split()[1:2] == [name] for line in listing.splitlines())
