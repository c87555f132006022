"""workers/api/files.py through a real `mmindex serve`: the media of a hit is served with Range support so a browser
can seek in a video; anything that is not an indexed source or one of its thumbnails is 404, however it is spelt."""

from __future__ import annotations

import os
from urllib.parse import quote

import pytest

from tests.support.api import Server
from tests.workers.api.conftest import Library


@pytest.mark.timeout(600)
def test_a_video_hit_is_fetched_by_range_and_nothing_else_is_served(api: Server, library: Library) -> None:
    with api.client() as client:
        # The random CLIP's text matches are noise, below the default minimum relevance: every hit is asked for.
        params = {"q": "slides", "modality": "video", "k": 1, "min_relevance": 0}
        hits = client.get("/v1/search", params=params).json()["hits"]
        assert hits and hits[0]["uri"] == str(library.video)
        whole = library.video.read_bytes()
        part = client.get(hits[0]["media_url"], headers={"Range": "bytes=100-1123"})
        assert part.status_code == 206, part.text
        assert part.content == whole[100:1124]
        assert part.headers["content-range"] == f"bytes 100-1123/{len(whole)}"
        assert part.headers["content-type"] == "video/mp4"
        assert client.get(hits[0]["thumbnail_url"]).status_code == 200

        thumbnail = hits[0]["thumbnail"]
        folder = str(library.folder)
        refused = [
            str(library.outside),  # a file that exists, never ingested
            str(library.broken),  # ingested, failed
            f"{folder}/leak.txt",  # a link out of the folder (failed at ingest)
            str(library.secret),
            f"{folder}/photos/../photos/photo-1.jpg",  # an indexed file, spelt another way
            f"{folder}/photos/./photo-1.jpg",
            f"{folder}//photos/photo-1.jpg",
            f"{folder}/photos/photo-1.jpg/",
            "/etc/passwd",
            thumbnail.rsplit("/", 1)[0] + "/../../../../../etc/passwd",
            thumbnail.rsplit("/", 1)[0] + "/999999.jpg",  # a thumbnail that was never made
            thumbnail.replace("thumbnails/", "thumbnails/../thumbnails/"),
            "s3://bucket/key.jpg",
            "",
        ]
        for uri in refused:
            answer = client.get("/v1/files", params={"uri": uri})
            assert answer.status_code == 404, (uri, answer.status_code)
            assert answer.json()["error"].endswith("not an indexed source or one of its thumbnails")
        encoded = client.get(f"/v1/files?uri={quote(folder)}%2Fphotos%2F%2E%2E%2Fleak.txt")
        assert encoded.status_code == 404

        # An indexed file that is now a link elsewhere is not followed. (The library is shared: the file is put
        # back as it was, its times included, when the test ends.)
        target = library.photos[2]
        content, times = target.read_bytes(), target.stat()
        target.unlink()
        target.symlink_to(library.secret)
        try:
            assert client.get("/v1/files", params={"uri": str(target)}).status_code == 404
            assert client.get("/v1/files", params={"uri": str(library.photos[0])}).status_code == 200
        finally:
            target.unlink()
            target.write_bytes(content)
            os.utime(target, ns=(times.st_atime_ns, times.st_mtime_ns))
