"""One decoder per media kind: a fetched source (or one window of it) in, items out.

Items carry references and small metadata only. An image's or a frame's pixels go to
the artifact area as a thumbnail, which is also what the embed stage reads; speech
segments and text chunks carry their words.

Time-based media longer than `MMINDEX_MEDIA__WINDOW_S` is decoded in windows, one task
each, so that no task comes near the broker's visibility timeout: the first task only
probes the file and plans the windows; the window tasks of an object in S3 read it through a presigned URL,
fetching only the ranges they need. Item numbers of time-based items are their start
time in milliseconds, so a window's items are numbered the same whichever task makes them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from shared import artifacts
from shared.documents import Item, Space, document_id
from shared.errors import TooLarge, UnsupportedMedia
from shared.ledger import SourceRecord
from shared.media import MediaKind, ffmpeg
from shared.media.image import open_rgb, thumbnail_jpeg
from shared.media.text import chunks
from shared.runtime import Runtime


@dataclass(frozen=True)
class Window:
    """One part of a long video or recording: [start_s, end_s), part `part` of `parts`."""

    part: int
    parts: int
    start_s: float
    end_s: float | None  # None: to the end of the file

    def to_message(self) -> list[float | int | None]:
        return [self.part, self.parts, self.start_s, self.end_s]

    @classmethod
    def from_message(cls, data: list[float | int | None]) -> Window:
        part, parts, start_s, end_s = data
        assert part is not None and parts is not None and start_s is not None
        return cls(int(part), int(parts), float(start_s), None if end_s is None else float(end_s))


WHOLE = Window(0, 1, 0.0, None)
WINDOW_SLACK = 0.05
"""A remainder shorter than this share of a window is decoded with the last window, not as a window of its own."""


@dataclass
class Decoded:
    """What decoding gave: the items of the window decoded, or the windows to decode instead."""

    items: list[Item] = field(default_factory=list)
    windows: list[Window] = field(default_factory=list)
    kind: MediaKind | None = None  # of the source, which the window tasks are told


Decoder = Callable[[SourceRecord, Path, Runtime, Window | None], Decoded]
"""Decodes a source, or one window of it when given one (None: the whole source, split if it is long)."""


def item(record: SourceRecord, number: int, space: Space, modality: MediaKind, **fields: object) -> Item:
    return Item(
        id=document_id(record.root, record.key, record.version, number, space),
        source_id=record.id,
        source=record.uri,
        version=record.version,
        uri=record.uri,
        modality=modality,
        item=number,
        space=space,
        **fields,  # type: ignore[arg-type]
    )


def millis(seconds: float) -> int:
    return round(seconds * 1000)


# ------------------------------------------------------------------ images


def decode_image(record: SourceRecord, path: Path, runtime: Runtime, window: Window | None) -> Decoded:
    settings = runtime.settings.image
    image = open_rgb(
        path,
        max_pixels=settings.max_pixels,
        min_side=settings.thumbnail_px,
        max_decoded_bytes=settings.max_decoded_bytes,
    )
    storage = runtime.storage(record.uri)
    thumbnail = artifacts.thumbnail_uri(storage, record, 0)
    storage.put(thumbnail, thumbnail_jpeg(image, settings.thumbnail_px), "image/jpeg")
    return Decoded([item(record, 0, Space.VISION, MediaKind.IMAGE, input_uri=thumbnail, thumbnail=thumbnail)])


# ------------------------------------------------------------------ time-based media


def plan(duration_s: float | None, window_s: float) -> list[Window]:
    """The windows a file of this duration is decoded in; one (the whole file) when it is short or unknown."""
    parts = 1 if duration_s is None else math.ceil(duration_s / window_s - WINDOW_SLACK)
    if parts <= 1:
        return [WHOLE]
    return [
        Window(part, parts, part * window_s, None if part == parts - 1 else (part + 1) * window_s)
        for part in range(parts)
    ]


def this_window(probe: ffmpeg.Probe, runtime: Runtime, what: str) -> Window | list[Window]:
    """For a whole file: the one window to decode here, or the windows to queue as tasks when it is long.

    TooLarge past MMINDEX_MEDIA__MAX_DURATION_S.
    """
    media = runtime.settings.media
    if probe.duration_s is not None and probe.duration_s > media.max_duration_s:
        raise TooLarge(
            f"{what} is {probe.duration_s:.0f} s long, over the {media.max_duration_s:.0f} s limit"
            " (MMINDEX_MEDIA__MAX_DURATION_S)"
        )
    windows = plan(probe.duration_s, media.window_s)
    return windows if len(windows) > 1 else windows[0]


def speech(
    record: SourceRecord,
    path: ffmpeg.Source,
    runtime: Runtime,
    window: Window,
    modality: MediaKind,
    *,
    required: bool = False,
) -> list[Item]:
    """The window's speech segments as text-space items; none when speech-to-text is off.

    `required`: a whole recording without a single sample is an error, not an empty result.
    """
    transcriber = runtime.transcriber()
    if transcriber is None:
        return []
    media = runtime.settings.media
    samples = ffmpeg.pcm(path, start_s=window.start_s, end_s=window.end_s, timeout_s=media.ffmpeg_timeout_s)
    if samples.size == 0:
        if required and window.parts == 1:
            raise UnsupportedMedia("zero-length recording: it holds no sound")
        return []
    segments = transcriber.transcribe(samples, offset_s=window.start_s)
    return [
        item(
            record,
            millis(segment.start_s),
            Space.TEXT,
            modality,
            text=segment.text,
            start_s=round(segment.start_s, 3),
            end_s=round(segment.end_s, 3),
        )
        for segment in segments
    ]


def decode_video(record: SourceRecord, path: ffmpeg.Source, runtime: Runtime, window: Window | None) -> Decoded:
    media, video = runtime.settings.media, runtime.settings.video
    probe = ffmpeg.probe(path, timeout_s=media.ffmpeg_timeout_s)
    if probe.video is None:
        hint = " (it holds only audio: name it .m4a or .mp3 to index its speech)" if probe.audio else ""
        raise UnsupportedMedia(f"no video stream{hint}")
    chosen = window or this_window(probe, runtime, "the video")
    if isinstance(chosen, list):
        return Decoded(windows=chosen)
    window = chosen
    storage = runtime.storage(record.uri)
    items: list[Item] = []
    frames = ffmpeg.frames(
        path,
        start_s=window.start_s,
        end_s=window.end_s,
        sampling=video.sampling,
        fps=video.fps,
        scene_threshold=video.scene_threshold,
        size_px=runtime.settings.image.thumbnail_px,
        timeout_s=media.ffmpeg_timeout_s,
    )
    for frame in frames:
        number = millis(frame.time_s)
        thumbnail = artifacts.thumbnail_uri(storage, record, number)
        storage.put(thumbnail, frame.jpeg, "image/jpeg")
        if items:  # a frame stands for the time until the next one
            items[-1].end_s = round(frame.time_s, 3)
        end_s = frame.time_s + 1 / video.fps if video.sampling == "fps" else None
        items.append(
            item(
                record,
                number,
                Space.VISION,
                MediaKind.VIDEO,
                input_uri=thumbnail,
                thumbnail=thumbnail,
                start_s=round(frame.time_s, 3),
                end_s=None if end_s is None else round(end_s, 3),
            )
        )
    if items and items[-1].end_s is None:
        last = window.end_s if window.end_s is not None else probe.duration_s
        items[-1].end_s = round(max(last or 0.0, items[-1].start_s or 0.0), 3)
    if not items and window.parts == 1:
        raise UnsupportedMedia(f"no frame could be decoded from the {probe.video} video stream")
    if probe.audio is not None:
        items.extend(speech(record, path, runtime, window, MediaKind.VIDEO))
    return Decoded(items)


def decode_audio(record: SourceRecord, path: ffmpeg.Source, runtime: Runtime, window: Window | None) -> Decoded:
    media = runtime.settings.media
    if runtime.transcriber() is None:
        raise UnsupportedMedia("speech-to-text is off (MMINDEX_MODELS__ASR=none), so recordings are not indexed")
    probe = ffmpeg.probe(path, timeout_s=media.ffmpeg_timeout_s)
    if probe.audio is None:
        raise UnsupportedMedia("no audio stream")
    if probe.duration_s is not None and probe.duration_s <= 0:
        raise UnsupportedMedia("zero-length recording: it holds no sound")
    chosen = window or this_window(probe, runtime, "the recording")
    if isinstance(chosen, list):
        return Decoded(windows=chosen)
    return Decoded(speech(record, path, runtime, chosen, MediaKind.AUDIO, required=True))


# ------------------------------------------------------------------ text


def decode_text(record: SourceRecord, path: Path, runtime: Runtime, window: Window | None) -> Decoded:
    settings = runtime.settings.text
    return Decoded(
        [
            item(record, chunk.index, Space.TEXT, MediaKind.TEXT, text=chunk.text)
            for chunk in chunks(path, chunk_chars=settings.chunk_chars, overlap_chars=settings.overlap_chars)
        ]
    )


DECODERS: dict[MediaKind, Decoder] = {
    MediaKind.IMAGE: decode_image,
    MediaKind.VIDEO: decode_video,
    MediaKind.AUDIO: decode_audio,
    MediaKind.TEXT: decode_text,
}
"""Decoders by media kind; a kind without one is reported as unsupported."""

WINDOWED: dict[MediaKind, Callable[[SourceRecord, ffmpeg.Source, Runtime, Window | None], Decoded]] = {
    MediaKind.VIDEO: decode_video,
    MediaKind.AUDIO: decode_audio,
}
"""Decoders of time-based media, which read a local file or a URL they fetch byte ranges from."""
