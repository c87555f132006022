"""The limits an ffmpeg run is held to, and the errors that name the setting to change: its time
(`MMINDEX_MEDIA__FFMPEG_TIMEOUT_S`), the media's length (`MMINDEX_MEDIA__MAX_DURATION_S`) and a video frame's
pixels (`MMINDEX_VIDEO__MAX_FRAME_PIXELS`). Each is `TooLarge`: another try would meet the same limit."""

from __future__ import annotations

import re
from typing import Any

from shared.errors import TooLarge
from shared.media.ffmpeg.inputs import Source

EPSILON_S = 1e-6
"""Frame times closer than this to a window's end belong to the next window."""
OVER_S = 0.5
"""How far past the length limit ffmpeg is let decode, so that media going on past it is seen to."""
TIMEOUT_HINT = "raise MMINDEX_MEDIA__FFMPEG_TIMEOUT_S or lower MMINDEX_MEDIA__WINDOW_S"
LENGTH_SETTING = "MMINDEX_MEDIA__MAX_DURATION_S"
FRAME_PIXELS_SETTING = "MMINDEX_VIDEO__MAX_FRAME_PIXELS"
OVERSIZED = re.compile(r"Picture size (\d+)x(\d+) exceeds specified max pixel count (\d+)")
"""What ffmpeg logs when a decoder refuses a frame over `-max_pixels` (it drops the frame and goes on)."""
MAX_PIXELS_CAP = 2**31 - 1
"""The largest `-max_pixels` ffmpeg accepts (INT_MAX)."""
PADDING_ROOM = 16
"""ffmpeg counts a frame's pixels with each row padded to 64 (a 4000x4000 frame as 4032x4000): it is given 1/16
more than the limit, so that no frame within the limit is refused for its padding (none at least 1008 wide)."""


def timed_out(path: Source, what: str, timeout_s: float) -> TooLarge:
    return TooLarge(f"ffmpeg took longer than {timeout_s:g} s on {path.name} ({what}); {TIMEOUT_HINT}")


def stop(end_s: float | None, max_s: float | None) -> float | None:
    """Where ffmpeg stops decoding: the window's end, or just past the length limit when that comes first."""
    if max_s is not None and (end_s is None or end_s > max_s + OVER_S):
        return max_s + OVER_S
    return end_s


def too_long(path: Source, max_s: float) -> TooLarge:
    return TooLarge(f"{path.name} goes on past {max_s:g} s, the length limit ({LENGTH_SETTING})")


def pixels(max_pixels: int | None) -> dict[str, Any]:
    """The decoder option that refuses frames over `max_pixels` before allocating them."""
    if max_pixels is None:
        return {}
    return {"max_pixels": str(min(max(max_pixels + max_pixels // PADDING_ROOM, 0), MAX_PIXELS_CAP))}


def oversized(text: str, path: Source, max_pixels: int | None = None) -> TooLarge | None:
    """TooLarge naming the frame-pixel setting when ffmpeg's log says a decoder refused a frame over it."""
    if (match := OVERSIZED.search(text)) is None:
        return None
    width, height, counted = (int(group) for group in match.groups())
    return TooLarge(
        f"a frame of {path.name} is {width}x{height} pixels, over the limit of"
        f" {counted if max_pixels is None else max_pixels} ({FRAME_PIXELS_SETTING})"
    )
