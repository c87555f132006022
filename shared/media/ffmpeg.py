"""Video and audio through the ffmpeg command line: probing, frame sampling, PCM, and encoding a recording.

Which ffmpeg: the one on `PATH` if there is one (a system build, e.g. from the distribution), else the static
build inside the `imageio-ffmpeg` wheel, so a plain `pip install` is enough to index video.

Why `probe` parses `ffmpeg -i` instead of asking `ffprobe`: the wheel ships `ffmpeg` alone, without `ffprobe`.
`ffmpeg -hide_banner -i FILE` prints the same container and stream summary on stderr (then exits 1 because no
output was named, which is expected), and the few fields mmindex needs (duration, the first video and audio codec,
the frame size) are stable in that summary across ffmpeg releases.

Every run gets `-loglevel level+…`, so each stderr line carries its level (`[error]`, `[warning]`, …); a failure is
reported as ffmpeg's most specific error line, sorted into `CorruptMedia`, `UnsupportedMedia` or `SourceNotFound`,
and a run past its time limit is killed and fails as `TooLarge`. Commands are argument lists (no shell), and the
input is passed as `file:PATH` so that a name with a colon or a leading dash is never read as a protocol or an
option; it may reference other local files only (`-protocol_whitelist file`), so a playlist cannot make a worker
fetch URLs. An ffmpeg from PATH must be 5.1 or newer (`-fps_mode`, `-loglevel level+…`).
"""

from __future__ import annotations

import contextlib
import functools
import math
import os
import queue
import re
import shutil
import subprocess
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import IO, Any, Literal

import ffmpeg
import imageio_ffmpeg
import numpy as np

from shared.errors import CorruptMedia, PermanentError, RetryableError, SourceNotFound, TooLarge, UnsupportedMedia

_QUIET = ("-hide_banner", "-nostdin", "-nostats")
_CHUNK = 1 << 16
"""Bytes read from ffmpeg's stdout at a time: frames are yielded as they complete, so memory stays flat."""
_ERROR_LINES = 32
"""Warning-or-worse stderr lines kept for the error message (the rest of the log is dropped as it is read)."""
_EPSILON_S = 1e-6
"""Frame times closer than this to a window's end belong to the next window."""
_OVER_S = 0.5
"""How far past the length limit ffmpeg is let decode, so that media going on past it is seen to."""
_ONLY_FILES = "file"
"""Input protocols of a local file: a playlist or reference file in the source cannot make ffmpeg fetch a URL."""
_URL_PROTOCOLS = {"https": "https,tls,tcp", "http": "http,tcp"}
"""Input protocols of a remote file, by its URL's scheme: that URL's protocol and what it runs on, nothing else."""
_DEMUXERS = "mov,matroska,avi,wav,mp3,flac,ogg,aac"
"""Demuxers a file may be read with: the containers whose first bytes `sniff` knows (ISO/QuickTime, Matroska,
AVI, WAV, MP3, FLAC, Ogg, ADTS), none of which names other files to read. Playlists and references (hls, dash,
concat, ...) are refused: content replaced behind a presigned URL cannot make a worker fetch the URLs it names."""


@dataclass(frozen=True)
class Remote:
    """A media file ffmpeg reads over HTTP(S), such as a presigned object URL: it fetches only the byte ranges it
    needs, so one window of a long video does not download the whole file."""

    url: str
    name: str  # what messages call it (the URL holds a signature and never appears in one)
    headers: tuple[tuple[str, str], ...] = ()  # sent with every request, e.g. If-Match: the version planned

    def __str__(self) -> str:
        return self.url


Source = Path | Remote
_TIMEOUT_HINT = "raise MMINDEX_MEDIA__FFMPEG_TIMEOUT_S or lower MMINDEX_MEDIA__WINDOW_S"
_LENGTH_SETTING = "MMINDEX_MEDIA__MAX_DURATION_S"
_FRAME_PIXELS_SETTING = "MMINDEX_VIDEO__MAX_FRAME_PIXELS"
_OVERSIZED = re.compile(r"Picture size (\d+)x(\d+) exceeds specified max pixel count (\d+)")
"""What ffmpeg logs when a decoder refuses a frame over `-max_pixels` (it drops the frame and goes on)."""
_MAX_PIXELS_CAP = 2**31 - 1
"""The largest `-max_pixels` ffmpeg accepts (INT_MAX)."""
_PADDING_ROOM = 16
"""ffmpeg counts a frame's pixels with each row padded to 64 (a 4000x4000 frame as 4032x4000): it is given 1/16
more than the limit, so that no frame within the limit is refused for its padding (none at least 1008 wide)."""


@functools.cache
def ffmpeg_exe() -> str:
    """The ffmpeg binary: `ffmpeg` from PATH, else the one bundled with imageio-ffmpeg."""
    return shutil.which("ffmpeg") or imageio_ffmpeg.get_ffmpeg_exe()


# ---------------------------------------------------------------- probe


@dataclass(frozen=True)
class Probe:
    """What the container says about a media file."""

    duration_s: float | None
    """None when the container does not say (a raw stream, a WAV without a data size)."""
    video: str | None
    """Codec of the first video stream that is not cover art (e.g. "h264"), None if there is none."""
    audio: str | None
    """Codec of the first audio stream (e.g. "aac"), None if there is none; "none" if ffmpeg cannot name it."""
    width: int | None
    height: int | None


_DURATION = re.compile(r"^\s*Duration: (?:(\d+):(\d{2}):(\d{2}(?:\.\d+)?)|N/A)")
_STREAM = re.compile(r"^\s*Stream #0:\d+\S*: (Video|Audio): (\S+?),?(?:\s|$)")
_SIZE = re.compile(r"(?:^|[\s,])(\d{1,5})x(\d{1,5})(?=[\s,\[]|$)")


def probe(path: Source, *, timeout_s: float) -> Probe:
    """Duration, first video and audio codec, and frame size of `path`, read from `ffmpeg -i`.

    A codec ffmpeg cannot decode is still returned (as ffmpeg names it, possibly "none"); decoding it later fails
    with `UnsupportedMedia`. Raises `CorruptMedia` when ffmpeg cannot read the container at all, `SourceNotFound`
    when the file is missing, and `TooLarge` past `timeout_s`.
    """
    options = [item for name, value in _input_options(path).items() for item in (f"-{name}", value)]
    args = [ffmpeg_exe(), *_QUIET, "-loglevel", "level+info", *options, "-i", _input_name(path)]
    result = _run(args, path=path, what="reading the container", timeout_s=timeout_s)
    lines = [_Line.parse(raw) for raw in result.stderr.decode("utf-8", "replace").splitlines()]
    if not any(line.text.startswith("Input #0") for line in lines):
        # ffmpeg always exits 1 here ("At least one output file must be specified"): the summary decides.
        raise _failure(lines, path=path, subject="media")
    duration_s: float | None = None
    video: str | None = None
    audio: str | None = None
    width: int | None = None
    height: int | None = None
    for line in lines:
        if (match := _DURATION.match(line.text)) and duration_s is None and match.group(1) is not None:
            hours, minutes, seconds = match.groups()
            duration_s = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
        elif match := _STREAM.match(line.text):
            kind, codec = match.groups()
            if kind == "Audio" and audio is None:
                audio = codec
            elif kind == "Video" and video is None and "(attached pic)" not in line.text:
                video = codec
                if size := _SIZE.search(line.text.split(": Video: ", 1)[1]):
                    width, height = int(size.group(1)), int(size.group(2))
    return Probe(duration_s=duration_s, video=video, audio=audio, width=width, height=height)


# ---------------------------------------------------------------- frames


@dataclass(frozen=True)
class Frame:
    """One sampled video frame."""

    time_s: float
    """Presentation time of the frame in the source, in seconds from the start of the file (not of the window)."""
    jpeg: bytes
    """The frame as a JPEG whose shorter side is `size_px` (aspect ratio kept, the other side even)."""


def frames(
    path: Source,
    *,
    start_s: float,
    end_s: float | None,
    sampling: Literal["fps", "keyframes", "scene"],
    fps: float,
    scene_threshold: float,
    size_px: int,
    timeout_s: float,
    max_s: float | None = None,
    max_pixels: int | None = None,
) -> Iterator[Frame]:
    """Sample frames of the first video stream in [start_s, end_s) with one ffmpeg process, as they are decoded.

    - `fps`: the first frame at or after each tick start_s + i/fps (real frames with their own times, so a source
      slower than `fps` gives each frame once instead of duplicates);
    - `keyframes`: only the keyframes, which the decoder alone produces (`-skip_frame nokey`): many times faster;
    - `scene`: the window's first frame, then each frame whose scene-change score exceeds `scene_threshold`.

    ffmpeg seeks to `start_s` before opening the decoder (fast seek, then exact trimming), scales each kept frame
    to `size_px` on its shorter side, encodes it as JPEG to stdout, and reports its timestamp through `showinfo` on
    stderr; both pipes are read as they fill, so memory does not grow with the video. ffmpeg starts at the first
    `next()`; it is killed when the consumer stops early, or when it still runs `timeout_s` after it started (time
    it spends waiting on a slow consumer counts), which raises `TooLarge`. A window past the end of the
    video yields nothing. Raises `UnsupportedMedia` when there is no video stream or no decoder for its codec,
    `CorruptMedia` when ffmpeg fails on the data, `SourceNotFound` when the file is missing.

    `max_s`: how long the video may be at most (`MMINDEX_MEDIA__MAX_DURATION_S`), whatever its container says:
    ffmpeg stops just past it, and a video going on past it raises `TooLarge` naming the setting (a frame past it,
    or once the window is done, a seek there: `reaches`).

    `max_pixels`: how many pixels a frame may have at most (`MMINDEX_VIDEO__MAX_FRAME_PIXELS`), whatever the
    container says about the frame size: the decoder refuses a larger frame before it allocates it, and the
    video fails as `TooLarge` naming the setting (`_oversized`), even when its size changes mid-stream.
    """
    stop_s = _stop(end_s, max_s)
    source = _open(path, **_window(start_s, stop_s), **_skip(sampling), **_pixels(max_pixels))["V:0"]
    if sampling == "fps":
        # First frame at or after each tick: the tick index floor(t * fps) grows. `t` counts from start_s.
        rate = f"{fps:.9g}"
        ticks = f"floor(t*{rate}+1e-6),floor(prev_selected_t*{rate}+1e-6)"
        source = source.filter("select", f"isnan(prev_selected_t)+gt({ticks})")
    elif sampling == "scene":
        source = source.filter("select", f"eq(n,0)+gt(scene,{scene_threshold:.9g})")
    elif sampling != "keyframes":
        raise ValueError(f"unknown frame sampling {sampling!r}; expected fps, keyframes or scene")
    portrait = "lte(iw,ih)"
    # Full-range YUV, as JPEG means it; "unofficial" only lets an empty window open the encoder without frames
    # whose range it could check (it would refuse the input's limited range and fail the run).
    size = {"w": f"if({portrait},{size_px},-2)", "h": f"if({portrait},-2,{size_px})"}
    source = source.filter("scale", **size, out_range="full").filter("showinfo")
    output = source.output(
        "pipe:", format="image2pipe", vcodec="mjpeg", fps_mode="passthrough", strict="unofficial", **{"q:v": 3}
    )
    args: list[str] = output.compile(cmd=[ffmpeg_exe(), *_QUIET, "-loglevel", "level+info"])
    what = f"frames {start_s:g}–{end_s:g} s" if end_s is not None else f"frames from {start_s:g} s"
    with _Process(args, timeout_s=timeout_s, max_pixels=max_pixels) as process:
        splitter = _JpegSplitter()
        while chunk := process.read(_CHUNK):
            for jpeg in splitter.feed(chunk):
                time_s = start_s + process.next_time()
                if max_s is not None and time_s > max_s + _EPSILON_S and (end_s is None or time_s < end_s):
                    raise _too_long(path, max_s)
                if end_s is None or time_s < end_s - _EPSILON_S:  # ffmpeg's -t keeps a frame at exactly end_s
                    yield Frame(time_s=time_s, jpeg=jpeg)
        process.finish(path=path, what=what, subject="video")
    if (
        max_s is not None
        and stop_s != end_s
        and reaches(path, max_s, stream="video", timeout_s=timeout_s, max_pixels=max_pixels)
    ):
        raise _too_long(path, max_s)  # sampling kept no frame past the limit, but the video goes on


def _window(start_s: float, end_s: float | None) -> dict[str, Any]:
    window: dict[str, Any] = {"ss": f"{start_s:.6f}"} if start_s > 0 else {}
    if end_s is not None:
        window["t"] = f"{max(end_s - start_s, 0.0):.6f}"
    return window


def _stop(end_s: float | None, max_s: float | None) -> float | None:
    """Where ffmpeg stops decoding: the window's end, or just past the length limit when that comes first."""
    if max_s is not None and (end_s is None or end_s > max_s + _OVER_S):
        return max_s + _OVER_S
    return end_s


def _too_long(path: Source, max_s: float) -> TooLarge:
    return TooLarge(f"{path.name} goes on past {max_s:g} s, the length limit ({_LENGTH_SETTING})")


def _pixels(max_pixels: int | None) -> dict[str, Any]:
    """The decoder option that refuses frames over `max_pixels` before allocating them."""
    if max_pixels is None:
        return {}
    return {"max_pixels": str(min(max(max_pixels + max_pixels // _PADDING_ROOM, 0), _MAX_PIXELS_CAP))}


def _oversized(text: str, path: Source, max_pixels: int | None = None) -> TooLarge | None:
    """TooLarge naming the frame-pixel setting when ffmpeg's log says a decoder refused a frame over it."""
    if (match := _OVERSIZED.search(text)) is None:
        return None
    width, height, counted = (int(group) for group in match.groups())
    return TooLarge(
        f"a frame of {path.name} is {width}x{height} pixels, over the limit of"
        f" {counted if max_pixels is None else max_pixels} ({_FRAME_PIXELS_SETTING})"
    )


def _skip(sampling: str) -> dict[str, Any]:
    return {"skip_frame": "nokey"} if sampling == "keyframes" else {}


class _JpegSplitter:
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


# ---------------------------------------------------------------- audio


def pcm(
    path: Source, *, start_s: float = 0.0, end_s: float | None = None, timeout_s: float, rate: int = 16000
) -> np.ndarray:
    """The first audio stream of `path` in [start_s, end_s) as float32 mono samples in [-1, 1) at `rate` Hz.

    A recording without samples (e.g. a WAV header with an empty data chunk) gives an empty array: the caller
    decides that a zero-length recording is a failure. Raises `UnsupportedMedia("no audio stream")` when there is
    no audio, `UnsupportedMedia` naming the codec when ffmpeg has no decoder for it, `CorruptMedia` when decoding
    fails, `TooLarge` past `timeout_s`.
    """
    stream = _open(path, **_window(start_s, end_s))["a:0"]
    output = stream.output("pipe:", format="s16le", acodec="pcm_s16le", ac=1, ar=rate)
    args: list[str] = output.compile(cmd=[ffmpeg_exe(), *_QUIET, "-loglevel", "level+warning"])
    what = f"audio {start_s:g}–{end_s:g} s" if end_s is not None else f"audio from {start_s:g} s"
    result = _run(args, path=path, what=what, timeout_s=timeout_s)
    if result.returncode != 0:
        lines = [_Line.parse(raw) for raw in result.stderr.decode("utf-8", "replace").splitlines()]
        raise _failure(lines, path=path, subject="audio")
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
    stream = _open(path, **_window(start_s, _stop(end_s, max_s)))["a:0"]
    output = stream.output("pipe:", format="s16le", acodec="pcm_s16le", ac=1, ar=rate)
    args: list[str] = output.compile(cmd=[ffmpeg_exe(), *_QUIET, "-loglevel", "level+warning"])
    what = f"audio {start_s:g}–{end_s:g} s" if end_s is not None else f"audio from {start_s:g} s"
    chunk_bytes = 2 * max(1, round(chunk_s * rate))
    limit = None if max_s is None or (end_s is not None and end_s <= max_s) else 2 * round((max_s - start_s) * rate)
    decoded = 0
    with _Process(args, timeout_s=timeout_s) as process:
        pending = bytearray()
        while data := process.read(_CHUNK):
            pending += data
            decoded += len(data)
            if limit is not None and decoded > limit + 2 * rate // 10:  # a tenth of a second: resampler rounding
                assert max_s is not None
                raise _too_long(path, max_s)
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


def reaches(
    path: Source,
    at_s: float,
    *,
    stream: Literal["audio", "video"],
    timeout_s: float,
    max_pixels: int | None = None,
) -> bool:
    """Whether the first audio or video stream of `path` holds anything at or after `at_s`.

    One seek and a moment of decoding, so it costs about the same wherever `at_s` lies: it tells whether a file
    really lasts as long as its container says. False only when ffmpeg ran to its end without decoding anything
    there; a failed run raises what `probe` would (`RetryableError` for a busy store or a dropped connection,
    `CorruptMedia`, `UnsupportedMedia` without such a stream, ...), never False, so a passing network error is
    not read as the end of the media. `TooLarge` past `timeout_s`, or for a frame over `max_pixels` (`frames`).
    """
    source = _open(path, ss=f"{at_s:.6f}", **_pixels(max_pixels))
    if stream == "audio":
        output = source["a:0"].output("pipe:", format="s16le", acodec="pcm_s16le", ac=1, ar=8000, t=0.25)
    else:
        output = source["V:0"].output("pipe:", format="rawvideo", pix_fmt="gray", s="8x8", **{"frames:v": 1})
    args: list[str] = output.compile(cmd=[ffmpeg_exe(), *_QUIET, "-loglevel", "level+error"])
    result = _run(args, path=path, what=f"seeking to {at_s:g} s", timeout_s=timeout_s)
    stderr = result.stderr.decode("utf-8", "replace")
    if oversized := _oversized(stderr, path, max_pixels):
        raise oversized
    if result.returncode != 0:
        raise _failure([_Line.parse(raw) for raw in stderr.splitlines()], path=path, subject=stream)
    return len(result.stdout) > 0


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
    result = _run(args, path=recording, what="encoding audio", timeout_s=timeout_s, stdin=data)
    if result.returncode != 0:
        lines = [_Line.parse(raw) for raw in result.stderr.decode("utf-8", "replace").splitlines()]
        raise _failure(lines, path=recording, subject="audio")
    return result.stdout


@functools.cache
def _has_encoder(name: str) -> bool:
    listing = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-encoders"], capture_output=True, check=False, timeout=30
    ).stdout.decode("utf-8", "replace")
    return any(line.split()[1:2] == [name] for line in listing.splitlines())


# ---------------------------------------------------------------- running ffmpeg


def _input_name(path: Source) -> str:
    return path.url if isinstance(path, Remote) else f"file:{path}"


def _input_options(path: Source) -> dict[str, str]:
    """What may be read for `path`, always by a demuxer of the containers sniffing admits, none of which reads
    another file (`_DEMUXERS`: no playlist, no concat list): a local file through the file protocol only
    (`_ONLY_FILES`); a remote file through its URL's protocol alone (`_URL_PROTOCOLS`), sending its headers."""
    if not isinstance(path, Remote):
        return {"protocol_whitelist": _ONLY_FILES, "format_whitelist": _DEMUXERS}
    scheme = path.url.partition(":")[0].lower()
    if scheme not in _URL_PROTOCOLS:
        raise UnsupportedMedia(f"{path.name}: cannot be read over {scheme or 'an unnamed protocol'} (HTTP(S) only)")
    options = {"protocol_whitelist": _URL_PROTOCOLS[scheme], "format_whitelist": _DEMUXERS}
    if path.headers:
        options["headers"] = "".join(f"{name}: {value}\r\n" for name, value in path.headers)
    return options


def _open(path: Source, **options: Any) -> Any:
    """An ffmpeg-python input that may read only what `_input_options` allows."""
    return ffmpeg.input(_input_name(path), **_input_options(path), **options)


def _timed_out(path: Source, what: str, timeout_s: float) -> TooLarge:
    return TooLarge(f"ffmpeg took longer than {timeout_s:g} s on {path.name} ({what}); {_TIMEOUT_HINT}")


def _run(
    args: Sequence[str], *, path: Source, what: str, timeout_s: float, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run ffmpeg to completion with all its output in memory (for runs whose output is small or wanted whole)."""
    try:
        return subprocess.run(
            args,
            input=stdin,
            stdin=None if stdin is not None else subprocess.DEVNULL,
            capture_output=True,
            check=False,
            timeout=timeout_s,
        )
    except subprocess.TimeoutExpired:
        raise _timed_out(path, what, timeout_s) from None


@dataclass(frozen=True)
class _Line:
    """One stderr line of ffmpeg run with `-loglevel level+…`: its level ("" on continuation lines) and text."""

    level: str
    text: str

    _PREFIX = re.compile(r"^(?:\[[^\[\]]*\] )?\[(trace|debug|verbose|info|warning|error|fatal|panic)\] ?(.*)$")

    @classmethod
    def parse(cls, raw: str) -> _Line:
        if match := cls._PREFIX.match(raw):
            return cls(level=match.group(1), text=match.group(2))
        return cls(level="", text=raw)

    @property
    def is_error(self) -> bool:
        return self.level in {"error", "fatal", "panic"}


_SHOWINFO = re.compile(r"^\[Parsed_showinfo_\d+ @")
_SHOWINFO_TIMEBASE = re.compile(r"config in time_base: (\d+)/(\d+)")
_SHOWINFO_FRAME = re.compile(r"\bn:\s*\d+\s+pts:\s*(\S+)\s+pts_time:(\S+)")


class _Process:
    """ffmpeg streaming to us: stdout read by the caller, stderr parsed by a thread, a watchdog for the deadline.

    Only frame times (one per frame, consumed as frames are yielded) and the last warning-or-worse lines are kept
    from stderr, so a long run does not accumulate its log.
    """

    def __init__(self, args: Sequence[str], *, timeout_s: float, max_pixels: int | None = None) -> None:
        self._timeout_s = timeout_s
        self._max_pixels = max_pixels  # the limit the run was given (`_pixels`), for the message
        self._times: queue.Queue[float | None] = queue.Queue()
        self._problems: deque[_Line] = deque(maxlen=_ERROR_LINES)
        self._oversized: str | None = None  # ffmpeg's line refusing a frame over -max_pixels: the run is ended
        self._timed_out = threading.Event()
        self._process = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self._process.stdout is not None and self._process.stderr is not None  # both are pipes
        self._stdout: IO[bytes] = self._process.stdout
        self._stderr: IO[bytes] = self._process.stderr
        self._stderr_reader = threading.Thread(target=self._read_stderr, name="ffmpeg-stderr", daemon=True)
        self._stderr_reader.start()
        self._left_s = timeout_s
        self._watchdog = self._start_watchdog()

    def _start_watchdog(self) -> threading.Timer:
        self._started = time.monotonic()
        watchdog = threading.Timer(max(self._left_s, 0.0), self._expire)
        watchdog.daemon = True
        watchdog.start()
        return watchdog

    @contextlib.contextmanager
    def paused(self) -> Iterator[None]:
        """The time limit stops counting while the consumer works (ffmpeg waits on the full pipe meanwhile)."""
        self._watchdog.cancel()
        self._left_s -= time.monotonic() - self._started
        try:
            yield
        finally:
            self._watchdog = self._start_watchdog()

    def __enter__(self) -> _Process:
        return self

    def __exit__(self, *_: object) -> None:
        """Kill ffmpeg if it still runs (the consumer stopped early, or an error), then reap it and its pipes."""
        self._watchdog.cancel()
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        self._stderr_reader.join()
        self._stdout.close()

    def read(self, size: int) -> bytes:
        """Up to `size` bytes from stdout as soon as some are there; b"" at the end (or once killed)."""
        return os.read(self._stdout.fileno(), size)

    def next_time(self) -> float:
        """The showinfo time of the next frame, relative to the seek point (ffmpeg logs it before encoding)."""
        remaining = max(self._timeout_s, 1.0)
        try:
            time_s = self._times.get(timeout=remaining)
        except queue.Empty:
            time_s = None
        if time_s is None:
            raise CorruptMedia("ffmpeg wrote a frame without reporting its time (no showinfo line for it)")
        return time_s

    def finish(self, *, path: Source, what: str, subject: str) -> None:
        """Wait for ffmpeg to exit and raise what its exit means."""
        returncode = self._process.wait()
        self._stderr_reader.join()
        if self._oversized is not None and (oversized := _oversized(self._oversized, path, self._max_pixels)):
            raise oversized
        if returncode == 0:
            return
        if self._timed_out.is_set():
            raise _timed_out(path, what, self._timeout_s)
        raise _failure(list(self._problems), path=path, subject=subject)

    def _kill(self) -> None:
        if self._process.poll() is None:
            self._process.kill()

    def _expire(self) -> None:
        if self._process.poll() is None:
            self._timed_out.set()
            self._process.kill()

    def _read_stderr(self) -> None:
        timebase: Fraction | None = None
        last = 0.0
        with self._stderr:
            for raw in self._stderr:
                text = raw.decode("utf-8", "replace").rstrip("\r\n")
                if _SHOWINFO.match(text):
                    if match := _SHOWINFO_TIMEBASE.search(text):
                        numerator, denominator = int(match.group(1)), int(match.group(2))
                        timebase = Fraction(numerator, denominator) if denominator else None
                    elif match := _SHOWINFO_FRAME.search(text):
                        last = _frame_time(match.group(1), match.group(2), timebase, last)
                        self._times.put(last)
                    continue
                if self._oversized is None and _OVERSIZED.search(text):
                    self._oversized = text
                    self._kill()  # ffmpeg would drop the frame and go on: the video fails here
                line = _Line.parse(text)
                if line.level in {"warning", "error", "fatal", "panic"}:
                    self._problems.append(line)
        self._times.put(None)  # no more times: a frame without one is an error, not a hang


def _frame_time(pts: str, pts_time: str, timebase: Fraction | None, previous: float) -> float:
    """Exact pts × time base when both are known; showinfo's rounded pts_time otherwise; the previous time if the
    frame has no timestamp at all."""
    if timebase is not None and re.fullmatch(r"-?\d+", pts):
        return float(int(pts) * timebase)
    try:
        value = float(pts_time)
    except ValueError:
        return previous
    return value if math.isfinite(value) else previous


# ---------------------------------------------------------------- errors

_GENERIC = re.compile(
    r"^(Error opening (input|output) files?\b|Error opening output file|Error binding filtergraph|"
    r"Error parsing options|Conversion failed|At least one output file must be specified|"
    r"Terminating thread|Task finished with error|Nothing was written|Error while filtering|"
    r"Error sending frames to consumers|Error initializing output stream|Failed to set value)",
    re.IGNORECASE,
)
_NO_DECODER = (
    re.compile(r"no decoder found for: (\S+)", re.IGNORECASE),
    re.compile(r"Decoder \(codec (\S+)\) not found", re.IGNORECASE),
    re.compile(r"Unknown decoder '?([^'\s]+)", re.IGNORECASE),
)
_PASSING = re.compile(
    r"\b(403 Forbidden|5\d\d [A-Z]|5XX Server Error|429 Too Many|Connection (refused|reset|timed out)|"
    r"Network is unreachable|No route to host|Host is unreachable|Operation timed out|"
    r"Temporary failure in name resolution|Stream ends prematurely|Broken pipe)",
    re.IGNORECASE,
)
"""What ffmpeg says when reading a remote file fails for now: worth another try later."""
_CODEC_TAG = re.compile(r"\((?:Audio|Video): (\S+) \((?:[^()]*? / )?(0x[0-9a-fA-F]+)\)")


def _failure(lines: Sequence[_Line], *, path: Source, subject: str) -> PermanentError | RetryableError:
    """One line a person can act on, from the lines an ffmpeg run logged before it failed.

    `subject` names what was being read ("video", "audio", "media").
    """
    text = "\n".join(line.text for line in lines)
    if oversized := _oversized(text, path):
        return oversized
    if "No such file or directory" in text or (isinstance(path, Remote) and "404 Not Found" in text):
        return SourceNotFound(f"{path.name}: no such file")
    if isinstance(path, Remote) and _PASSING.search(text):  # an expired URL, a busy store, a dropped connection
        return RetryableError(f"reading {path.name} over HTTP failed for now: {_reason(lines, path)}")
    for pattern in _NO_DECODER:
        if match := pattern.search(text):
            codec = match.group(1).rstrip(".,:")
            if tag := _CODEC_TAG.search(text):
                codec = f"{codec} ({tag.group(2)})" if tag.group(1) == codec else codec
            return UnsupportedMedia(f"unsupported {subject} codec {codec}: this ffmpeg build has no decoder for it")
    if "matches no streams" in text:
        return UnsupportedMedia(f"no {subject} stream" if subject in {"video", "audio"} else "no usable stream")
    if re.search(r"\b(Encoder not found|Unknown encoder)\b", text):
        return UnsupportedMedia(f"this ffmpeg build cannot encode {subject}: {_reason(lines, path)}")
    return CorruptMedia(f"corrupt or truncated {subject}: {_reason(lines, path)}")


def _reason(lines: Sequence[_Line], path: Source) -> str:
    """ffmpeg's most specific error line: the first that is not a generic "error opening …" summary."""
    errors = [line.text for line in lines if line.is_error] or [line.text for line in lines if line.level]
    name = _input_name(path)
    specific = [
        _tidy(re.sub(r"^Error opening input: ", "", error), name, path) for error in errors if not _GENERIC.match(error)
    ]
    chosen = next((line for line in specific if line), None)
    if chosen is None:
        chosen = _tidy(errors[-1], name, path) if errors else "ffmpeg failed without saying why"
    return chosen[:1].lower() + chosen[1:] if not chosen[:2].isupper() else chosen


def _tidy(line: str, name: str, path: Source) -> str:
    line = line.replace(f"{name}: ", "").replace(name, path.name).replace(str(path), path.name)
    return " ".join(line.split()).rstrip(".")[:300]
