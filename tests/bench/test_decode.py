"""bench/decode.py: batched against sequential speech to text on a recording spoken by espeak-ng (a short one here;
ten times the clip, 10 minutes by default, in `mmindex bench decode`)."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from bench.decode import BATCHED_TARGET, BATCHED_WORD_ERROR, bench_batched
from bench.speech import SENTENCES, espeak, word_error
from shared.models.speech import WhisperTranscriber

pytestmark = pytest.mark.skipif(espeak() is None, reason="espeak-ng speaks the benchmark's recording")


def test_word_error_counts_words_substituted_dropped_and_added() -> None:
    assert word_error("The ferry leaves the harbour.", "the ferry leaves the harbor") == 0.0
    assert word_error("a b c d", "a x c") == 0.5  # one substituted, one dropped
    assert word_error("a b", "a b c d") == 1.0  # two added
    assert word_error("", "") == 0.0


def test_bench_batched_reports_both_speeds_their_ratio_and_the_word_error(whisper: Path) -> None:
    transcriber = WhisperTranscriber.load(str(whisper), device="cpu", threads=2)

    figures = bench_batched(transcriber, 40.0, Console(quiet=True), rounds=1)

    assert figures["seconds"] == 40.0
    for path in ("sequential", "batched"):
        assert figures[f"{path}_s"] > 0
        assert figures[f"{path}_x_realtime"] == pytest.approx(40.0 / figures[f"{path}_s"], abs=0.06)
        assert figures[f"{path}_word_error_spoken"] <= 0.2  # both heard the sentences that were spoken
    assert figures["ratio"] == pytest.approx(figures["sequential_s"] / figures["batched_s"], rel=0.01)
    assert figures["words"] >= 0.8 * len(" ".join(SENTENCES[:5]).split())  # 40 s: five sentences and more
    assert figures["word_error"] <= 0.1
    assert (figures["target"], figures["max_word_error"]) == (BATCHED_TARGET, BATCHED_WORD_ERROR)
    assert figures["met"] == (figures["ratio"] >= BATCHED_TARGET and figures["word_error"] <= BATCHED_WORD_ERROR)
