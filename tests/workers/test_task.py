"""Delivery is at least once: every task may run again with the same message, and the index must not change."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest

from shared.ledger import State
from shared.runtime import get_runtime, reset_runtime
from tests.support.media import photo
from workers.app import app
from workers.intakes.submission import submit


@pytest.mark.usefixtures("embedded")
def test_every_task_run_twice_leaves_the_same_index(tmp_path: Path, delivered: list[tuple[str, Any]]) -> None:
    photos = [photo(tmp_path / "in" / f"{i}.jpg", seed=i) for i in range(5)]
    submission = submit([str(tmp_path / "in")])
    runtime = get_runtime()
    assert [r.state for r in runtime.ledger.get(submission.ids)] == [State.DONE] * 5
    assert {name for name, _ in delivered} == {"workers.decode.decode", "workers.embed.embed", "workers.index.index"}
    before = runtime.store.count()
    assert before == len(photos)

    # Redeliver every message, as a broker does after a worker dies before acknowledging.
    for name, payload in list(delivered):
        app.tasks[name].apply(args=[payload])
    assert runtime.store.count() == before

    # A decode redelivered while its sources are still in flight runs the whole pipeline again: same documents.
    for path in photos:
        runtime.ledger.submit(runtime.storage(str(path)).stat(str(path)), pipeline="in flight")
    assert {r.state for r in runtime.ledger.get(submission.ids)} == {State.QUEUED}
    delivered.clear()
    app.tasks["workers.decode.decode"].apply(args=[{"sources": submission.queued}])
    assert [name for name, _ in delivered].count("workers.index.index") >= 1
    assert runtime.store.count() == before
    assert {r.state for r in runtime.ledger.get(submission.ids)} == {State.DONE}


@pytest.mark.usefixtures("embedded")
def test_an_unreachable_store_is_retried_then_dead_lettered_and_retry_replays_it(
    tmp_path: Path, s3_endpoint: str, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    from workers.decode import decode

    boto3.client("s3", endpoint_url=s3_endpoint).put_object(
        Bucket=bucket, Key="a.jpg", Body=photo(tmp_path / "a.jpg", seed=1).read_bytes()
    )
    runtime = get_runtime()
    info = runtime.storage(f"s3://{bucket}/a.jpg").stat(f"s3://{bucket}/a.jpg")
    id, _ = runtime.ledger.submit(info, runtime.settings.pipeline_version)

    # The object store goes away between listing and decoding: a transient fault, retried, then given up.
    monkeypatch.setenv("MMINDEX_S3__ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("MMINDEX_TASKS__MAX_RETRIES", "2")
    reset_runtime()
    decode.apply(args=[{"sources": [[id, info.version]]}])

    (record,) = get_runtime().ledger.get([id])
    assert record.state is State.DEAD  # a dead letter: nothing was wrong with the object
    assert record.error is not None
    assert record.error.startswith("gave up after 2 retries")
    assert "cannot reach S3" in record.error

    # The store is back: `mmindex retry` replays the dead letter.
    from typer.testing import CliRunner

    from workers.cli import app as cli_app

    monkeypatch.setenv("MMINDEX_S3__ENDPOINT_URL", s3_endpoint)
    reset_runtime()
    result = CliRunner().invoke(cli_app, ["retry", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["indexed"] == [f"s3://{bucket}/a.jpg"]
    (record,) = get_runtime().ledger.get([id])
    assert (record.state, record.error) == (State.DONE, None)


@pytest.mark.usefixtures("embedded")
def test_a_late_message_of_a_replaced_version_leaves_no_trace(tmp_path: Path, delivered: list[tuple[str, Any]]) -> None:
    path = photo(tmp_path / "in" / "a.jpg", seed=1)
    submit([str(path)])
    old_index = [payload for name, payload in delivered if name == "workers.index.index"]
    photo(path, seed=2)  # the file changes; its new version is indexed
    submit([str(path)])
    runtime = get_runtime()
    assert runtime.store.count(source=str(path)) == 1

    # The old version's index message arrives again, late (a redelivery after a worker died).
    for payload in old_index:
        app.tasks["workers.index.index"].apply(args=[payload])

    assert runtime.store.count(source=str(path)) == 1
    (record,) = runtime.ledger.get([old_index[0]["sources"][0][0]])
    assert record.state is State.DONE and record.version != old_index[0]["sources"][0][1]


@pytest.mark.usefixtures("embedded")
def test_a_video_in_s3_is_read_in_place_window_by_window_and_a_window_run_twice_changes_nothing(
    tmp_path: Path, s3_endpoint: str, bucket: str, monkeypatch: pytest.MonkeyPatch, delivered: list[tuple[str, Any]]
) -> None:
    import boto3

    from shared.storage.s3 import S3Storage
    from tests.support.media import slideshow

    video = slideshow([photo(tmp_path / f"{n}.jpg", seed=n) for n in range(3)], 3.0, tmp_path / "v.mp4")
    boto3.client("s3", endpoint_url=s3_endpoint).put_object(Bucket=bucket, Key="v.mp4", Body=video.read_bytes())
    monkeypatch.setenv("MMINDEX_MEDIA__WINDOW_S", "4")  # 9 s: three windows
    reset_runtime()
    fetched: list[str] = []
    fetch = S3Storage.fetch

    def counted(self: S3Storage, uri: str) -> Any:
        fetched.append(uri)
        return fetch(self, uri)

    monkeypatch.setattr(S3Storage, "fetch", counted)

    submission = submit([f"s3://{bucket}/v.mp4"])

    runtime = get_runtime()
    (record,) = runtime.ledger.get(submission.ids)
    assert record.state is State.DONE and runtime.store.count("vision") == 9  # a frame a second
    windows = [payload for name, payload in delivered if name == "workers.decode.decode" and "window" in payload]
    assert len(windows) == 3 and {payload["kind"] for payload in windows} == {"video"}
    # Never downloaded whole: sniffed from its first bytes, probed and decoded through a URL (only the thumbnails
    # the decode tasks wrote are fetched, by the embed stage).
    assert [uri for uri in fetched if not uri.endswith(".jpg")] == []
    before = runtime.store.count()
    for payload in windows:  # a window delivered again writes the same documents
        app.tasks["workers.decode.decode"].apply(args=[payload])
    assert runtime.store.count() == before and runtime.store.count("vision") == 9


def test_a_failure_handler_that_cannot_reach_the_ledger_does_not_end_the_worker(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The ledger's Redis is down while a task gives up: its sources are left to the sweeper, nothing is raised."""
    from shared.errors import StoreError
    from tests.support.services import free_port
    from workers.embed import embed

    monkeypatch.setenv("MMINDEX_BROKER_URL", f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    reset_runtime()
    try:
        with caplog.at_level(logging.ERROR, logger="mmindex.tasks"):
            embed.on_failure(StoreError("OpenSearch timed out"), "task-1", ({"sources": [["a1", "v1"]]},), {}, None)
    finally:
        monkeypatch.undo()
        reset_runtime()
    assert "could not record that 1 source(s) of workers.embed.embed failed" in caplog.text
    assert "leaving them to the sweeper" in caplog.text


def test_a_task_that_cannot_reach_the_broker_leaves_its_sources_in_flight(
    redis_url: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The broker was down longer than a send waits: the input is not at fault, so the source is not failed; it
    stays in flight for the sweeper to queue again."""
    from kombu.exceptions import OperationalError

    from shared.storage import ObjectInfo
    from workers.embed import embed

    monkeypatch.setenv("MMINDEX_BROKER_URL", redis_url)
    reset_runtime()
    try:
        ledger = get_runtime().ledger
        id, _ = ledger.submit(ObjectInfo("s3://b/a.jpg", "b", "a.jpg", 10, "v1"), "1")
        ledger.decoded(id, "v1", 1)
        with caplog.at_level(logging.ERROR, logger="mmindex.tasks"):
            embed.on_failure(OperationalError("Error 111 connecting"), "task-1", ({"sources": [[id, "v1"]]},), {}, None)
        (record,) = ledger.get([id])
    finally:
        monkeypatch.undo()
        reset_runtime()
    assert record.state is State.EMBEDDING and record.error is None
    assert "could not reach the broker" in caplog.text and "left to the sweeper" in caplog.text
