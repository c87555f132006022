"""One video frame, again, at a larger size than the sampled frames (`still`): for reading the words in it."""

from __future__ import annotations

from shared.errors import CorruptMedia
from shared.media.ffmpeg.failures import Line, failure
from shared.media.ffmpeg.inputs import Source, open_input
from shared.media.ffmpeg.limits import oversized, pixels
from shared.media.ffmpeg.process import QUIET, ffmpeg_exe, run

BEFORE_S = 0.0005
"""The seek goes this much before the frame's time, so that rounding it to microseconds never lands past the frame
(the next frame would come out instead); frames are further apart than this."""


def still(path: Source, at_s: float, *, max_side: int, timeout_s: float, max_pixels: int | None = None) -> bytes:
    """The frame of the first video stream shown at `at_s` (a time `frames` reported), as a JPEG with its longer side
    at most `max_side` (never enlarged), decoded by one ffmpeg run: an exact seek, one frame, no shell.

    Raises what `frames` raises: `TooLarge` past `timeout_s` or for a frame over `max_pixels`, `CorruptMedia`,
    `UnsupportedMedia` or `SourceNotFound` from ffmpeg's log, `CorruptMedia` when no frame is there."""
    seek = {"ss": f"{max(at_s - BEFORE_S, 0.0):.6f}"} if at_s > BEFORE_S else {}
    landscape = "gte(iw,ih)"
    size = {"w": f"if({landscape},min(iw,{max_side}),-2)", "h": f"if({landscape},-2,min(ih,{max_side}))"}
    source = open_input(path, **seek, **pixels(max_pixels))["V:0"].filter("scale", **size, out_range="full")
    output = source.output(
        "pipe:", format="image2pipe", vcodec="mjpeg", strict="unofficial", **{"frames:v": 1, "q:v": 2}
    )
    args: list[str] = output.compile(cmd=[ffmpeg_exe(), *QUIET, "-loglevel", "level+error"])
    result = run(args, path=path, what=f"the frame at {at_s:g} s", timeout_s=timeout_s)
    stderr = result.stderr.decode("utf-8", "replace")
    if too_big := oversized(stderr, path, max_pixels):
        raise too_big
    if result.returncode != 0:
        raise failure([Line.parse(raw) for raw in stderr.splitlines()], path=path, subject="video")
    if not result.stdout:
        raise CorruptMedia(f"{path.name} has no video frame at {at_s:g} s")
    return result.stdout
