"""workers/api/access.py through a real `mmindex serve`: search keys may search and fetch files, admin keys may do
everything, file links carry their own signature; without keys the server will not listen beyond loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.api import running_api
from tests.support.cli import Cli
from tests.workers.api.conftest import Library


@pytest.mark.timeout(600)
def test_keys_decide_who_may_do_what(library_env: dict[str, str], library: Library, tmp_path: Path) -> None:
    env = {
        **library_env,
        "MMINDEX_API__SEARCH_KEYS": "finder-1,finder-2",
        "MMINDEX_API__ADMIN_KEYS": "boss",
        "MMINDEX_API__CORS_ORIGINS": "https://app.example",
    }
    with running_api(env, tmp_path / "api.log") as server:
        with server.client() as anyone:
            assert anyone.get("/healthz").status_code == 200
            assert anyone.get("/v1/info").json()["auth"] is True
            paths = anyone.get("/openapi.json").json()["paths"]
            assert {"/v1/search", "/v1/files", "/v1/sources", "/v1/status", "/v1/retry", "/v1/events"} <= paths.keys()
            assert anyone.get("/docs").status_code == 200
            for origin, allowed in (("https://app.example", "https://app.example"), ("https://evil.example", None)):
                preflight = anyone.options(
                    "/v1/search",
                    headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                             "Access-Control-Request-Headers": "authorization"},
                )  # fmt: skip
                assert preflight.headers.get("access-control-allow-origin") == allowed
            assert anyone.get("/v1/search", params={"q": "ferry"}).status_code == 401
            assert anyone.get("/v1/status").status_code == 401
        with server.client("finder-3") as wrong:
            answer = wrong.get("/v1/search", params={"q": "ferry"})
            assert answer.status_code == 401 and "\n" not in answer.json()["error"]
        with server.client("finder-2") as finder:
            hits = finder.get("/v1/search", params={"q": "ferry harbour committee"}).json()["hits"]
            assert hits[0]["uri"] == str(library.note)
            forbidden = finder.get("/v1/status")
            assert forbidden.status_code == 403 and "MMINDEX_API__ADMIN_KEYS" in forbidden.json()["error"]
            assert finder.post("/v1/sources", json={"uris": [str(library.folder)]}).status_code == 403
            assert finder.post("/v1/retry").status_code == 403
        with server.client("boss") as boss:
            assert boss.get("/v1/status").json()["counts"]["done"] == 5
            assert boss.get("/v1/search", params={"q": "ferry"}).status_code == 200
        with server.client() as browser:  # an <img> or <video> sends no header: the link is signed
            link = hits[0]["media_url"]
            assert browser.get(link).content == library.note.read_bytes()
            assert browser.get(link.replace("sig=", "sig=0")).status_code == 401
            assert browser.get("/v1/files", params={"uri": str(library.note)}).status_code == 401


def test_without_keys_the_server_listens_on_loopback_only(cli: Cli) -> None:
    result = cli("serve", "--host", "0.0.0.0", "--port", "1")
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert "without API keys" in result.stderr and "MMINDEX_API__ADMIN_KEYS" in result.stderr
