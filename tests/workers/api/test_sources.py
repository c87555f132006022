"""workers/api/sources.py through a real `mmindex serve` (embedded mode): sources submitted over HTTP are answered
at once (202) and indexed by the server's background worker; one source's record, the status and retry answer
as `ingest`, `status` and `retry` do."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.api import Server, until_finished
from tests.support.media import near_copy, photo
from tests.workers.api.conftest import Library


@pytest.mark.timeout(600)
def test_sources_submitted_over_http_are_indexed_in_the_background(
    own_api: Server, own_library: Library, tmp_path: Path
) -> None:
    api, library = own_api, own_library
    inbox = tmp_path / "inbox"
    new = photo(inbox / "new.jpg", seed=21)
    torn = inbox / "torn.jpg"
    torn.write_bytes(library.photos[0].read_bytes()[:3000])
    with api.client() as client:
        answer = client.post("/v1/sources", json={"uris": [str(inbox), str(tmp_path / "typo")]})
        assert answer.status_code == 202, answer.text
        report = answer.json()
        assert sorted(report.get("queued", []) + report["indexed"]) == sorted([str(new), str(torn)])
        assert report["failed"][0]["uri"] == str(tmp_path / "typo") and "no such file" in report["failed"][0]["error"]

        assert until_finished(client, str(new))["state"] == "done"
        failed = until_finished(client, str(torn))
        assert failed["state"] == "failed" and "\n" not in str(failed["error"]) and failed["error"]
        assert {"version", "created_at", "updated_at"} <= failed.keys()
        hits = client.post(
            "/v1/search", files={"image": ("q.jpg", near_copy(new, tmp_path / "q.jpg").read_bytes(), "image/jpeg")}
        ).json()["hits"]
        assert hits[0]["uri"] == str(new)

        again = client.post("/v1/sources", json={"uris": [str(inbox)]}).json()
        assert again["skipped"] == [str(new)]  # unchanged: nothing to do; the failed one is tried again
        assert until_finished(client, str(torn))["state"] == "failed"

        status = client.get("/v1/status").json()
        assert status["counts"]["done"] == 6 and status["pending"] == 0
        assert {failure["uri"] for failure in status["failed"]} == {
            str(torn),
            str(library.broken),
            str(library.folder / "leak.txt"),
        }

        torn.write_bytes(library.photos[0].read_bytes())  # mended
        retried = client.post("/v1/retry")
        assert retried.status_code == 200, retried.text
        assert str(torn) in retried.json().get("queued", []) + retried.json()["indexed"]
        assert until_finished(client, str(torn))["state"] == "done"

        unknown = client.get("/v1/sources", params={"uri": str(tmp_path / "never.jpg")})
        assert unknown.status_code == 404 and "not a source of this index" in unknown.json()["error"]
        assert client.post("/v1/sources", json={"uris": []}).status_code == 422
