"""workers/decode.py: each read pinned to the version planned, documents streamed in bounded batches and capped,
and one slow source failing alone, in embedded mode (tasks in this process) and with real workers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from celery.signals import task_prerun

from shared.ledger import State, source_id
from shared.runtime import get_runtime, reset_runtime
from tests.shared.media.ffmpeg.servers import CountingServer as _Counting
from tests.shared.media.test_text_child import slow_pdf
from tests.support.cli import Cli
from tests.support.media import photo
from tests.support.workers import start_workers
from workers.intakes.submission import submit


def settings(monkeypatch: pytest.MonkeyPatch, **values: str) -> None:
    for name, value in values.items():
        monkeypatch.setenv(f"MMINDEX_{name}", value)
    reset_runtime()


# ---------------------------------------------------------------- the version planned, and nothing else


@pytest.mark.usefixtures("embedded")
def test_a_video_replaced_by_a_playlist_before_its_windows_run_fails_without_fetching_what_it_names(
    tmp_path: Path, s3_endpoint: str, bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3

    from tests.support.media import slideshow

    client = boto3.client("s3", endpoint_url=s3_endpoint)
    video = slideshow([photo(tmp_path / f"{n}.jpg", seed=n) for n in range(3)], 3.0, tmp_path / "v.mp4")
    client.put_object(Bucket=bucket, Key="v.mp4", Body=video.read_bytes())
    settings(monkeypatch, MEDIA__WINDOW_S="4")  # 9 s: three windows, planned by the first task
    metadata = _Counting(b"")  # stands for an internal address (instance metadata)
    playlist = (
        "#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:2.0,\n"
        f"http://127.0.0.1:{metadata.port}/latest/meta-data/iam.ts\n#EXT-X-ENDLIST\n"
    )

    def replace(sender: Any = None, args: Any = None, **_: Any) -> None:
        if sender.name == "workers.decode.decode" and "window" in args[0]:
            client.put_object(
                Bucket=bucket, Key="v.mp4", Body=playlist.encode(), ContentType="application/vnd.apple.mpegurl"
            )

    task_prerun.connect(replace, weak=False)
    try:
        submission = submit([f"s3://{bucket}/v.mp4"])
    finally:
        task_prerun.disconnect(replace)
        metadata.close()

    runtime = get_runtime()
    (record,) = runtime.ledger.get(submission.ids)
    assert record.state is State.FAILED
    assert record.error is not None and "was replaced after it was queued" in record.error
    assert "http" not in record.error.replace(f"s3://{bucket}", "") and "127.0.0.1" not in record.error
    assert metadata.requests == []
    assert runtime.store.count(source=f"s3://{bucket}/v.mp4") == 0


@pytest.mark.usefixtures("embedded")
def test_a_window_task_sniffs_what_it_reads_and_refuses_another_kind(
    tmp_path: Path, s3_endpoint: str, bucket: str
) -> None:
    import boto3

    from workers.decode import decode_source

    client = boto3.client("s3", endpoint_url=s3_endpoint)
    client.put_object(Bucket=bucket, Key="w.mp4", Body=b"#EXTM3U\n#EXT-X-ENDLIST\n")
    runtime = get_runtime()
    info = runtime.storage(f"s3://{bucket}/w.mp4").stat(f"s3://{bucket}/w.mp4")
    id, _ = runtime.ledger.submit(info, "1")
    (record,) = runtime.ledger.get([id])
    from shared.errors import UnsupportedMedia
    from shared.media import MediaKind
    from workers.messages import Window

    with pytest.raises(UnsupportedMedia, match=r"^content is now text, not the video whose windows were planned"):
        decode_source(record, runtime, Window(1, 3, 4.0, 8.0), MediaKind.VIDEO)


# ---------------------------------------------------------------- documents: bounded batches, a cap, a deadline


@pytest.mark.usefixtures("embedded")
def test_documents_stream_in_batches_and_one_past_the_chunk_limit_fails_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, delivered: list[tuple[str, Any]]
) -> None:
    settings(
        monkeypatch, TEXT__CHUNK_CHARS="100", TEXT__OVERLAP_CHARS="0", TEXT__MAX_CHUNKS="12", MODELS__BATCH_SIZE="4"
    )
    folder = tmp_path / "docs"
    folder.mkdir()
    paragraph = "A sentence of some twelve words, give or take, for the chunker here."
    (folder / "runaway.txt").write_text("\n\n".join(f"{n}. {paragraph}" for n in range(40)))
    (folder / "notes.md").write_text("\n\n".join(f"{n}. {paragraph}" for n in range(10)))
    (folder / "short.txt").write_text("Prune the roses in early spring.")
    photo(folder / "cat.jpg", seed=3)
    known: list[int | None] = []  # what the ledger knew of the notes' length as each of their batches set off

    def seen(sender: Any = None, args: Any = None, **_: Any) -> None:
        notes = [id for id, _ in args[0]["sources"] if id == source_id("local", str(folder / "notes.md"))]
        if sender.name == "workers.embed.embed" and notes:
            known.append(get_runtime().ledger.get(notes)[0].items)

    task_prerun.connect(seen, weak=False)
    try:
        submission = submit([str(folder)])
    finally:
        task_prerun.disconnect(seen)

    runtime = get_runtime()
    records = {Path(record.uri).name: record for record in runtime.ledger.get(submission.ids)}
    runaway = records.pop("runaway.txt")
    assert runaway.state is State.FAILED
    assert runaway.error == (
        "the document gives more than 12 text chunks (MMINDEX_TEXT__MAX_CHUNKS); raise the limit or split the file"
    )
    assert runtime.store.count(source=runaway.uri) == 0  # what was sent before the limit was met is gone again
    assert {name: record.state for name, record in records.items()} == dict.fromkeys(records, State.DONE)
    assert (records["notes.md"].items, records["short.txt"].items) == (10, 1)
    assert runtime.store.count(source=records["notes.md"].uri) == 10
    embeds = [payload for name, payload in delivered if name == "workers.embed.embed"]
    assert max(len(payload["items"]) for payload in embeds) <= 4
    # Its first batches went on while it was still being read: its chunks were never all held at once.
    assert known == [None, None, 10]


def test_a_reason_never_holds_a_url_but_the_sources_own() -> None:
    from shared.errors import CorruptMedia
    from workers.decode import reason

    error = CorruptMedia(
        "corrupt or truncated media: error when loading first segment"
        " 'http://169.254.169.254/latest/meta-data/iam.ts' of s3://photos/v.mp4 (see https://x.test/?X-Amz-Signature=a)"
    )
    assert reason(error) == (
        "corrupt or truncated media: error when loading first segment '<URL>' of s3://photos/v.mp4 (see <URL>)"
    )


@pytest.mark.usefixtures("embedded")
def test_a_pdf_too_slow_to_read_fails_alone_and_the_photos_of_its_group_are_indexed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings(monkeypatch, INGEST__SOURCE_TIMEOUT_S="2")
    folder = tmp_path / "mixed"
    slow = slow_pdf(folder / "slow.pdf")
    photos = [photo(folder / f"{n}.jpg", seed=n) for n in range(3)]

    submission = submit([str(folder)])  # in one decode task: the group of four

    runtime = get_runtime()
    records = {Path(record.uri).name: record for record in runtime.ledger.get(submission.ids)}
    assert records["slow.pdf"].state is State.FAILED
    assert records["slow.pdf"].error == (
        "decoding it took longer than 2 s (MMINDEX_INGEST__SOURCE_TIMEOUT_S);"
        " raise the limit to index a document this slow to read"
    )
    assert [records[path.name].state for path in photos] == [State.DONE] * 3
    assert runtime.store.count(source=str(slow)) == 0


@pytest.mark.timeout(600)
def test_with_real_workers_a_pdf_too_slow_to_read_fails_alone(distributed_env: dict[str, str], tmp_path: Path) -> None:
    env = {**distributed_env, "MMINDEX_INGEST__SOURCE_TIMEOUT_S": "2"}
    folder = tmp_path / "mixed"
    slow_pdf(folder / "slow.pdf")
    photos = [photo(folder / f"{n}.jpg", seed=n) for n in range(3)]
    # Decode runs in prefork children, which may not start multiprocessing children of their own.
    running = start_workers(env, tmp_path / "logs", pools=("decode", "embed", "index"))
    try:
        report = Cli(env=env, cwd=tmp_path).json("ingest", str(folder), "--wait", expect=None)
    finally:
        running.stop()

    assert sorted(report["indexed"]) == sorted(str(path) for path in photos)
    (failed,) = report["failed"]
    assert failed["uri"] == str(folder / "slow.pdf") and "MMINDEX_INGEST__SOURCE_TIMEOUT_S" in failed["error"]


# ---------------------------------------------------------------- the task's own time limits


@pytest.mark.usefixtures("embedded")
def test_the_task_time_limit_met_while_a_document_is_read_stops_the_task_and_fails_no_source_as_undecodable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from celery.exceptions import SoftTimeLimitExceeded

    from shared.media import MediaKind
    from workers.decoders import DECODERS, Decoded, MediaDecoder

    def out_of_time() -> Iterator[Any]:
        raise SoftTimeLimitExceeded()
        yield

    # Celery raises it wherever the task's thread is when the soft limit passes: here, reading a document.
    monkeypatch.setitem(
        DECODERS, MediaKind.TEXT, MediaDecoder(MediaKind.TEXT, lambda *_: Decoded(stream=out_of_time()))
    )
    folder = tmp_path / "group"
    (folder / "notes").mkdir(parents=True)
    (folder / "notes" / "a.txt").write_text("Prune the roses in early spring.")
    photos = [photo(folder / f"{n}.jpg", seed=n) for n in range(2)]

    submission = submit([str(folder)])  # one decode task

    records = get_runtime().ledger.get(submission.ids)
    assert len(records) == 1 + len(photos)
    assert [record.error for record in records if record.error and "cannot decode" in record.error] == []
    (notes,) = (record for record in records if record.uri.endswith("a.txt"))
    assert notes.state is State.FAILED
    assert notes.error is not None and "ran past its time limit" in notes.error
    assert "MMINDEX_TASKS__SOFT_TIME_LIMIT_S" in notes.error


@pytest.mark.usefixtures("embedded")
def test_a_document_its_task_has_no_time_left_for_is_queued_again_not_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, delivered: list[tuple[str, Any]]
) -> None:
    # A task may run 4 s (less a margin) and a document 2 s: after the first slow PDF has used its 2 s, the second
    # cannot have its own 2 s within the task.
    settings(monkeypatch, TASKS__SOFT_TIME_LIMIT_S="4", TASKS__TIME_LIMIT_S="5", INGEST__SOURCE_TIMEOUT_S="2")
    folder = tmp_path / "slow"
    slow = [slow_pdf(folder / f"{n}.pdf") for n in range(2)]

    submission = submit([str(folder)])  # in one decode task: the group of two

    decodes = [sorted(id for id, _ in payload["sources"]) for name, payload in delivered if name.endswith("decode")]
    assert decodes[0] == sorted(submission.ids)
    assert len(decodes) == 2 and len(decodes[1]) == 1  # the second document, in a task of its own
    runtime = get_runtime()
    records = runtime.ledger.get(submission.ids)
    # Each failed by its own limit only, after its own 2 s of reading.
    assert [record.state for record in records] == [State.FAILED] * 2
    assert {record.error for record in records} == {
        "decoding it took longer than 2 s (MMINDEX_INGEST__SOURCE_TIMEOUT_S);"
        " raise the limit to index a document this slow to read"
    }
    assert [runtime.store.count(source=str(path)) for path in slow] == [0, 0]


@pytest.mark.usefixtures("embedded")
def test_a_broker_that_cannot_take_a_document_s_batches_stops_the_task_and_fails_no_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kombu.exceptions import OperationalError

    from workers import embed
    from workers.decode import decode

    settings(monkeypatch, MODELS__BATCH_SIZE="2")
    notes = tmp_path / "notes.txt"
    notes.write_text("\n\n".join(f"Paragraph {n} about pruning roses in early spring." * 20 for n in range(12)))
    runtime = get_runtime()
    info = runtime.storage(str(notes)).stat(str(notes))
    id, _ = runtime.ledger.submit(info, runtime.settings.pipeline_version)

    def broker_gone(*_: Any, **__: Any) -> None:
        raise OperationalError("Error 111 connecting to redis:6379. Connection refused.")

    monkeypatch.setattr(embed.embed, "delay", broker_gone)
    # Sending the document's first batch fails: the task's trouble (it is retried, or its source left in flight for
    # the sweeper), not the document's.
    with pytest.raises(OperationalError):
        decode.run({"sources": [[id, info.version]]})
    (record,) = runtime.ledger.get([id])
    assert record.state is State.DECODING, record.error
    assert record.error is None
