"""The whole system distributed: moto's S3 server, a real Redis, one real Celery worker per pool."""

from __future__ import annotations

import json
import random
from pathlib import Path

import boto3
from PIL import Image

from tests.support.cli import Cli
from tests.support.media import near_copy, photo
from tests.support.workers import Workers


def upload(endpoint: str, bucket: str, key: str, data: bytes) -> None:
    boto3.client("s3", endpoint_url=endpoint).put_object(Bucket=bucket, Key=key, Body=data)


def test_photos_in_a_bucket_are_found_by_a_near_copy(
    workers: Workers, distributed_cli: Cli, s3_endpoint: str, bucket: str, tmp_path: Path
) -> None:
    photos = [photo(tmp_path / f"p{i}.jpg", seed=i) for i in range(6)]
    for path in photos:
        upload(s3_endpoint, bucket, f"trip/{path.name}", path.read_bytes())

    result = distributed_cli.json("ingest", f"s3://{bucket}/trip/", "--wait")

    assert sorted(result["indexed"]) == sorted(f"s3://{bucket}/trip/{p.name}" for p in photos)
    assert result["failed"] == []
    for target in (photos[2], photos[5]):
        hits = distributed_cli.json("search", "--image", str(near_copy(target, tmp_path / f"q-{target.name}")))
        assert hits[0]["uri"] == f"s3://{bucket}/trip/{target.name}"
        assert hits[0]["modality"] == "image"
        assert hits[0]["thumbnail"].startswith(f"s3://{bucket}/_mmindex/thumbnails/")
    # The random CLIP's text matches are noise, below the default minimum relevance: ask for every hit.
    text_hits = distributed_cli.json("search", "a photo", "--k", "3", "--min-relevance", "0")
    assert len(text_hits) == 3

    again = distributed_cli.json("ingest", f"s3://{bucket}/trip/", "--wait")
    assert again["indexed"] == [] and len(again["skipped"]) == len(photos)


def test_bad_objects_fail_with_reasons_and_the_good_ones_are_indexed(
    workers: Workers, distributed_cli: Cli, s3_endpoint: str, bucket: str, tmp_path: Path
) -> None:
    good = photo(tmp_path / "good.jpg", seed=11).read_bytes()
    upload(s3_endpoint, bucket, "in/good.jpg", good)
    upload(s3_endpoint, bucket, "in/empty.jpg", b"")
    upload(s3_endpoint, bucket, "in/truncated.jpg", good[: len(good) // 3])
    upload(s3_endpoint, bucket, "in/notes.jpg", b"shopping list: eggs, milk\n")
    upload(s3_endpoint, bucket, "in/noise.png", random.Random(1).randbytes(4096))
    bomb = tmp_path / "bomb.png"
    Image.new("1", (10_000, 9_000)).save(bomb)
    upload(s3_endpoint, bucket, "in/bomb.png", bomb.read_bytes())

    result = distributed_cli("ingest", f"s3://{bucket}/in/", f"s3://{bucket}/in/missing.jpg", "--wait", "--json")

    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["indexed"] == [f"s3://{bucket}/in/good.jpg"]
    errors = {failure["uri"].rsplit("/", 1)[1]: failure["error"] for failure in report["failed"]}
    assert "empty" in errors["empty.jpg"]
    assert "truncated" in errors["truncated.jpg"]
    assert "content is text" in errors["notes.jpg"]
    assert "unrecognised content" in errors["noise.png"]
    assert "exceeds the limit" in errors["bomb.png"]
    assert "no such key" in errors["missing.jpg"]
    assert all("\n" not in error for error in errors.values())

    status = distributed_cli.json("status")  # a key that never existed is reported, never recorded
    assert status["counts"]["done"] == 1 and status["counts"]["failed"] == 5
    recorded = {name: error for name, error in errors.items() if name != "missing.jpg"}
    assert {f["uri"].rsplit("/", 1)[1]: f["error"] for f in status["failed"]} == recorded
    assert all(workers.alive().values())


def test_search_without_a_query_pool_says_so(distributed_cli: Cli) -> None:
    distributed_cli.env["MMINDEX_TASKS__QUERY_TIMEOUT_S"] = "2"

    result = distributed_cli("search", "anything")

    assert result.returncode == 2
    assert "is `mmindex worker query` running?" in result.stderr


def test_an_unreachable_redis_is_one_clear_line(distributed_cli: Cli, tmp_path: Path) -> None:
    distributed_cli.env["MMINDEX_BROKER_URL"] = "redis://127.0.0.1:9/0"

    result = distributed_cli("ingest", str(photo(tmp_path / "a.jpg", seed=1)))

    assert result.returncode == 2
    assert "error:" in result.stderr and "127.0.0.1:9" in result.stderr
    assert "Traceback" not in result.stderr


def test_on_opensearch_a_deleted_object_leaves_and_nothing_is_written_twice(
    redis_url: str,
    mmindex_env: dict[str, str],
    opensearch_url: str,
    s3_endpoint: str,
    bucket: str,
    tmp_path: Path,
) -> None:
    from tests.support.services import on_opensearch
    from tests.support.workers import start_workers

    env, store = on_opensearch(mmindex_env, redis_url, opensearch_url, bucket)
    cli = Cli(env=env, cwd=tmp_path)
    workers = start_workers(env, tmp_path / "logs")
    try:
        photos = [photo(tmp_path / f"p{i}.jpg", seed=20 + i) for i in range(4)]
        for path in photos:
            upload(s3_endpoint, bucket, f"p/{path.name}", path.read_bytes())
        assert len(cli.json("ingest", f"s3://{bucket}/p/", "--wait")["indexed"]) == 4
        hits = cli.json("search", "--image", str(near_copy(photos[1], tmp_path / "q1.jpg")))
        assert hits[0]["uri"] == f"s3://{bucket}/p/p1.jpg"
        assert store.count() == 4

        # The object is deleted from the bucket: ingesting its key reports it and takes it out of the index.
        boto3.client("s3", endpoint_url=s3_endpoint).delete_object(Bucket=bucket, Key="p/p1.jpg")
        gone = cli("ingest", f"s3://{bucket}/p/p1.jpg", "--wait", "--json")
        assert gone.returncode == 1
        hits = cli.json("search", "--image", str(near_copy(photos[1], tmp_path / "q1.jpg")), "--k", "10")
        assert f"s3://{bucket}/p/p1.jpg" not in [hit["uri"] for hit in hits]

        # Ingesting again skips the objects left unchanged; an overwritten one replaces its document, never adds one.
        upload(s3_endpoint, bucket, "p/p2.jpg", photo(tmp_path / "new.jpg", seed=99).read_bytes())
        again = cli.json("ingest", f"s3://{bucket}/p/", "--wait")
        assert again["indexed"] == [f"s3://{bucket}/p/p2.jpg"]
        assert sorted(again["skipped"]) == [f"s3://{bucket}/p/p{n}.jpg" for n in (0, 3)]
        assert store.count() == 3
        assert store.count(source=f"s3://{bucket}/p/p2.jpg") == 1
        assert all(workers.alive().values())
    finally:
        workers.stop()


def test_on_opensearch_videos_recordings_and_documents_become_moments_and_chunks(
    redis_url: str,
    mmindex_env: dict[str, str],
    opensearch_url: str,
    s3_endpoint: str,
    bucket: str,
    tmp_path: Path,
) -> None:
    from tests.support.media import SPEECH, recording, slideshow
    from tests.support.services import on_opensearch
    from tests.support.workers import start_workers

    env, store = on_opensearch(mmindex_env, redis_url, opensearch_url, bucket)
    env["MMINDEX_MEDIA__WINDOW_S"] = "5"  # the 12 s video is decoded by three tasks
    cli = Cli(env=env, cwd=tmp_path)
    photos = [photo(tmp_path / f"p{i}.jpg", seed=40 + i) for i in range(4)]
    video = slideshow(photos, 3.0, tmp_path / "trip.mp4")
    talk = recording(tmp_path / "talk.wav", 30.0, {16.0: SPEECH / "weather.ogg"})
    upload(s3_endpoint, bucket, "m/trip.mp4", video.read_bytes())
    upload(s3_endpoint, bucket, "m/talk.wav", talk.read_bytes())
    upload(s3_endpoint, bucket, "m/garden.txt", b"Prune the roses in early spring, before new shoots appear.\n")
    upload(s3_endpoint, bucket, "m/cut-short.mp4", video.read_bytes()[: video.stat().st_size // 2])
    upload(s3_endpoint, bucket, "m/noise.wav", random.Random(7).randbytes(6000))
    workers = start_workers(env, tmp_path / "logs")
    try:
        result = cli("ingest", f"s3://{bucket}/m/", "--wait", "--json")
        assert result.returncode == 1, result.stderr
        report = json.loads(result.stdout)
        assert sorted(report["indexed"]) == [
            f"s3://{bucket}/m/{name}" for name in ("garden.txt", "talk.wav", "trip.mp4")
        ], report
        errors = {failure["uri"].rsplit("/", 1)[-1]: failure["error"] for failure in report["failed"]}
        assert "moov atom not found" in errors["cut-short.mp4"] and "unrecognised content" in errors["noise.wav"]
        frames = store.count("vision", source=f"s3://{bucket}/m/trip.mp4")
        assert frames == 12  # one a second over three windows, none doubled

        hits = cli.json("search", "--image", str(near_copy(photos[2], tmp_path / "q.jpg")), "--k", "3")
        assert hits[0]["uri"] == f"s3://{bucket}/m/trip.mp4"
        assert hits[0]["start_s"] >= 5.5 and hits[0]["end_s"] <= 9.5, hits[0]
        assert hits[0]["thumbnail"].startswith(f"s3://{bucket}/_mmindex/thumbnails/")

        hits = cli.json("search", "will it pour with rain in the hills tonight", "--modality", "audio")
        assert hits[0]["uri"] == f"s3://{bucket}/m/talk.wav" and abs(hits[0]["start_s"] - 16.0) <= 2.0, hits[0]
        hits = cli.json("search", "when to cut back rose bushes", "--modality", "text")
        assert hits[0]["uri"] == f"s3://{bucket}/m/garden.txt" and "roses" in hits[0]["text"]

        # A shorter cut of the video replaces every frame of the old one, across all its windows.
        upload(s3_endpoint, bucket, "m/trip.mp4", slideshow(photos[:2], 3.0, tmp_path / "cut.mp4").read_bytes())
        again = json.loads(cli("ingest", f"s3://{bucket}/m/", "--wait", "--json").stdout)
        assert again["indexed"] == [f"s3://{bucket}/m/trip.mp4"]
        assert store.count("vision", source=f"s3://{bucket}/m/trip.mp4") == 6
        assert all(workers.alive().values())
    finally:
        workers.stop()
