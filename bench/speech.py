"""A long spoken recording made in the run by espeak-ng, and the word error rate between two transcripts.

The recording is `SENTENCES` in turn, spoken as the test recordings are (tests/fixtures/speech/make.sh: the
Klatt variant of en-us, 120 words a minute, a low pitch, short gaps between words), with pauses of 0.6 to 2 s
between them, until it is `seconds` long.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from shared.media.ffmpeg import ffmpeg_exe
from shared.models.speech import SAMPLE_RATE

SENTENCES = (
    "The ferry leaves the harbour at seven every morning.",
    "Whisk the eggs with sugar until the mixture turns pale.",
    "Heavy rain is expected across the northern hills tonight.",
    "The library opens at nine and closes late on Thursdays.",
    "Our train was delayed outside the station for an hour.",
    "Please send the quarterly report to the finance team by Friday.",
    "The garden needs water after three dry weeks in a row.",
    "She painted the kitchen walls a pale shade of yellow.",
    "A small boat drifted slowly towards the rocky island.",
    "The museum has a new exhibition about ancient maps.",
    "He fixed the bicycle chain before riding to the market.",
    "The children built a tall tower out of wooden blocks.",
)
VOICE = ("-v", "en-us+klatt", "-s", "120", "-p", "25", "-g", "6")
"""espeak-ng's voice, speed, pitch and gap between words, as for the test recordings."""
PAUSES_S = (0.6, 1.3, 2.0, 0.9, 1.6)
"""Silence after each sentence, in turn."""


def espeak() -> str | None:
    """The espeak-ng command, or None where it is not installed."""
    return shutil.which("espeak-ng")


def spoken(text: str, directory: Path) -> NDArray[np.float32]:
    """`text` spoken by espeak-ng, as 16 kHz mono float32 samples."""
    command = espeak()
    if command is None:
        raise RuntimeError("espeak-ng is not installed: it speaks the recording (apt-get install espeak-ng)")
    wav = directory / "sentence.wav"
    subprocess.run([command, *VOICE, "-w", str(wav), text], capture_output=True, check=True)
    pcm = [ffmpeg_exe(), "-v", "error", "-i", str(wav), "-f", "f32le", "-ac", "1", "-ar", str(SAMPLE_RATE), "-"]
    return np.frombuffer(subprocess.run(pcm, capture_output=True, check=True).stdout, dtype=np.float32)


def spoken_recording(seconds: float) -> tuple[NDArray[np.float32], str]:
    """A recording `seconds` long of `SENTENCES` in turn with pauses, and the sentences it holds whole."""
    with tempfile.TemporaryDirectory(prefix="mmindex-speech-") as directory:
        voices = [spoken(text, Path(directory)) for text in SENTENCES]
    size = round(seconds * SAMPLE_RATE)
    parts: list[NDArray[np.float32]] = []
    said: list[str] = []
    filled = 0
    while filled < size:
        turn = len(parts) // 2
        pause = np.zeros(round(PAUSES_S[turn % len(PAUSES_S)] * SAMPLE_RATE), dtype=np.float32)
        voice = voices[turn % len(voices)]
        parts += [voice, pause]
        if filled + len(voice) <= size:
            said.append(SENTENCES[turn % len(SENTENCES)])
        filled += len(voice) + len(pause)
    return np.concatenate(parts)[:size], " ".join(said)


def words(text: str) -> list[str]:
    """The words of `text`, lower case, without punctuation ("harbour" and "harbor" alike)."""
    return re.findall(r"[a-z0-9']+", text.lower().replace("harbour", "harbor"))


def word_error(reference: str, hypothesis: str) -> float:
    """Word error rate of `hypothesis` against `reference`: words substituted, deleted and inserted, per word of
    the reference (0 when both are empty)."""
    said, heard = words(reference), words(hypothesis)
    if not said:
        return float(len(heard) > 0)
    previous = list(range(len(heard) + 1))  # edit distances of the reference so far to each prefix of `heard`
    for row, word in enumerate(said, start=1):
        current = [row]
        for column, other in enumerate(heard, start=1):
            current.append(min(previous[column] + 1, current[-1] + 1, previous[column - 1] + (word != other)))
        previous = current
    return previous[-1] / len(said)
