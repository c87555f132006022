"""shared/media/ffmpeg/failures.py: a failed run reported as one line a person can act on, of the right kind."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.errors import CorruptMedia, SourceNotFound
from shared.media.ffmpeg import pcm, probe
from tests.shared.media.ffmpeg.clips import TIMEOUT_S, sample


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("random", "invalid data found when processing input"),
        ("truncated", "moov atom not found"),
        ("text", "moov atom not found"),  # named .mp4, so the MP4 demuxer tries it
    ],
)
def test_unreadable_input_is_corrupt_with_a_one_line_reason(media: dict[str, Path], name: str, reason: str) -> None:
    attempts = {
        "media": lambda: probe(media[name], timeout_s=TIMEOUT_S),
        "video": lambda: sample(media[name]),
        "audio": lambda: pcm(media[name], timeout_s=TIMEOUT_S),
    }
    for subject, attempt in attempts.items():
        with pytest.raises(CorruptMedia) as raised:
            attempt()
        assert str(raised.value) == f"corrupt or truncated {subject}: {reason}"


def test_a_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(SourceNotFound, match=r"^gone\.mp4: no such file$"):
        probe(tmp_path / "gone.mp4", timeout_s=TIMEOUT_S)
    with pytest.raises(SourceNotFound, match=r"^gone\.mp4: no such file$"):
        sample(tmp_path / "gone.mp4")
