"""Videos, recordings and text documents end to end, in embedded mode: ingest, then search for moments and chunks.

The real `mmindex` command searches; the ingest before a search runs in this process, as the command runs it in
embedded mode (the `ingested` fixture), since each command spends seconds loading its libraries and models. The
command itself ingests the bad media and a long video the second time.

Real ffmpeg, the real tiny.en speech model and the real MiniLM; the vision model is a random-weight CLIP,
so images are only found by near copies of themselves, never by words.
"""

from __future__ import annotations

import json
import random
import struct
from collections.abc import Callable
from pathlib import Path

import pytest

from shared.runtime import reset_runtime
from tests.support.cli import Cli
from tests.support.media import SPEECH, ffmpeg, near_copy, photo, recording, slideshow

SECONDS_EACH = 3.0


def test_a_video_of_photos_is_found_at_the_right_time_by_one_of_them(
    cli: Cli, ingested: Callable[..., list[str]], tmp_path: Path
) -> None:
    photos = [photo(tmp_path / "photos" / f"{i}.jpg", seed=10 + i) for i in range(4)]
    video = slideshow(photos, SECONDS_EACH, tmp_path / "media" / "holiday.mp4")

    assert ingested(tmp_path / "media") == [str(video)]

    for number in (1, 3):
        hits = cli.json("search", "--image", str(near_copy(photos[number], tmp_path / f"q{number}.jpg")), "--k", "3")
        best = hits[0]
        assert (best["uri"], best["modality"]) == (str(video), "video")
        shown = (number * SECONDS_EACH, (number + 1) * SECONDS_EACH)
        assert shown[0] - 0.5 <= best["start_s"] and best["end_s"] <= shown[1] + 0.5, (best, shown)
        assert best["end_s"] - best["start_s"] >= 2.0  # the frames of that photo merged into one moment
        assert Path(best["thumbnail"]).is_file()


def test_a_spoken_sentence_is_found_by_a_paraphrase_at_the_right_time(
    cli: Cli, ingested: Callable[..., list[str]], tmp_path: Path
) -> None:
    talk = recording(tmp_path / "media" / "talk.wav", 40.0, {3.0: SPEECH / "recipe.ogg", 21.0: SPEECH / "harbour.ogg"})
    notes = tmp_path / "media" / "notes.md"
    notes.write_text("# Garden\n\nPrune the roses in early spring, before new shoots appear.\n")

    assert sorted(ingested(tmp_path / "media")) == sorted([str(talk), str(notes)])

    hits = cli.json("search", "when does the boat depart from the port", "--modality", "audio")
    best = hits[0]
    assert (best["uri"], best["modality"]) == (str(talk), "audio")
    assert abs(best["start_s"] - 21.0) <= 2.0, best
    assert "harbo" in best["text"].lower()  # the words heard there (tiny.en hears "harbor")

    hits = cli.json("search", "beating eggs for a cake")
    assert hits[0]["uri"] == str(talk) and abs(hits[0]["start_s"] - 3.0) <= 2.0, hits[0]

    hits = cli.json("search", "when should I cut back my rose bushes")
    assert (hits[0]["uri"], hits[0]["modality"]) == (str(notes), "text")
    assert "Prune the roses" in hits[0]["text"] and hits[0]["start_s"] is None


def test_a_spoken_query_finds_what_was_said(cli: Cli, ingested: Callable[..., list[str]], tmp_path: Path) -> None:
    talk = recording(
        tmp_path / "media" / "forecast.wav", 30.0, {4.0: SPEECH / "recipe.ogg", 18.0: SPEECH / "weather.ogg"}
    )
    assert ingested(tmp_path / "media") == [str(talk)]

    hits = cli.json("search", "--audio", str(SPEECH / "weather.ogg"))

    assert hits[0]["uri"] == str(talk) and abs(hits[0]["start_s"] - 18.0) <= 2.0, hits[0]


def test_a_long_video_is_decoded_in_windows_with_the_same_result(
    cli: Cli, ingested: Callable[..., list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    photos = [photo(tmp_path / "photos" / f"{i}.jpg", seed=30 + i) for i in range(4)]
    video = slideshow(photos, SECONDS_EACH, tmp_path / "media" / "long.mp4")
    cli.env["MMINDEX_MEDIA__WINDOW_S"] = "5"  # 12 s: three windows, three tasks
    monkeypatch.setenv("MMINDEX_MEDIA__WINDOW_S", "5")  # in this process too
    reset_runtime()

    assert ingested(tmp_path / "media") == [str(video)]

    hits = cli.json("search", "--image", str(near_copy(photos[2], tmp_path / "q.jpg")), "--k", "100")
    assert hits[0]["uri"] == str(video)
    assert hits[0]["start_s"] >= 2 * SECONDS_EACH - 0.5 and hits[0]["end_s"] <= 3 * SECONDS_EACH + 0.5
    frames = sorted(Path(cli.env["MMINDEX_HOME"], "artifacts", "thumbnails").glob("*/*/*.jpg"))
    # one a second, named by its time in ms: none lost or doubled at the windows' edges
    assert sorted(int(path.stem) for path in frames) == [1000 * second for second in range(12)]
    assert cli.json("ingest", str(tmp_path / "media"))["skipped"] == [str(video)]


def test_bad_media_fails_with_reasons_and_the_good_files_are_indexed(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "mixed"
    good = slideshow([photo(tmp_path / "p.jpg", seed=1)], 2.0, folder / "good.mp4")
    (folder / "truncated.mp4").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    (folder / "notes.mp4").write_text("not a video\n")
    (folder / "noise.wav").write_bytes(random.Random(5).randbytes(8000))
    ffmpeg("-f", "lavfi", "-t", "2", "-i", "sine=sample_rate=16000", "-c:a", "aac", str(folder / "tone-only.mp4"))
    (folder / "silent.wav").write_bytes(wav_header(samples=0))
    (folder / "odd-codec.wav").write_bytes(wav_header(samples=16000, format_tag=0x1234) + bytes(32000))
    ffmpeg("-f", "lavfi", "-i", "testsrc=size=64x48:rate=5", "-t", "8", "-c:v", "libx264", str(folder / "long.mp4"))
    cli.env["MMINDEX_MEDIA__MAX_DURATION_S"] = "5"

    result = cli("ingest", str(folder), "--json")

    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["indexed"] == [str(good)]
    errors = {Path(failure["uri"]).name: failure["error"] for failure in report["failed"]}
    assert errors.keys() == {
        "truncated.mp4", "notes.mp4", "noise.wav", "tone-only.mp4", "silent.wav", "odd-codec.wav", "long.mp4"
    }  # fmt: skip
    assert "corrupt" in errors["truncated.mp4"] or "truncated" in errors["truncated.mp4"], errors
    assert errors["notes.mp4"] == "content is text but the name says video (.mp4)"
    assert "unrecognised content" in errors["noise.wav"]
    assert errors["tone-only.mp4"].startswith("no video stream")
    assert "zero-length recording" in errors["silent.wav"]
    assert "codec" in errors["odd-codec.wav"], errors
    assert "over the 5 s limit (MMINDEX_MEDIA__MAX_DURATION_S)" in errors["long.mp4"]
    assert all("\n" not in error for error in errors.values())


def wav_header(samples: int, format_tag: int = 1) -> bytes:
    """A 16 kHz mono 16-bit WAV header announcing `samples` samples."""
    data = samples * 2
    fmt = struct.pack("<HHIIHH", format_tag, 1, 16000, 32000, 2, 16)
    return (
        b"RIFF"
        + struct.pack("<I", 36 + data)
        + b"WAVEfmt "
        + struct.pack("<I", 16)
        + fmt
        + b"data"
        + struct.pack("<I", data)
    )
