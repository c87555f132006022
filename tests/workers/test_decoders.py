"""workers/decoders.py: how long media is cut into windows, one decode task each."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

from shared.config import Settings
from shared.errors import TooLarge
from shared.ledger import SourceRecord, State, source_id
from shared.media import MediaKind
from shared.media.ffmpeg import ffmpeg_exe, probe
from shared.models import speech
from shared.runtime import Runtime
from tests.support.media import SPEECH, ffmpeg
from workers import decoders
from workers.decoders import WHOLE, Window, decode_audio, decode_video, plan


def test_short_or_unknown_media_is_one_window() -> None:
    assert plan(None, 300.0) == [WHOLE]
    assert plan(300.0, 300.0) == [WHOLE]
    assert plan(310.0, 300.0) == [WHOLE]  # a remainder under 5 % of a window goes with the last one


def test_long_media_is_cut_into_windows_that_cover_it_once() -> None:
    windows = plan(12.0, 5.0)
    assert windows == [Window(0, 3, 0.0, 5.0), Window(1, 3, 5.0, 10.0), Window(2, 3, 10.0, None)]
    assert plan(600.02, 300.0) == [Window(0, 2, 0.0, 300.0), Window(1, 2, 300.0, None)]


def test_a_window_travels_in_a_message_unchanged() -> None:
    for window in plan(1000.0, 300.0):
        assert Window.from_message(window.to_message()) == window


# ---------------------------------------------------------------- hostile media, decoded as a decode task would


def settings_from(env: dict[str, str], monkeypatch: pytest.MonkeyPatch, home: Path) -> Runtime:
    """A runtime with only these MMINDEX_* variables set (and no transcriber kept from another test)."""
    for name in list(os.environ):
        if name.upper().startswith("MMINDEX_"):
            monkeypatch.delenv(name)
    for name, value in {"MMINDEX_HOME": str(home), "MMINDEX_MODELS__THREADS": "1", **env}.items():
        monkeypatch.setenv(name, value)
    speech.reset()
    return Runtime(Settings())


def source(path: Path) -> SourceRecord:
    root, key = str(path.parent), path.name
    return SourceRecord(
        id=source_id(root, key), root=root, key=key, uri=str(path), version="1", pipeline="1", state=State.DECODING
    )


def flac_stream(target: Path, *clips: Path, silence_s: float = 0.0) -> Path:
    """The clips one after the other, then `silence_s` of silence, as FLAC written to a pipe: its header
    declares no duration (ffmpeg says `Duration: N/A`), as a stream captured live does."""
    inputs = [arg for clip in clips for arg in ("-i", str(clip))]
    inputs += ["-f", "lavfi", "-t", f"{silence_s:g}", "-i", "anullsrc=channel_layout=mono:sample_rate=16000"]
    chain = "".join(f"[{n}:a]aresample=16000,aformat=channel_layouts=mono[a{n}];" for n in range(len(clips) + 1))
    chain += "".join(f"[a{n}]" for n in range(len(clips) + 1)) + f"concat=n={len(clips) + 1}:v=0:a=1[out]"
    command = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *inputs, "-filter_complex", chain]
    command += ["-map", "[out]", "-ac", "1", "-f", "flac", "pipe:"]
    with target.open("wb") as out:
        subprocess.run(command, stdout=out, check=True)
    assert probe(target, timeout_s=30).duration_s is None
    return target


def lying_flac(target: Path, seconds: float, declared_s: float) -> Path:
    """A FLAC file holding `seconds` of tone whose header (STREAMINFO's sample count) says it lasts `declared_s`."""
    ffmpeg("-f", "lavfi", "-i", "sine=frequency=300:sample_rate=16000", "-t", f"{seconds:g}", str(target))
    data = bytearray(target.read_bytes())
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0  # the first metadata block is STREAMINFO
    field = int.from_bytes(data[18:26], "big")  # rate, channels, bits per sample, then 36 bits of samples
    field = (field & ~((1 << 36) - 1)) | round(declared_s * 16000)
    data[18:26] = field.to_bytes(8, "big")
    target.write_bytes(data)
    assert probe(target, timeout_s=30).duration_s == pytest.approx(declared_s)
    return target


def test_a_recording_without_a_declared_length_fails_past_the_limit_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, whisper: Path
) -> None:
    path = flac_stream(tmp_path / "live.flac", SPEECH / "harbour.ogg", silence_s=30.0)
    runtime = settings_from(
        {"MMINDEX_MODELS__ASR": str(whisper), "MMINDEX_MEDIA__MAX_DURATION_S": "20"}, monkeypatch, tmp_path / "home"
    )
    with pytest.raises(TooLarge, match="MMINDEX_MEDIA__MAX_DURATION_S") as raised:
        decode_audio(source(path), path, runtime, None)
    assert "\n" not in str(raised.value)


def test_a_recording_without_a_declared_length_is_planned_by_seeks_and_refused_at_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = flac_stream(tmp_path / "live.flac", SPEECH / "harbour.ogg", silence_s=40.0)
    env = {"MMINDEX_MODELS__ASR": str(tmp_path / "never-loaded"), "MMINDEX_MEDIA__WINDOW_S": "10"}
    runtime = settings_from({**env, "MMINDEX_MEDIA__MAX_DURATION_S": "30"}, monkeypatch, tmp_path / "home")
    monkeypatch.setattr(runtime, "transcriber", object)  # planning never transcribes
    with pytest.raises(TooLarge, match=r"declares no length .* \(MMINDEX_MEDIA__MAX_DURATION_S\)"):
        decode_audio(source(path), path, runtime, None)
    runtime = settings_from({**env, "MMINDEX_MEDIA__MAX_DURATION_S": "600"}, monkeypatch, tmp_path / "home")
    monkeypatch.setattr(runtime, "transcriber", object)
    windows = decode_audio(source(path), path, runtime, None).windows
    assert [(w.start_s, w.end_s) for w in windows] == [
        (0.0, 10.0),
        (10.0, 20.0),
        (20.0, 30.0),
        (30.0, 40.0),
        (40.0, None),
    ]


def test_a_recording_without_a_declared_length_is_transcribed_in_chunks_at_its_times(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, whisper: Path
) -> None:
    """Three sentences in a 32 s stream, transcribed 10 s at a time: each is found, at its time in the stream."""
    path = flac_stream(tmp_path / "live.flac", SPEECH / "harbour.ogg", SPEECH / "recipe.ogg", silence_s=2.0)
    env = {"MMINDEX_MODELS__ASR": str(whisper), "MMINDEX_MEDIA__MAX_DURATION_S": "60", "MMINDEX_MEDIA__WINDOW_S": "60"}
    runtime = settings_from(env, monkeypatch, tmp_path / "home")
    monkeypatch.setattr(decoders, "SPEECH_CHUNK_S", 6.0)
    decoded = decode_audio(source(path), path, runtime, None)
    assert not decoded.windows
    spoken = " ".join(str(found.text) for found in decoded.items).lower()
    assert "ferry" in spoken and "eggs" in spoken, spoken
    times = [found.start_s or 0.0 for found in decoded.items]
    assert times == sorted(times) and times[-1] > 4.0  # the second sentence comes after the first, in stream time
    assert all(found.item == round((found.start_s or 0.0) * 1000) for found in decoded.items)


def test_a_recording_that_lies_about_its_length_is_not_fanned_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Declares 6 hours, holds 20 s: two windows of 10 s, not 2160 empty window tasks."""
    path = lying_flac(tmp_path / "liar.flac", 20.0, 6 * 3600.0)
    env = {"MMINDEX_MODELS__ASR": str(tmp_path / "never-loaded"), "MMINDEX_MEDIA__WINDOW_S": "10"}
    runtime = settings_from(env, monkeypatch, tmp_path / "home")
    monkeypatch.setattr(runtime, "transcriber", object)
    windows = decode_audio(source(path), path, runtime, None).windows
    assert windows == [Window(0, 2, 0.0, 10.0), Window(1, 2, 10.0, None)]
    long = lying_flac(tmp_path / "long.flac", 50.0, 60.0)  # one that lasts (nearly) as long as it says
    assert len(decode_audio(source(long), long, runtime, None).windows) == 5


def test_a_video_with_frames_over_the_pixel_limit_fails_naming_it_without_decoding_frames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "wide.avi"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=640x480:rate=5", "-t", "2", "-c:v", "mjpeg", str(path))
    runtime = settings_from({"MMINDEX_VIDEO__MAX_FRAME_PIXELS": "300000"}, monkeypatch, tmp_path / "home")
    with pytest.raises(TooLarge, match="MMINDEX_VIDEO__MAX_FRAME_PIXELS") as raised:
        decode_video(source(path), path, runtime, None)
    assert "640x480" in str(raised.value)
    assert not list((tmp_path / "home").rglob("*.jpg"))  # no thumbnail: no frame was decoded
    runtime = settings_from({"MMINDEX_VIDEO__MAX_FRAME_PIXELS": "307200"}, monkeypatch, tmp_path / "home")
    assert len(decode_video(source(path), path, runtime, None).items) == 2


def test_a_video_whose_frames_grow_past_the_pixel_limit_mid_stream_fails_naming_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """3 black 64x64 frames, then 3 white 4000x4000 ones: the probe sees 64x64, the decoder refuses the rest."""
    from PIL import Image

    from tests.shared.media.ffmpeg.clips import growing_video

    path = growing_video(tmp_path / "media" / "growing.mkv")
    runtime = settings_from(
        {"MMINDEX_VIDEO__MAX_FRAME_PIXELS": "1000000", "MMINDEX_VIDEO__FPS": "25"}, monkeypatch, tmp_path / "home"
    )
    with pytest.raises(TooLarge, match=r"^a frame of growing\.mkv is 40\d\dx4000 pixels, over the limit of 1000000"):
        decode_video(source(path), path, runtime, None)
    thumbnails = list((tmp_path / "home").rglob("*.jpg"))
    assert all(np.asarray(Image.open(thumbnail).convert("L")).mean() < 64 for thumbnail in thumbnails)  # no white


def test_an_image_over_the_decoded_byte_budget_fails_alone_in_its_decode_group(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A 16 MB float TIFF (compressed to a few KB) over a 64 MiB budget fails naming the setting; the photos
    decoded in the same group still give their thumbnails."""
    from PIL import Image

    from tests.support.media import photo
    from workers.decode import decode_all

    folder = tmp_path / "photos"
    folder.mkdir()
    hostile = folder / "deep.tif"
    Image.fromarray(np.full((3000, 3000), 1000.0, dtype=np.float32)).save(hostile, compression="tiff_deflate")
    photos = [photo(folder / f"{n}.jpg", seed=n) for n in range(2)]
    runtime = settings_from({"MMINDEX_IMAGE__MAX_DECODED_BYTES": str(64 * 1024**2)}, monkeypatch, tmp_path / "home")
    found = decode_all([source(path) for path in [photos[0], hostile, photos[1]]], runtime)
    assert isinstance(found[1], TooLarge) and "MMINDEX_IMAGE__MAX_DECODED_BYTES" in str(found[1])
    for decoded in (found[0], found[2]):
        assert isinstance(decoded, decoders.Decoded) and len(decoded.items) == 1
    assert len(list((tmp_path / "home").rglob("*.jpg"))) == 2


def test_each_media_kind_has_one_decoder_and_only_time_based_media_is_read_in_place() -> None:
    assert all(kind is decoder.kind for kind, decoder in decoders.DECODERS.items())
    assert {kind for kind, decoder in decoders.DECODERS.items() if decoder.reads_in_place} == {
        MediaKind.VIDEO,
        MediaKind.AUDIO,
    }
    assert set(decoders.DECODERS) == {MediaKind.IMAGE, MediaKind.VIDEO, MediaKind.AUDIO, MediaKind.TEXT}
    assert not decoders.reads_in_place(None)
    assert not decoders.reads_in_place(MediaKind.UNKNOWN)
