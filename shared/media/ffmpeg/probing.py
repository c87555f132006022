"""What a media file holds: its container's summary (`probe`), and whether a stream really goes on to a given
time (`reaches`).

Why `probe` parses `ffmpeg -i` instead of asking `ffprobe`: the wheel ships `ffmpeg` alone, without `ffprobe`.
`ffmpeg -hide_banner -i FILE` prints the same container and stream summary on stderr (then exits 1 because no
output was named, which is expected), and the few fields mmindex needs (duration, the first video and audio codec,
the frame size) are stable in that summary across ffmpeg releases.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from shared.media.ffmpeg.failures import Line, failure
from shared.media.ffmpeg.inputs import Source, input_name, input_options, open_input
from shared.media.ffmpeg.limits import oversized, pixels
from shared.media.ffmpeg.process import QUIET, ffmpeg_exe, run


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
    options = [item for name, value in input_options(path).items() for item in (f"-{name}", value)]
    args = [ffmpeg_exe(), *QUIET, "-loglevel", "level+info", *options, "-i", input_name(path)]
    result = run(args, path=path, what="reading the container", timeout_s=timeout_s)
    lines = [Line.parse(raw) for raw in result.stderr.decode("utf-8", "replace").splitlines()]
    if not any(line.text.startswith("Input #0") for line in lines):
        # ffmpeg always exits 1 here ("At least one output file must be specified"): the summary decides.
        raise failure(lines, path=path, subject="media")
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
    source = open_input(path, ss=f"{at_s:.6f}", **pixels(max_pixels))
    if stream == "audio":
        output = source["a:0"].output("pipe:", format="s16le", acodec="pcm_s16le", ac=1, ar=8000, t=0.25)
    else:
        output = source["V:0"].output("pipe:", format="rawvideo", pix_fmt="gray", s="8x8", **{"frames:v": 1})
    args: list[str] = output.compile(cmd=[ffmpeg_exe(), *QUIET, "-loglevel", "level+error"])
    result = run(args, path=path, what=f"seeking to {at_s:g} s", timeout_s=timeout_s)
    stderr = result.stderr.decode("utf-8", "replace")
    if too_big := oversized(stderr, path, max_pixels):
        raise too_big
    if result.returncode != 0:
        raise failure([Line.parse(raw) for raw in stderr.splitlines()], path=path, subject=stream)
    return len(result.stdout) > 0
