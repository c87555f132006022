"""Media kinds and the decoders registered for them."""

from __future__ import annotations

from enum import StrEnum


class MediaKind(StrEnum):
    """What a source's content is. The first four are also the `modality` of hits."""

    IMAGE = "image"
    VIDEO = "video"
    AUDIO = "audio"
    TEXT = "text"
    EMPTY = "empty"
    UNKNOWN = "unknown"
