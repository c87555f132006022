"""shared/media/ffmpeg/probing.py: a container's summary, and whether a stream really goes on to a time."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from shared.errors import RetryableError, UnsupportedMedia
from shared.media.ffmpeg import Remote, probe, reaches
from tests.shared.media.ffmpeg.clips import TIMEOUT_S
from tests.shared.media.ffmpeg.servers import RefusingServer


def test_probe_reads_duration_streams_and_size(media: dict[str, Path]) -> None:
    found = probe(media["clip"], timeout_s=TIMEOUT_S)
    assert found.video == "h264"
    assert found.audio == "aac"
    assert (found.width, found.height) == (64, 48)
    assert found.duration_s == pytest.approx(6.0, abs=0.1)


def test_probe_of_audio_with_cover_art_has_no_video(media: dict[str, Path]) -> None:
    found = probe(media["song"], timeout_s=TIMEOUT_S)
    assert (found.video, found.audio, found.width, found.height) == (None, "mp3", None, None)
    assert found.duration_s == pytest.approx(1.0, abs=0.1)


def test_probe_without_a_known_duration_says_none(media: dict[str, Path]) -> None:
    found = probe(media["empty"], timeout_s=TIMEOUT_S)
    assert (found.duration_s, found.audio, found.video) == (None, "pcm_s16le", None)


def test_probe_returns_a_codec_it_cannot_decode(media: dict[str, Path]) -> None:
    assert probe(media["unknown"], timeout_s=TIMEOUT_S).audio == "none"


def test_reaches_tells_where_the_media_really_ends(media: dict[str, Path]) -> None:
    assert reaches(media["clip"], 5.0, stream="audio", timeout_s=TIMEOUT_S)
    assert reaches(media["clip"], 5.5, stream="video", timeout_s=TIMEOUT_S)
    assert not reaches(media["clip"], 7.0, stream="audio", timeout_s=TIMEOUT_S)
    assert not reaches(media["clip"], 3600.0, stream="video", timeout_s=TIMEOUT_S)
    with pytest.raises(UnsupportedMedia, match="no audio stream"):  # not "it ends before 0 s"
        reaches(media["scenes"], 0.0, stream="audio", timeout_s=TIMEOUT_S)


@pytest.mark.parametrize("stream", ["audio", "video"])
def test_reaches_over_a_store_that_answers_503_is_retried_not_read_as_the_end(stream: Any) -> None:
    """A seek that fails for now would otherwise plan a long recording as one window, and a redelivered planning
    task could plan a different number of windows for the same version."""
    store = RefusingServer(503)
    try:
        remote = Remote(f"http://127.0.0.1:{store.port}/talk.mkv?X-Amz-Signature=secret", "talk.mkv")
        with pytest.raises(RetryableError, match=r"^reading talk\.mkv over HTTP failed for now") as failed:
            reaches(remote, 3600.0, stream=stream, timeout_s=TIMEOUT_S)
    finally:
        store.close()
    assert "127.0.0.1" not in str(failed.value) and "Signature" not in str(failed.value)


def test_reaches_over_a_dropped_connection_is_retried() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]  # nothing listens there once it is closed: the connection is refused
    with pytest.raises(RetryableError, match=r"talk\.mkv"):
        reaches(Remote(f"http://127.0.0.1:{port}/talk.mkv", "talk.mkv"), 60.0, stream="audio", timeout_s=TIMEOUT_S)
