"""shared/media/ffmpeg.py against the real ffmpeg, on tiny media synthesised here with lavfi.

The main clip encodes time in its pixels: frame n (at n/10 s) is a flat grey of luma 16 + 3n, so a test can tell
from a JPEG alone which source frame it is and check that each frame carries its own time.
"""

from __future__ import annotations

import io
import re
import struct
import subprocess
import time
import tracemalloc
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest
from PIL import Image

from shared.errors import CorruptMedia, SourceNotFound, TooLarge, UnsupportedMedia
from shared.media.ffmpeg import (
    Frame,
    _JpegSplitter,
    ffmpeg_exe,
    frames,
    pcm,
    pcm_chunks,
    probe,
    reaches,
    write_audio,
)

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


def write_wav(path: Path, samples: np.ndarray, rate: int = 8000) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(samples.tobytes())
    return path


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


# ---------------------------------------------------------------- probe


def test_probe_reads_duration_streams_and_size(media: dict[str, Path]) -> None:
    found = probe(media["clip"], timeout_s=TIMEOUT_S)
    assert found.video == "h264"
    assert found.audio == "aac"
    assert (found.width, found.height) == (64, 48)
    assert found.duration_s == pytest.approx(6.0, abs=0.1)


def test_probe_of_audio_with_cover_art_has_no_video(media: dict[str, Path]) -> None:
    found = probe(media["song"], timeout_s=TIMEOUT_S)
    assert (found.video, found.audio, found.width, found.height) == (None, "mp3", None, None)
    assert found.duration_s == pytest.approx(1.0, abs=0.1)


def test_probe_without_a_known_duration_says_none(media: dict[str, Path]) -> None:
    found = probe(media["empty"], timeout_s=TIMEOUT_S)
    assert (found.duration_s, found.audio, found.video) == (None, "pcm_s16le", None)


def test_probe_returns_a_codec_it_cannot_decode(media: dict[str, Path]) -> None:
    assert probe(media["unknown"], timeout_s=TIMEOUT_S).audio == "none"


# ---------------------------------------------------------------- frames


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


def test_stopping_early_stops_ffmpeg(media: dict[str, Path]) -> None:
    before = {child.pid for child in psutil.Process().children()}
    iterator = frames(media["long"], **options(fps=5.0))
    first = next(iterator)
    assert first.time_s == 0.0
    assert {child.pid for child in psutil.Process().children()} - before  # ffmpeg is running
    iterator.close()
    assert {child.pid for child in psutil.Process().children()} == before


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


def test_jpeg_splitting_survives_any_chunking_and_end_markers_in_headers() -> None:
    images = []
    for colour in ("red", "green", "blue"):
        out = io.BytesIO()
        # A comment holding the end-of-image marker: a naive split at FFD9 would cut the image there.
        Image.new("RGB", (17, 9), colour).save(out, "JPEG", comment=b"tricky \xff\xd9 comment")
        images.append(out.getvalue())
    stream = b"".join(images)
    for size in (1, 2, 7, 300, len(stream)):
        splitter = _JpegSplitter()
        found = [
            image for start in range(0, len(stream), size) for image in splitter.feed(stream[start : start + size])
        ]
        assert found == images, size


# ---------------------------------------------------------------- audio


def test_pcm_is_float_mono_at_the_rate_asked(media: dict[str, Path]) -> None:
    samples = pcm(media["clip"], timeout_s=TIMEOUT_S)
    assert samples.dtype == np.float32
    assert samples.ndim == 1
    assert len(samples) == pytest.approx(6 * 16000, rel=0.01)
    assert -0.2 < samples.min() < -0.1 and 0.1 < samples.max() < 0.2  # lavfi's sine has amplitude 1/8
    spectrum = np.abs(np.fft.rfft(samples))
    assert np.argmax(spectrum) * 16000 / len(samples) == pytest.approx(440, abs=2)


def test_pcm_of_a_window_at_another_rate(media: dict[str, Path]) -> None:
    samples = pcm(media["clip"], start_s=1.0, end_s=3.5, timeout_s=TIMEOUT_S, rate=8000)
    assert len(samples) == pytest.approx(2.5 * 8000, rel=0.01)


def test_pcm_of_a_zero_length_recording_is_empty(media: dict[str, Path]) -> None:
    samples = pcm(media["empty"], timeout_s=TIMEOUT_S)
    assert samples.dtype == np.float32
    assert samples.shape == (0,)


def test_pcm_without_audio_is_unsupported(media: dict[str, Path]) -> None:
    with pytest.raises(UnsupportedMedia, match=r"^no audio stream$"):
        pcm(media["scenes"], timeout_s=TIMEOUT_S)


def test_pcm_of_an_unknown_codec_is_unsupported_and_names_it(media: dict[str, Path]) -> None:
    with pytest.raises(UnsupportedMedia) as raised:
        pcm(media["unknown"], timeout_s=TIMEOUT_S)
    assert str(raised.value) == "unsupported audio codec none (0x1234): this ffmpeg build has no decoder for it"


def test_pcm_chunks_are_the_same_samples_a_chunk_at_a_time(media: dict[str, Path]) -> None:
    chunks = list(pcm_chunks(media["clip"], start_s=1.0, chunk_s=2.0, timeout_s=TIMEOUT_S))
    assert [len(chunk) for chunk in chunks[:-1]] == [32000, 32000]
    assert np.array_equal(np.concatenate(chunks), pcm(media["clip"], start_s=1.0, timeout_s=TIMEOUT_S))
    assert list(pcm_chunks(media["empty"], chunk_s=2.0, timeout_s=TIMEOUT_S)) == []


def test_pcm_chunks_past_the_length_limit_fail_naming_it(media: dict[str, Path]) -> None:
    with pytest.raises(TooLarge, match=r"past 4 s, the length limit \(MMINDEX_MEDIA__MAX_DURATION_S\)"):
        list(pcm_chunks(media["clip"], chunk_s=1.0, max_s=4.0, timeout_s=TIMEOUT_S))
    assert len(np.concatenate(list(pcm_chunks(media["clip"], chunk_s=1.0, max_s=6.0, timeout_s=TIMEOUT_S)))) > 0
    # A window that ends before the limit is not affected by it.
    assert list(pcm_chunks(media["clip"], end_s=3.0, chunk_s=5.0, max_s=4.0, timeout_s=TIMEOUT_S))


def test_frames_past_the_length_limit_fail_naming_it(media: dict[str, Path]) -> None:
    with pytest.raises(TooLarge, match="MMINDEX_MEDIA__MAX_DURATION_S"):
        sample(media["clip"], max_s=3.0)
    assert len(sample(media["clip"], max_s=6.0)) == 12


def test_reaches_tells_where_the_media_really_ends(media: dict[str, Path]) -> None:
    assert reaches(media["clip"], 5.0, stream="audio", timeout_s=TIMEOUT_S)
    assert reaches(media["clip"], 5.5, stream="video", timeout_s=TIMEOUT_S)
    assert not reaches(media["clip"], 7.0, stream="audio", timeout_s=TIMEOUT_S)
    assert not reaches(media["clip"], 3600.0, stream="video", timeout_s=TIMEOUT_S)
    with pytest.raises(UnsupportedMedia, match="no audio stream"):  # not "it ends before 0 s"
        reaches(media["scenes"], 0.0, stream="audio", timeout_s=TIMEOUT_S)


class _Refusing:
    """A local HTTP server that answers every request with `status`, as a busy object store does."""

    def __init__(self, status: int) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("stream", ["audio", "video"])
def test_reaches_over_a_store_that_answers_503_is_retried_not_read_as_the_end(stream: Any) -> None:
    """A seek that fails for now would otherwise plan a long recording as one window, and a redelivered planning
    task could plan a different number of windows for the same version."""
    from shared.errors import RetryableError
    from shared.media.ffmpeg import Remote

    store = _Refusing(503)
    try:
        remote = Remote(f"http://127.0.0.1:{store.port}/talk.mkv?X-Amz-Signature=secret", "talk.mkv")
        with pytest.raises(RetryableError, match=r"^reading talk\.mkv over HTTP failed for now") as failed:
            reaches(remote, 3600.0, stream=stream, timeout_s=TIMEOUT_S)
    finally:
        store.close()
    assert "127.0.0.1" not in str(failed.value) and "Signature" not in str(failed.value)


def test_reaches_over_a_dropped_connection_is_retried() -> None:
    import socket

    from shared.errors import RetryableError
    from shared.media.ffmpeg import Remote

    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # nothing listens there once it is closed: the connection is refused
    with pytest.raises(RetryableError, match=r"talk\.mkv"):
        reaches(Remote(f"http://127.0.0.1:{port}/talk.mkv", "talk.mkv"), 60.0, stream="audio", timeout_s=TIMEOUT_S)


# ---------------------------------------------------------------- frame size


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


def test_write_audio_gives_a_small_ogg_opus_that_decodes_back(tmp_path: Path) -> None:
    tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)).astype(np.float32)
    encoded = write_audio(tone, 16000, timeout_s=TIMEOUT_S)
    assert encoded.startswith(b"OggS")
    assert len(encoded) < 16000 * 2 / 4  # well under the 16-bit PCM size
    path = tmp_path / "query.ogg"
    path.write_bytes(encoded)
    assert probe(path, timeout_s=TIMEOUT_S).audio == "opus"
    decoded = pcm(path, timeout_s=TIMEOUT_S)
    assert len(decoded) == pytest.approx(16000, rel=0.05)
    spectrum = np.abs(np.fft.rfft(decoded))
    assert np.argmax(spectrum) * 16000 / len(decoded) == pytest.approx(440, abs=3)


def test_write_audio_takes_mono_only() -> None:
    with pytest.raises(ValueError, match="mono"):
        write_audio(np.zeros((2, 100), dtype=np.float32), 16000, timeout_s=TIMEOUT_S)


# ---------------------------------------------------------------- failures


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("random", "invalid data found when processing input"),
        ("truncated", "moov atom not found"),
        ("text", "moov atom not found"),  # named .mp4, so the MP4 demuxer tries it
    ],
)
def test_unreadable_input_is_corrupt_with_a_one_line_reason(media: dict[str, Path], name: str, reason: str) -> None:
    attempts = {
        "media": lambda: probe(media[name], timeout_s=TIMEOUT_S),
        "video": lambda: sample(media[name]),
        "audio": lambda: pcm(media[name], timeout_s=TIMEOUT_S),
    }
    for subject, attempt in attempts.items():
        with pytest.raises(CorruptMedia) as raised:
            attempt()
        assert str(raised.value) == f"corrupt or truncated {subject}: {reason}"


def test_a_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(SourceNotFound, match=r"^gone\.mp4: no such file$"):
        probe(tmp_path / "gone.mp4", timeout_s=TIMEOUT_S)
    with pytest.raises(SourceNotFound, match=r"^gone\.mp4: no such file$"):
        sample(tmp_path / "gone.mp4")


def test_frames_past_the_time_limit_fail_within_it(media: dict[str, Path]) -> None:
    started = time.monotonic()
    with pytest.raises(TooLarge) as raised:
        sample(media["long"], fps=5.0, timeout_s=0.05)
    assert time.monotonic() - started < 3
    message = str(raised.value)
    assert message.startswith("ffmpeg took longer than 0.05 s on long.mp4 (frames from 0 s)")
    assert "MMINDEX_MEDIA__FFMPEG_TIMEOUT_S" in message
    assert "\n" not in message


def test_a_playlist_cannot_make_ffmpeg_fetch_urls(tmp_path: Path) -> None:
    playlist = tmp_path / "clip.m3u8"
    playlist.write_text("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nhttp://127.0.0.1:9/seg.ts\n#EXT-X-ENDLIST\n")
    # A local playlist is not even opened as one: only the demuxers of the containers sniffing admits may run.
    with pytest.raises(CorruptMedia, match=r"^corrupt or truncated media: format not on whitelist 'mov,matroska,"):
        probe(playlist, timeout_s=TIMEOUT_S)


@pytest.mark.parametrize("run", [probe, pcm])
def test_probe_and_pcm_past_the_time_limit_fail(media: dict[str, Path], run: Any) -> None:
    started = time.monotonic()
    with pytest.raises(TooLarge, match=r"^ffmpeg took longer than 0\.001 s on long\.mp4 "):
        run(media["long"], timeout_s=0.001)
    assert time.monotonic() - started < 3


@pytest.fixture(autouse=True)
def no_ffmpeg_left_behind() -> Iterator[None]:
    """Whatever a test does, it leaves no ffmpeg running."""
    before = {child.pid for child in psutil.Process().children()}
    yield
    assert {child.pid for child in psutil.Process().children()} <= before


# ---------------------------------------------------------------- remote files


def test_a_window_is_read_from_a_presigned_url_like_the_local_file(
    media: dict[str, Path], s3_endpoint: str, bucket: str
) -> None:
    import boto3

    from shared.config import Settings
    from shared.media.ffmpeg import Remote
    from shared.storage.s3 import S3Storage

    boto3.client("s3", endpoint_url=s3_endpoint).put_object(
        Bucket=bucket, Key="clips/clip.mp4", Body=media["clip"].read_bytes()
    )
    storage = S3Storage(Settings(s3={"endpoint_url": s3_endpoint}))
    media_url = storage.media_url(f"s3://{bucket}/clips/clip.mp4", expires_s=600)
    assert media_url is not None and media_url.url.startswith(s3_endpoint) and media_url.headers == ()
    url = media_url.url
    remote = Remote(url, "clip.mp4")

    assert probe(remote, timeout_s=TIMEOUT_S) == probe(media["clip"], timeout_s=TIMEOUT_S)
    window = {"start_s": 2.0, "end_s": 4.0}
    here, there = sample(media["clip"], **window), list(frames(remote, **options(**window)))
    assert times(there) == times(here) == [2.0, 2.5, 3.0, 3.5]
    assert [source_frame(frame) for frame in there] == [source_frame(frame) for frame in here]
    sound = pcm(remote, start_s=1.0, end_s=2.0, timeout_s=TIMEOUT_S)
    assert np.array_equal(sound, pcm(media["clip"], start_s=1.0, end_s=2.0, timeout_s=TIMEOUT_S)) and len(sound)

    gone = Remote(url.replace("clip.mp4", "missing.mp4"), "missing.mp4")
    with pytest.raises(SourceNotFound, match=r"missing\.mp4"):
        probe(gone, timeout_s=TIMEOUT_S)


class _Counting:
    """A local HTTP server that serves one body at /clip.mp4 and counts every request made to it, by path."""

    def __init__(self, body: bytes) -> None:
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        self.requests: list[str] = []
        requests = self.requests

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                requests.append(self.path)
                data = body if self.path.startswith("/clip.mp4") else b"\x47" * 188
                self.send_response(200)
                # The type an uploader can give an object in S3; ffmpeg reads a playlist by its type or extension.
                self.send_header("Content-Type", "application/vnd.apple.mpegurl")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("run", [probe, pcm, lambda remote, timeout_s: list(frames(remote, **options()))])
def test_a_remote_playlist_cannot_make_ffmpeg_fetch_the_urls_it_names(run: Any) -> None:
    from shared.media.ffmpeg import Remote

    inside = _Counting(b"")
    playlist = (
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n"
        f"http://127.0.0.1:{inside.port}/latest/meta-data/seg.ts\n#EXT-X-ENDLIST\n"
    )
    outside = _Counting(playlist.encode())
    try:
        remote = Remote(f"http://127.0.0.1:{outside.port}/clip.mp4?X-Amz-Signature=secret", "clip.mp4")
        with pytest.raises((CorruptMedia, UnsupportedMedia)) as failed:
            run(remote, timeout_s=TIMEOUT_S)
    finally:
        inside.close()
        outside.close()
    assert inside.requests == []  # the URL the playlist names was never fetched
    assert outside.requests and all(path.startswith("/clip.mp4") for path in outside.requests)
    message = str(failed.value)
    assert "127.0.0.1" not in message and "Signature" not in message and "\n" not in message


def test_a_remote_file_is_read_over_its_own_protocol_only() -> None:
    from shared.media.ffmpeg import Remote

    with pytest.raises(UnsupportedMedia, match=r"^clip\.mp4: cannot be read over file \(HTTP\(S\) only\)$"):
        probe(Remote("file:///etc/passwd", "clip.mp4"), timeout_s=TIMEOUT_S)


def test_a_remote_read_of_a_replaced_object_fails_on_its_etag(
    media: dict[str, Path], s3_endpoint: str, bucket: str
) -> None:
    import boto3

    from shared.config import Settings
    from shared.media.ffmpeg import Remote
    from shared.storage.s3 import S3Storage

    client = boto3.client("s3", endpoint_url=s3_endpoint)
    etag = client.put_object(Bucket=bucket, Key="clips/pinned.mp4", Body=media["clip"].read_bytes())["ETag"]
    storage = S3Storage(Settings(s3={"endpoint_url": s3_endpoint}))
    pinned = storage.media_url(f"s3://{bucket}/clips/pinned.mp4", expires_s=600, version=etag.strip('"'))
    assert pinned is not None and pinned.headers == (("If-Match", etag),)
    remote = Remote(pinned.url, "pinned.mp4", headers=pinned.headers)
    assert probe(remote, timeout_s=TIMEOUT_S) == probe(media["clip"], timeout_s=TIMEOUT_S)

    client.put_object(Bucket=bucket, Key="clips/pinned.mp4", Body=media["short"].read_bytes())
    with pytest.raises(CorruptMedia, match=r"4XX Client Error") as failed:  # 412: the ETag is not the one planned
        probe(remote, timeout_s=TIMEOUT_S)
    assert s3_endpoint not in str(failed.value) and "Signature" not in str(failed.value)
