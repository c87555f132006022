"""shared/media/ffmpeg/inputs.py: a local file read by the file protocol alone, a remote one over its own
protocol, by the demuxers of the containers sniffing admits only: no playlist makes ffmpeg fetch a URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from shared.errors import CorruptMedia, SourceNotFound, UnsupportedMedia
from shared.media.ffmpeg import Remote, frames, pcm, probe
from tests.shared.media.ffmpeg.clips import TIMEOUT_S, options, sample, source_frame, times
from tests.shared.media.ffmpeg.servers import CountingServer


def test_a_playlist_cannot_make_ffmpeg_fetch_urls(tmp_path: Path) -> None:
    playlist = tmp_path / "clip.m3u8"
    playlist.write_text("#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\nhttp://127.0.0.1:9/seg.ts\n#EXT-X-ENDLIST\n")
    # A local playlist is not even opened as one: only the demuxers of the containers sniffing admits may run.
    with pytest.raises(CorruptMedia, match=r"^corrupt or truncated media: format not on whitelist 'mov,matroska,"):
        probe(playlist, timeout_s=TIMEOUT_S)


def test_a_window_is_read_from_a_presigned_url_like_the_local_file(
    media: dict[str, Path], s3_endpoint: str, bucket: str
) -> None:
    import boto3

    from shared.config import Settings
    from shared.storage.s3 import S3Storage

    boto3.client("s3", endpoint_url=s3_endpoint).put_object(
        Bucket=bucket, Key="clips/clip.mp4", Body=media["clip"].read_bytes()
    )
    storage = S3Storage(Settings(s3={"endpoint_url": s3_endpoint}))
    media_url = storage.media_url(f"s3://{bucket}/clips/clip.mp4", expires_s=600)
    assert media_url is not None and media_url.url.startswith(s3_endpoint) and media_url.headers == ()
    url = media_url.url
    remote = Remote(url, "clip.mp4")

    assert probe(remote, timeout_s=TIMEOUT_S) == probe(media["clip"], timeout_s=TIMEOUT_S)
    window = {"start_s": 2.0, "end_s": 4.0}
    here, there = sample(media["clip"], **window), list(frames(remote, **options(**window)))
    assert times(there) == times(here) == [2.0, 2.5, 3.0, 3.5]
    assert [source_frame(frame) for frame in there] == [source_frame(frame) for frame in here]
    sound = pcm(remote, start_s=1.0, end_s=2.0, timeout_s=TIMEOUT_S)
    assert np.array_equal(sound, pcm(media["clip"], start_s=1.0, end_s=2.0, timeout_s=TIMEOUT_S)) and len(sound)

    gone = Remote(url.replace("clip.mp4", "missing.mp4"), "missing.mp4")
    with pytest.raises(SourceNotFound, match=r"missing\.mp4"):
        probe(gone, timeout_s=TIMEOUT_S)


@pytest.mark.parametrize("run", [probe, pcm, lambda remote, timeout_s: list(frames(remote, **options()))])
def test_a_remote_playlist_cannot_make_ffmpeg_fetch_the_urls_it_names(run: Any) -> None:

    inside = CountingServer(b"")
    playlist = (
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n"
        f"http://127.0.0.1:{inside.port}/latest/meta-data/seg.ts\n#EXT-X-ENDLIST\n"
    )
    outside = CountingServer(playlist.encode())
    try:
        remote = Remote(f"http://127.0.0.1:{outside.port}/clip.mp4?X-Amz-Signature=secret", "clip.mp4")
        with pytest.raises((CorruptMedia, UnsupportedMedia)) as failed:
            run(remote, timeout_s=TIMEOUT_S)
    finally:
        inside.close()
        outside.close()
    assert inside.requests == []  # the URL the playlist names was never fetched
    assert outside.requests and all(path.startswith("/clip.mp4") for path in outside.requests)
    message = str(failed.value)
    assert "127.0.0.1" not in message and "Signature" not in message and "\n" not in message


def test_a_remote_file_is_read_over_its_own_protocol_only() -> None:

    with pytest.raises(UnsupportedMedia, match=r"^clip\.mp4: cannot be read over file \(HTTP\(S\) only\)$"):
        probe(Remote("file:///etc/passwd", "clip.mp4"), timeout_s=TIMEOUT_S)


def test_a_remote_read_of_a_replaced_object_fails_on_its_etag(
    media: dict[str, Path], s3_endpoint: str, bucket: str
) -> None:
    import boto3

    from shared.config import Settings
    from shared.storage.s3 import S3Storage

    client = boto3.client("s3", endpoint_url=s3_endpoint)
    etag = client.put_object(Bucket=bucket, Key="clips/pinned.mp4", Body=media["clip"].read_bytes())["ETag"]
    storage = S3Storage(Settings(s3={"endpoint_url": s3_endpoint}))
    pinned = storage.media_url(f"s3://{bucket}/clips/pinned.mp4", expires_s=600, version=etag.strip('"'))
    assert pinned is not None and pinned.headers == (("If-Match", etag),)
    remote = Remote(pinned.url, "pinned.mp4", headers=pinned.headers)
    assert probe(remote, timeout_s=TIMEOUT_S) == probe(media["clip"], timeout_s=TIMEOUT_S)

    client.put_object(Bucket=bucket, Key="clips/pinned.mp4", Body=media["short"].read_bytes())
    with pytest.raises(CorruptMedia, match=r"4XX Client Error") as failed:  # 412: the ETag is not the one planned
        probe(remote, timeout_s=TIMEOUT_S)
    assert s3_endpoint not in str(failed.value) and "Signature" not in str(failed.value)
