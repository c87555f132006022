"""The API in distributed mode, on real Redis, real workers and the OpenSearch node: submissions go to the decode
queue, searches to the query pool, storage notifications to the events route; an S3 hit's media is a presigned
redirect; a query pool that does not answer is a 504, a broker that is down a 503."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import boto3
import httpx
import pytest

from tests.support.api import running_api, until_finished
from tests.support.media import near_copy, photo
from tests.support.services import free_port, on_opensearch
from tests.support.workers import running_workers
from tests.workers.intakes.events import record


@pytest.mark.timeout(900)
def test_the_api_drives_the_pools(
    mmindex_env: dict[str, str],
    redis_url: str,
    opensearch_url: str,
    s3_endpoint: str,
    bucket: str,
    tmp_path: Path,
) -> None:
    env, _ = on_opensearch(mmindex_env, redis_url, opensearch_url, f"api-{uuid.uuid4().hex[:8]}")
    env.update(MMINDEX_EVENTS__TOKEN="s3cret", MMINDEX_OPENSEARCH__REFRESH="true")
    local = photo(tmp_path / "album" / "local.jpg", seed=31)
    uploaded = photo(tmp_path / "upload.jpg", seed=32)
    etag = boto3.client("s3", endpoint_url=s3_endpoint).put_object(
        Bucket=bucket, Key="in/upload.jpg", Body=uploaded.read_bytes()
    )["ETag"]
    event = {"Records": [record(bucket, "in/upload.jpg", "s3:ObjectCreated:Put", etag.strip('"'), "17A3C2B1F0E1D000")]}
    with (
        running_workers(env, tmp_path / "logs"),
        running_api(env, tmp_path / "api.log") as server,
        server.client() as client,
    ):
        ready = client.get("/readyz").json()
        assert ready["ready"] and ready["checks"]["broker"] == "ok", ready

        submitted = client.post("/v1/sources", json={"uris": [str(tmp_path / "album")]})
        assert submitted.status_code == 202 and submitted.json()["queued"] == [str(local)], submitted.text
        wrong = client.post("/v1/events", content=json.dumps(event), headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        garbled = client.post("/v1/events", content=b"{not json", headers={"Authorization": "Bearer s3cret"})
        assert garbled.status_code == 400 and "\n" not in garbled.json()["error"]
        heard = client.post("/v1/events", content=json.dumps(event), headers={"Authorization": "Bearer s3cret"})
        assert heard.status_code == 200 and heard.json()["queued"] == 1, heard.text

        s3_uri = f"s3://{bucket}/in/upload.jpg"
        assert until_finished(client, str(local))["state"] == "done"
        assert until_finished(client, s3_uri)["state"] == "done"

        for source, uri in ((local, str(local)), (uploaded, s3_uri)):
            query = near_copy(source, tmp_path / "q.jpg").read_bytes()
            hits = client.post("/v1/search", files={"image": ("q.jpg", query, "image/jpeg")}).json()["hits"]
            assert hits[0]["uri"] == uri
        redirect = client.get(hits[0]["media_url"], follow_redirects=False)
        assert redirect.status_code == 307
        location = redirect.headers["location"]
        assert location.startswith(s3_endpoint) and "in/upload.jpg" in location and "Signature" in location
        assert httpx.get(location).content == uploaded.read_bytes()
        assert client.get("/v1/status").json()["counts"]["done"] == 2


@pytest.mark.timeout(300)
def test_a_silent_query_pool_is_a_504_and_a_dead_broker_a_503(
    mmindex_env: dict[str, str], redis_url: str, tmp_path: Path
) -> None:
    silent = {**mmindex_env, "MMINDEX_BROKER_URL": redis_url, "MMINDEX_TASKS__QUERY_TIMEOUT_S": "2"}
    with running_api(silent, tmp_path / "silent.log") as server, server.client() as client:
        answer = client.get("/v1/search", params={"q": "anything"})
        assert answer.status_code == 504, answer.text
    dead = {**mmindex_env, "MMINDEX_BROKER_URL": f"redis://127.0.0.1:{free_port()}/0"}
    with running_api(dead, tmp_path / "dead.log", ready=False) as server, server.client() as client:
        ready = client.get("/readyz")
        assert ready.status_code == 503 and ready.json()["checks"]["broker"] != "ok"
        answer = client.get("/v1/search", params={"q": "anything"})
        assert answer.status_code == 503 and "\n" not in answer.json()["error"], answer.text
