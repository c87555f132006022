"""shared/media/ffmpeg/audio.py: float mono samples, whole or a chunk at a time, and an encoded recording."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from shared.errors import TooLarge, UnsupportedMedia
from shared.media.ffmpeg import pcm, pcm_chunks, probe, write_audio
from tests.shared.media.ffmpeg.clips import TIMEOUT_S


def test_pcm_is_float_mono_at_the_rate_asked(media: dict[str, Path]) -> None:
    samples = pcm(media["clip"], timeout_s=TIMEOUT_S)
    assert samples.dtype == np.float32
    assert samples.ndim == 1
    assert len(samples) == pytest.approx(6 * 16000, rel=0.01)
    assert -0.2 < samples.min() < -0.1 and 0.1 < samples.max() < 0.2  # lavfi's sine has amplitude 1/8
    spectrum = np.abs(np.fft.rfft(samples))
    assert np.argmax(spectrum) * 16000 / len(samples) == pytest.approx(440, abs=2)


def test_pcm_of_a_window_at_another_rate(media: dict[str, Path]) -> None:
    samples = pcm(media["clip"], start_s=1.0, end_s=3.5, timeout_s=TIMEOUT_S, rate=8000)
    assert len(samples) == pytest.approx(2.5 * 8000, rel=0.01)


def test_pcm_of_a_zero_length_recording_is_empty(media: dict[str, Path]) -> None:
    samples = pcm(media["empty"], timeout_s=TIMEOUT_S)
    assert samples.dtype == np.float32
    assert samples.shape == (0,)


def test_pcm_without_audio_is_unsupported(media: dict[str, Path]) -> None:
    with pytest.raises(UnsupportedMedia, match=r"^no audio stream$"):
        pcm(media["scenes"], timeout_s=TIMEOUT_S)


def test_pcm_of_an_unknown_codec_is_unsupported_and_names_it(media: dict[str, Path]) -> None:
    with pytest.raises(UnsupportedMedia) as raised:
        pcm(media["unknown"], timeout_s=TIMEOUT_S)
    assert str(raised.value) == "unsupported audio codec none (0x1234): this ffmpeg build has no decoder for it"


def test_pcm_chunks_are_the_same_samples_a_chunk_at_a_time(media: dict[str, Path]) -> None:
    chunks = list(pcm_chunks(media["clip"], start_s=1.0, chunk_s=2.0, timeout_s=TIMEOUT_S))
    assert [len(chunk) for chunk in chunks[:-1]] == [32000, 32000]
    assert np.array_equal(np.concatenate(chunks), pcm(media["clip"], start_s=1.0, timeout_s=TIMEOUT_S))
    assert list(pcm_chunks(media["empty"], chunk_s=2.0, timeout_s=TIMEOUT_S)) == []


def test_pcm_chunks_past_the_length_limit_fail_naming_it(media: dict[str, Path]) -> None:
    with pytest.raises(TooLarge, match=r"past 4 s, the length limit \(MMINDEX_MEDIA__MAX_DURATION_S\)"):
        list(pcm_chunks(media["clip"], chunk_s=1.0, max_s=4.0, timeout_s=TIMEOUT_S))
    assert len(np.concatenate(list(pcm_chunks(media["clip"], chunk_s=1.0, max_s=6.0, timeout_s=TIMEOUT_S)))) > 0
    # A window that ends before the limit is not affected by it.
    assert list(pcm_chunks(media["clip"], end_s=3.0, chunk_s=5.0, max_s=4.0, timeout_s=TIMEOUT_S))


def test_write_audio_gives_a_small_ogg_opus_that_decodes_back(tmp_path: Path) -> None:
    tone = (0.5 * np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)).astype(np.float32)
    encoded = write_audio(tone, 16000, timeout_s=TIMEOUT_S)
    assert encoded.startswith(b"OggS")
    assert len(encoded) < 16000 * 2 / 4  # well under the 16-bit PCM size
    path = tmp_path / "query.ogg"
    path.write_bytes(encoded)
    assert probe(path, timeout_s=TIMEOUT_S).audio == "opus"
    decoded = pcm(path, timeout_s=TIMEOUT_S)
    assert len(decoded) == pytest.approx(16000, rel=0.05)
    spectrum = np.abs(np.fft.rfft(decoded))
    assert np.argmax(spectrum) * 16000 / len(decoded) == pytest.approx(440, abs=3)


def test_write_audio_takes_mono_only() -> None:
    with pytest.raises(ValueError, match="mono"):
        write_audio(np.zeros((2, 100), dtype=np.float32), 16000, timeout_s=TIMEOUT_S)
