"""Sampling a video's frames with one ffmpeg process, as JPEGs with their times, while it decodes."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from shared.media.ffmpeg.inputs import Source, open_input, window
from shared.media.ffmpeg.jpeg_stream import JpegSplitter
from shared.media.ffmpeg.limits import EPSILON_S, pixels, stop, too_long
from shared.media.ffmpeg.probing import reaches
from shared.media.ffmpeg.process import CHUNK, QUIET, Process, ffmpeg_exe


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
    video fails as `TooLarge` naming the setting (`limits.oversized`), even when its size changes mid-stream.
    """
    stop_s = stop(end_s, max_s)
    args = _command(
        path,
        start_s=start_s,
        stop_s=stop_s,
        sampling=sampling,
        fps=fps,
        scene_threshold=scene_threshold,
        size_px=size_px,
        max_pixels=max_pixels,
    )
    what = f"frames {start_s:g}–{end_s:g} s" if end_s is not None else f"frames from {start_s:g} s"
    with Process(args, timeout_s=timeout_s, max_pixels=max_pixels) as process:
        splitter = JpegSplitter()
        while chunk := process.read(CHUNK):
            for jpeg in splitter.feed(chunk):
                time_s = start_s + process.next_time()
                if max_s is not None and time_s > max_s + EPSILON_S and (end_s is None or time_s < end_s):
                    raise too_long(path, max_s)
                if end_s is None or time_s < end_s - EPSILON_S:  # ffmpeg's -t keeps a frame at exactly end_s
                    yield Frame(time_s=time_s, jpeg=jpeg)
        process.finish(path=path, what=what, subject="video")
    if (
        max_s is not None
        and stop_s != end_s
        and reaches(path, max_s, stream="video", timeout_s=timeout_s, max_pixels=max_pixels)
    ):
        raise too_long(path, max_s)  # sampling kept no frame past the limit, but the video goes on


def _command(
    path: Source,
    *,
    start_s: float,
    stop_s: float | None,
    sampling: str,
    fps: float,
    scene_threshold: float,
    size_px: int,
    max_pixels: int | None,
) -> list[str]:
    """The ffmpeg command line of `frames`: decode [start_s, stop_s), select by `sampling`, scale, encode JPEGs."""
    skip: dict[str, Any] = {"skip_frame": "nokey"} if sampling == "keyframes" else {}
    source = open_input(path, **window(start_s, stop_s), **skip, **pixels(max_pixels))["V:0"]
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
    args: list[str] = output.compile(cmd=[ffmpeg_exe(), *QUIET, "-loglevel", "level+info"])
    return args
