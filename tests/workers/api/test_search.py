"""workers/api/search.py through a real `mmindex serve` (embedded mode): text, image and spoken queries, as JSON,
as a query string and as uploads, with links the page can fetch; bad queries are answered with why."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from tests.support.api import Server
from tests.support.media import ffmpeg, near_copy
from tests.workers.api.conftest import Library

SPEECH = Path(__file__).resolve().parents[2] / "fixtures" / "speech"


@pytest.mark.timeout(600)
def test_each_kind_of_query_puts_the_right_source_first(api: Server, library: Library, tmp_path: Path) -> None:
    with api.client() as client:
        answer = client.get("/v1/search", params={"q": "ferry timetable of the harbour committee", "k": 5})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["hits"][0]["uri"] == str(library.note)
        assert body["hits"][0]["name"] == "harbour.txt" and "ferry" in body["hits"][0]["text"]
        assert isinstance(body["took_ms"], float | int)

        query = near_copy(library.photos[1], tmp_path / "query.jpg")
        encoded = base64.b64encode(query.read_bytes()).decode()
        by_json = client.post("/v1/search", json={"image": encoded, "k": 3, "modalities": ["image"]})
        assert by_json.status_code == 200, by_json.text
        hits = by_json.json()["hits"]
        assert hits[0]["uri"] == str(library.photos[1])
        assert {hit["modality"] for hit in hits} == {"image"}

        with query.open("rb") as upload:
            by_form = client.post("/v1/search", data={"k": "3"}, files={"image": ("query.jpg", upload, "image/jpeg")})
        assert by_form.status_code == 200, by_form.text
        assert by_form.json()["hits"][0]["uri"] == str(library.photos[1])

        # "More like this": the hit's own thumbnail, fetched through its link and searched with.
        thumbnail = client.get(hits[0]["thumbnail_url"])
        assert thumbnail.status_code == 200 and thumbnail.headers["content-type"] == "image/jpeg"
        more = client.post("/v1/search", files={"image": ("thumb.jpg", thumbnail.content, "image/jpeg")})
        assert more.json()["hits"][0]["uri"] == str(library.photos[1])

        spoken = client.post(
            "/v1/search",
            data={"modality": "text"},
            files={"audio": ("harbour.ogg", (SPEECH / "harbour.ogg").read_bytes(), "audio/ogg")},
        )
        assert spoken.status_code == 200, spoken.text
        assert spoken.json()["hits"][0]["uri"] == str(library.note)

        # Modes: by words only (no similarity: BM25 never shows as one), by meaning only, every hit however weak.
        lexical = client.get("/v1/search", params={"q": "harbour committee", "mode": "lexical"}).json()["hits"]
        assert [hit["uri"] for hit in lexical] == [str(library.note)]
        assert lexical[0]["score"] is None and 0 < lexical[0]["relevance"] <= 1
        dense = client.post("/v1/search", json={"text": "ferry", "mode": "dense", "min_relevance": 0, "k": 50})
        assert dense.status_code == 200, dense.text
        uris = {hit["uri"] for hit in dense.json()["hits"]}
        assert {str(library.note), *map(str, library.photos)} <= uris  # the random CLIP's noise too: no minimum
        assert all(hit["score"] is not None for hit in dense.json()["hits"])


@pytest.mark.timeout(600)
def test_bad_queries_are_answered_with_what_is_wrong(api: Server, library: Library, tmp_path: Path) -> None:
    tone = tmp_path / "tone.ogg"
    ffmpeg("-f", "lavfi", "-t", "3", "-i", "sine=frequency=440:sample_rate=16000", "-c:a", "libopus", str(tone))
    with api.client() as client:
        wrong: list[tuple[dict[str, str | int], str]] = [
            ({"q": ""}, "q"),
            ({"q": "x", "k": 0}, "k"),
            ({"q": "x", "modality": "smell"}, "modality"),
            ({"q": "x", "mode": "fuzzy"}, "mode"),
            ({"q": "x", "min_relevance": 2}, "min_relevance"),
        ]
        for params, field in wrong:
            answer = client.get("/v1/search", params=params)
            assert answer.status_code == 422, answer.text
            assert answer.json()["error"].startswith(field), answer.json()

        assert client.post("/v1/search", json={"text": "ferry", "k": 5000}).status_code == 422
        assert client.post("/v1/search", json={}).json()["error"] == "request: give exactly one of text, image or audio"

        not_image = client.post("/v1/search", files={"image": ("notes.jpg", b"just some words", "image/jpeg")})
        assert not_image.status_code == 400 and not_image.json()["error"].startswith("notes.jpg: ")
        truncated = library.photos[0].read_bytes()[:2000]
        cut = client.post("/v1/search", files={"image": ("cut.jpg", truncated, "image/jpeg")})
        assert cut.status_code == 400 and cut.json()["error"].startswith("cut.jpg: "), cut.text
        silent = client.post("/v1/search", files={"audio": ("tone.ogg", tone.read_bytes(), "audio/ogg")})
        assert silent.status_code == 400 and "no speech" in silent.json()["error"], silent.text
        garbled = client.post("/v1/search", json={"image": "not base64 at all!"})
        assert garbled.status_code == 400 and garbled.json()["error"] == "image: not valid base64"

        huge = client.post("/v1/search", json={"image": "A" * (9 * 1024**2)})
        assert huge.status_code == 413 and "MMINDEX_API__MAX_BODY_BYTES" in huge.json()["error"]
        for answer in (not_image, cut, silent, huge):
            assert "\n" not in answer.json()["error"]
