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

import functools
import logging
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from PIL import Image

from shared import artifacts
from shared.documents import Item, Modality, Space, document_id
from shared.errors import MmindexError, TooLarge, UnsupportedMedia, one_line
from shared.ledger import SourceRecord
from shared.media import MediaKind, ffmpeg, frame_words
from shared.media.image import open_rgb, thumbnail_jpeg
from shared.media.scanned import OcrOptions
from shared.media.sniff import PDF_MAGIC
from shared.media.text import Chunk, chunks
from shared.media.text_child import chunks_in_child, timeout_reason
from shared.models.ocr import Reader
from shared.models.speech import SAMPLE_RATE, Segment
from shared.runtime import Runtime
from workers.messages import Window

log = logging.getLogger("mmindex.tasks")
WHOLE = Window(0, 1, 0.0, None)
SPEECH_CHUNK_S = 300.0
"""Seconds of sound transcribed at a time, at most (the window's length when shorter): 19 MB of samples."""
WINDOW_SLACK = 0.05
"""A remainder shorter than this share of a window is decoded with the last window, not as a window of its own."""


@dataclass
class Decoded:
    """What decoding gave: the items of the window decoded, or the windows to decode instead."""

    items: list[Item] = field(default_factory=list)
    windows: list[Window] = field(default_factory=list)
    kind: MediaKind | None = None  # of the source, which the window tasks are told
    stream: Iterator[Item] | None = None
    """Instead of `items`, a document's items as they are made, so that they go on in batches (text): read once."""


Decoder = Callable[[SourceRecord, Any, Runtime, Window | None], Decoded]
"""Decodes a source, or one window of it when given one (None: the whole source, split if it is long), from a
fetched file (a `Path`), or from an `ffmpeg.Source` when its `MediaDecoder` reads in place."""


def item(record: SourceRecord, number: int, space: Space, modality: Modality, **fields: object) -> Item:
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
    """The picture's thumbnail for the vision space, and, with OCR on, the words in it for the text space."""
    settings = runtime.settings.image
    limits = {"max_pixels": settings.max_pixels, "max_decoded_bytes": settings.max_decoded_bytes}
    image = open_rgb(path, min_side=settings.thumbnail_px, **limits)
    storage = runtime.storage(record.uri)
    thumbnail = artifacts.thumbnail_uri(storage, record, 0)
    storage.put(thumbnail, thumbnail_jpeg(image, settings.thumbnail_px), "image/jpeg")
    items = [item(record, 0, Space.VISION, Modality.IMAGE, input_uri=thumbnail, thumbnail=thumbnail)]
    reader = runtime.ocr()
    if reader is not None:
        # The cheap pass on the small copy decoded for the thumbnail; only a picture that seems to show text is
        # decoded again near full size (draft mode shrinks a large JPEG) and read.
        words = picture_words(record, reader, image, lambda: open_rgb(path, min_side=OCR_MIN_SIDE, **limits))
        items += [
            item(record, number, Space.TEXT, Modality.IMAGE, text=text, thumbnail=thumbnail)
            for number, text in enumerate(pieces(words, runtime.settings.text.chunk_chars))
        ]
    return Decoded(items)


OCR_MIN_SIDE = 800
"""With OCR on, a picture is decoded with its shorter side at least this long (or all it has)."""


def picture_words(
    record: SourceRecord, reader: Reader, small: Image.Image, full: Callable[[], Image.Image]
) -> list[str]:
    """The lines of words OCR reads in a picture: the cheap pass on `small` (the copy the thumbnail was made from),
    then, only if it seems to show text, `full()` read in full. A failure to read costs only the words: the picture
    is still indexed, and the reason is logged."""
    try:
        return [line.text for line in reader.read(full(), checked=True)] if reader.shows_text(small) else []
    except MmindexError as error:
        reason = one_line(error)
        log.warning("%s: its words cannot be read, the picture is indexed without them: %s", record.uri, reason)
        return []


def pieces(lines: list[str], chunk_chars: int) -> list[str]:
    """Lines packed into texts of at most `chunk_chars`, cut between lines (a longer line is cut short)."""
    packed: list[str] = []
    for line in lines:
        if packed and len(packed[-1]) + 1 + len(line) <= chunk_chars:
            packed[-1] += "\n" + line
        else:
            packed.append(line[:chunk_chars])
    return packed


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


def this_window(
    path: ffmpeg.Source, probe: ffmpeg.Probe, runtime: Runtime, what: str, stream: Literal["audio", "video"]
) -> Window | list[Window]:
    """For a whole file: the one window to decode here, or the windows to queue as tasks when it is long.

    The length the container declares is trusted only once a seek shows `stream` reaches that far
    (`ffmpeg.reaches`, a moment of decoding wherever it lands): a file that goes on past
    MMINDEX_MEDIA__MAX_DURATION_S fails as TooLarge; one that declares no length, or ends long before the
    length it declares, is planned by where it really ends (found with a few seeks), so it never fans out into
    empty window tasks. Decoding enforces the limit all the same (`speech`, `decode_video`). A seek that fails
    raises (a passing network error is retried, not read as the end); video frames are held to
    MMINDEX_VIDEO__MAX_FRAME_PIXELS there too.
    """
    media = runtime.settings.media
    window_s, limit_s, declared = media.window_s, media.max_duration_s, probe.duration_s
    max_pixels = runtime.settings.video.max_frame_pixels if stream == "video" else None

    def reaches(at_s: float) -> bool:
        return ffmpeg.reaches(path, at_s, stream=stream, timeout_s=media.ffmpeg_timeout_s, max_pixels=max_pixels)

    if declared is not None and declared <= limit_s:
        windows = plan(declared, window_s)
        if len(windows) == 1:
            return WHOLE
        if reaches(windows[-1].start_s):
            return windows
        return windows_to(last_start(reaches, len(windows) - 1, window_s), window_s)
    if declared is None and not reaches(window_s * (1 + WINDOW_SLACK)):
        return WHOLE
    if reaches(limit_s):
        length = "declares no length and goes on past" if declared is None else f"is {declared:.0f} s long, over"
        raise TooLarge(f"{what} {length} the {limit_s:.0f} s limit (MMINDEX_MEDIA__MAX_DURATION_S)")
    return windows_to(last_start(reaches, math.ceil(limit_s / window_s) - 1, window_s), window_s)


def last_start(reaches: Callable[[float], bool], top: int, window_s: float) -> int:
    """The last window (0 to `top`) at whose start the media still holds something: a binary search by seeks."""
    low, high = 0, top
    while low < high:
        middle = (low + high + 1) // 2
        if reaches(middle * window_s):
            low = middle
        else:
            high = middle - 1
    return low


def windows_to(last: int, window_s: float) -> Window | list[Window]:
    """Windows 0 to `last`, the last one to the end of the file; the whole file when that is window 0."""
    if last == 0:
        return WHOLE
    parts = last + 1
    return [
        Window(part, parts, part * window_s, None if part == last else (part + 1) * window_s) for part in range(parts)
    ]


def speech(
    record: SourceRecord,
    path: ffmpeg.Source,
    runtime: Runtime,
    window: Window,
    modality: Modality,
    *,
    required: bool = False,
) -> list[Item]:
    """The window's speech segments as text-space items; none when speech-to-text is off.

    `required`: a whole recording without a single sample is an error, not an empty result. The sound is
    decoded and transcribed in chunks of at most `SPEECH_CHUNK_S`, so memory does not grow with its length; a
    recording going on past MMINDEX_MEDIA__MAX_DURATION_S fails as TooLarge, whatever its header said.
    """
    transcriber = runtime.transcriber()
    if transcriber is None:
        return []
    media = runtime.settings.media
    segments: list[Segment] = []
    offset_s = window.start_s
    for samples in ffmpeg.pcm_chunks(
        path,
        start_s=window.start_s,
        end_s=window.end_s,
        chunk_s=min(media.window_s, SPEECH_CHUNK_S),
        max_s=media.max_duration_s,
        timeout_s=media.ffmpeg_timeout_s,
        rate=SAMPLE_RATE,
    ):
        segments.extend(transcriber.transcribe(samples, offset_s=offset_s))
        offset_s += len(samples) / SAMPLE_RATE
    if offset_s == window.start_s and required and window.parts == 1:
        raise UnsupportedMedia("zero-length recording: it holds no sound")
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
    pixels = (probe.width or 0) * (probe.height or 0)
    if pixels > video.max_frame_pixels:
        raise TooLarge(
            f"its frames are {probe.width}x{probe.height} = {pixels} pixels, over the limit of"
            f" {video.max_frame_pixels} (MMINDEX_VIDEO__MAX_FRAME_PIXELS)"
        )
    chosen = window or this_window(path, probe, runtime, "the video", "video")
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
        max_s=media.max_duration_s,
        max_pixels=video.max_frame_pixels,  # the probe gave the first frame's size; any later one is held to it too
    )
    reading = runtime.ocr() is not None  # loaded before ffmpeg starts, whose time limit counts ours
    shown: list[bytes] = []  # the frames' small JPEGs (some kB each), for OCR once ffmpeg is done
    for frame in frames:
        number = millis(frame.time_s)
        thumbnail = artifacts.thumbnail_uri(storage, record, number)
        storage.put(thumbnail, frame.jpeg, "image/jpeg")
        if reading:
            shown.append(frame.jpeg)
        if items:  # a frame stands for the time until the next one
            items[-1].end_s = round(frame.time_s, 3)
        end_s = frame.time_s + 1 / video.fps if video.sampling == "fps" else None
        items.append(
            item(
                record,
                number,
                Space.VISION,
                Modality.VIDEO,
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
    if shown:
        items.extend(frame_text(record, path, runtime, items, shown))
    if probe.audio is not None:
        items.extend(speech(record, path, runtime, window, Modality.VIDEO))
    return Decoded(items)


def frame_text(
    record: SourceRecord, path: ffmpeg.Source, runtime: Runtime, frames: list[Item], shown: list[bytes]
) -> list[Item]:
    """With OCR on, the words on a window's frames (their items and small JPEGs) as text-space items: one time-coded
    segment for the same words over consecutive frames (`shared.media.frame_words`), numbered apart from speech
    (`frame_words.NUMBERS`). A frame is read near full size (`ffmpeg.still`)."""
    reader, settings = runtime.ocr(), runtime.settings
    if reader is None:
        return []
    media, models = settings.media, settings.models
    still = functools.partial(ffmpeg.still, path, max_side=models.ocr_max_side, timeout_s=media.ffmpeg_timeout_s)
    still = functools.partial(still, max_pixels=settings.video.max_frame_pixels)
    sampled = [frame_words.Sampled.of(frame, jpeg) for frame, jpeg in zip(frames, shown, strict=True)]
    segments = frame_words.frame_words(sampled, frame_words.FrameReader(reader, still), record.uri)
    return [
        item(
            record,
            segment.number + part,  # a segment's pieces a millisecond apart
            Space.TEXT,
            Modality.VIDEO,
            text=text,
            thumbnail=segment.thumbnail,
            start_s=round(segment.start_s, 3),
            end_s=round(segment.end_s, 3),
        )
        for segment in segments
        for part, text in enumerate(pieces(segment.lines, settings.text.chunk_chars))
    ]


def decode_audio(record: SourceRecord, path: ffmpeg.Source, runtime: Runtime, window: Window | None) -> Decoded:
    media = runtime.settings.media
    if runtime.transcriber() is None:
        raise UnsupportedMedia("speech-to-text is off (MMINDEX_MODELS__ASR=none), so recordings are not indexed")
    probe = ffmpeg.probe(path, timeout_s=media.ffmpeg_timeout_s)
    if probe.audio is None:
        raise UnsupportedMedia("no audio stream")
    if probe.duration_s is not None and probe.duration_s <= 0:
        raise UnsupportedMedia("zero-length recording: it holds no sound")
    chosen = window or this_window(path, probe, runtime, "the recording", "audio")
    if isinstance(chosen, list):
        return Decoded(windows=chosen)
    return Decoded(speech(record, path, runtime, chosen, Modality.AUDIO, required=True))


# ------------------------------------------------------------------ text


def decode_text(record: SourceRecord, path: Path, runtime: Runtime, window: Window | None) -> Decoded:
    """A document's chunks as a stream of items, at most MMINDEX_TEXT__MAX_CHUNKS of them.

    A PDF or a large text file is chunked in a child process that is killed past MMINDEX_INGEST__SOURCE_TIMEOUT_S;
    a small text file here, its time checked chunk by chunk.
    """
    settings = runtime.settings.text
    timeout_s = runtime.settings.ingest.source_timeout_s
    sizes = {"chunk_chars": settings.chunk_chars, "overlap_chars": settings.overlap_chars}
    if _in_child(path):
        found = chunks_in_child(path, **sizes, timeout_s=timeout_s, ocr=OcrOptions.of(runtime.settings))
    else:
        found = _timed(chunks(path, **sizes, ocr=None), timeout_s)  # a text file: no pages to read by OCR
    return Decoded(stream=_text_items(record, found, settings.max_chunks))


TEXT_IN_PROCESS_BYTES = 1 << 20
"""Text files up to this size are chunked in the decode task's thread; larger ones, and PDFs, in a child process."""


def _in_child(path: Path) -> bool:
    with path.open("rb") as handle:
        if handle.read(len(PDF_MAGIC)) == PDF_MAGIC:
            return True
    return path.stat().st_size > TEXT_IN_PROCESS_BYTES


def _timed(found: Iterator[Chunk], timeout_s: float) -> Iterator[Chunk]:
    """`found`, failing once making its chunks has taken `timeout_s` (checked after each chunk)."""
    spent = 0.0
    while True:
        started = time.monotonic()
        chunk = next(found, None)
        spent += time.monotonic() - started
        if spent > timeout_s:
            raise TooLarge(timeout_reason(timeout_s))
        if chunk is None:
            return
        yield chunk


def _text_items(record: SourceRecord, found: Iterator[Chunk], max_chunks: int) -> Iterator[Item]:
    for chunk in found:
        if chunk.index >= max_chunks:
            raise TooLarge(
                f"the document gives more than {max_chunks} text chunks (MMINDEX_TEXT__MAX_CHUNKS);"
                " raise the limit or split the file"
            )
        yield item(record, chunk.index, Space.TEXT, Modality.TEXT, text=chunk.text, page=chunk.page)


@dataclass(frozen=True)
class MediaDecoder:
    """How one media kind is decoded.

    `decode` takes a fetched local file; one that `reads_in_place` (time-based media) also takes an
    `ffmpeg.Remote`, a URL it fetches byte ranges from, so that a long video in object storage is never
    downloaded whole and each window task reads only its part.
    """

    kind: MediaKind
    decode: Decoder
    reads_in_place: bool = False


DECODERS: dict[MediaKind, MediaDecoder] = {
    decoder.kind: decoder
    for decoder in (
        MediaDecoder(MediaKind.IMAGE, decode_image),
        MediaDecoder(MediaKind.VIDEO, decode_video, reads_in_place=True),
        MediaDecoder(MediaKind.AUDIO, decode_audio, reads_in_place=True),
        MediaDecoder(MediaKind.TEXT, decode_text),
    )
}
"""The decoder of each media kind; a kind without one is reported as unsupported."""


def reads_in_place(kind: MediaKind | None) -> bool:
    """Whether media of `kind` is read in place through a URL when it is in object storage (False for no kind, or
    one without a decoder)."""
    return kind is not None and kind in DECODERS and DECODERS[kind].reads_in_place
