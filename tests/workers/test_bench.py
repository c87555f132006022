"""`mmindex bench` runs end to end and reports its figures against a baseline from the same run."""

from __future__ import annotations

import re

import pytest

from tests.support.cli import Cli

EVENTS = 12
"""Objects bench events sends down each path: more than the SQS intake receives at once (10), so that it takes
them in more than one batch, and one decode task for all on the ingest path (32 sources a task), as 30 did."""


def test_bench_embed_reports_pipeline_and_baseline_from_one_run(cli: Cli) -> None:
    figures = cli.json("bench", "embed", "--images", "8")

    assert figures["images"] == 8
    assert figures["model"] == f"{cli.env['MMINDEX_MODELS__VISION']} (as configured)"
    assert figures["device"] == "cpu"
    assert figures["baseline_images_per_s"] > 0 and figures["pipeline_images_per_s"] > 0
    # The ratio compares the two paths timed in this run (rates are rounded for display).
    ratio = figures["pipeline_images_per_s"] / figures["baseline_images_per_s"]
    assert abs(figures["ratio"] - ratio) < 0.01
    assert figures["pipeline_s"] == pytest.approx(figures["pipeline_decode_s"] + figures["pipeline_embed_s"], abs=0.002)
    gathered = figures["cross_task_batching"]  # one-photo tasks one by one, then side by side
    assert gathered["tasks"] == 8 and gathered["one_by_one_images_per_s"] > 0 and gathered["items_per_model_call"] >= 1


def test_bench_reindex_rebuilds_from_thumbnails_while_every_search_answers(cli: Cli) -> None:
    figures = cli.json("bench", "reindex", "--images", "4", "--seconds", "4")

    assert figures["photos"] == 4 and figures["failed_sources"] == []
    assert figures["items"] > 4  # the photos and the video's frames
    assert figures["rebuilt"] == figures["items"]
    assert figures["ratio"] == pytest.approx(figures["rebuild_items_per_s"] / figures["ingest_items_per_s"], rel=0.01)
    assert figures["searches"] > 0 and figures["failed_searches"] == 0, figures["search_errors"]
    assert figures["hits_from_a_generation_not_serving"] == 0


def test_bench_opensearch_reports_bulk_ratio_recall_and_latency(cli: Cli, opensearch_url: str) -> None:
    cli.env.update(
        MMINDEX_STORE="opensearch",
        MMINDEX_OPENSEARCH__URL=opensearch_url,
        MMINDEX_OPENSEARCH__ENGINE="lucene",
        MMINDEX_OPENSEARCH__REPLICAS="0",
    )

    figures = cli.json("bench", "opensearch", "--docs", "600")

    assert figures["docs"] == 600 and figures["engine"] == "lucene"
    assert figures["bulk_docs_per_s_store"] > 0 and figures["bulk_docs_per_s_raw"] > 0
    assert figures["data"] == "clustered"
    assert figures["recall_at_10"] >= 0.9  # a graph over 600 documents searched with 100 candidates is near exact
    assert figures["query_p50_ms"] <= figures["query_p99_ms"]
    leftovers = [
        name for name in urlopen_json(f"{opensearch_url}/_cat/indices?format=json") if "bench" in name["index"]
    ]
    assert leftovers == []  # the benchmark's indices are gone


def urlopen_json(url: str) -> list[dict[str, str]]:
    import json
    import urllib.request

    with urllib.request.urlopen(url, timeout=10) as response:
        return list(json.load(response))


def test_bench_decode_reports_frames_speech_and_memory_against_plain_ffmpeg(cli: Cli) -> None:
    figures = cli.json("bench", "decode", "--seconds", "6")

    assert figures["clip"]["seconds"] == 6 and figures["clip"]["size"] == "1280x720"
    assert figures["ffmpeg"] and figures["cpus"] >= 1
    frames = figures["frames"]
    assert set(frames) == {"fps", "keyframes", "scene"}
    for sampling, mode in frames.items():
        # The pipeline and the plain command line make the same frames, and both are timed in this run.
        assert mode["pipeline_frames"] == mode["plain_frames"] > 0, sampling
        assert mode["pipeline_x_realtime"] > 0 and mode["plain_x_realtime"] > 0
        assert mode["ratio"] == pytest.approx(mode["plain_s"] / mode["pipeline_s"], rel=0.02)
    assert frames["fps"]["pipeline_frames"] == 6  # one a second
    assert frames["keyframes"]["pipeline_frames"] < frames["fps"]["pipeline_frames"]
    assert frames["scene"]["pipeline_frames"] >= 3  # the first frame, then one at each of the two scene changes
    speedup = figures["keyframes_vs_fps"]["ratio"]
    assert speedup == pytest.approx(frames["fps"]["pipeline_s"] / frames["keyframes"]["pipeline_s"], rel=0.02)

    speech = figures["speech_to_text"]
    assert speech["model"] == cli.env["MMINDEX_MODELS__ASR"]
    assert speech["x_realtime"] > 0 and speech["words"] > 0
    assert re.search(r"\b(ferry|harbou?r)\b", speech["text"].lower()), speech  # the first sentence in the sound

    memory = figures["peak_memory"]
    assert (memory["short"]["seconds"], memory["long"]["seconds"]) == (6, 60)
    assert memory["long"]["frames"] >= 10 * memory["short"]["frames"]
    assert memory["short"]["worker_peak_mb"] > 0 and memory["long"]["ffmpeg_peak_mb"] > 0
    assert memory["ratio"] == pytest.approx(
        memory["long"]["worker_peak_mb"] / memory["short"]["worker_peak_mb"], rel=0.01
    )
    # Sampled densely, so that frames held in memory would show: every sampled frame made and written once,
    # in windows of the decode tasks, and a flatness verdict reported for both peaks.
    assert memory["sampling_fps"] == 10
    assert memory["short"]["frames"] == 60  # 10 a second for 6 s
    for clip in ("short", "long"):
        assert memory[clip]["thumbnails"] == memory[clip]["frames"], memory[clip]
        assert memory[clip]["windows"] >= 1 and memory[clip]["decode_s"] > 0
        assert memory[clip]["worker_peak_mb"] > 0 and memory[clip]["ffmpeg_peak_mb"] > 0, memory[clip]
    assert isinstance(memory["flat"], bool) and memory["flat_bound"]


def test_bench_events_reports_both_paths_without_duplicates_and_leaves_nothing_behind(
    cli: Cli, redis_url: str, s3_endpoint: str
) -> None:
    import boto3
    from celery import Celery

    cli.env.update(MMINDEX_BROKER_URL=redis_url, MMINDEX_EVENTS__SQS_ENDPOINT_URL=s3_endpoint)

    figures = cli.json("bench", "events", "--objects", str(EVENTS))

    assert figures["objects"] == EVENTS and figures["store"] == "embedded"
    for path in ("sqs", "ingest"):
        assert figures[path]["done"] == EVENTS and figures[path]["failed"] == 0, figures[path]
        assert figures[path]["end_to_end_s"] >= figures[path]["upload_s"] > 0
        assert figures[path]["objects_per_s"] == pytest.approx(EVENTS / figures[path]["end_to_end_s"], rel=0.01)
        assert figures[path]["redis_peak_bytes"] > 0
    # The ratio compares the two paths timed in this run (rates are rounded for display).
    assert figures["ratio"] == pytest.approx(
        figures["sqs"]["objects_per_s"] / figures["ingest"]["objects_per_s"], rel=0.01
    )
    assert figures["duplicates"] == 0 and figures["documents"] == figures["sources"]
    assert figures["redis_used_memory_peak"] > 0
    # Its buckets, queue and workers are gone.
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    assert [b["Name"] for b in s3.list_buckets()["Buckets"] if b["Name"].startswith("mmindex-bench-")] == []
    queues = boto3.client("sqs", endpoint_url=s3_endpoint).list_queues(QueueNamePrefix="mmindex-bench-")
    assert queues.get("QueueUrls", []) == []
    probe = Celery(broker=redis_url)
    try:
        assert probe.control.ping(timeout=1.0) == []
    finally:
        probe.close()


@pytest.mark.timeout(600)
def test_bench_api_reports_the_server_against_in_process_search(cli: Cli) -> None:
    figures = cli.json("bench", "api", "--docs", "300", "--rounds", "1")

    assert figures["docs"] == 300 and figures["dimension"] == 384
    assert [run["clients"] for run in figures["in_process"]] == [1, 8]
    assert [run["clients"] for run in figures["api"]] == [1, 8]
    for run in figures["in_process"] + figures["api"]:
        assert run["searches"] == run["clients"] * 8 and run["per_s"] > 0 and run["p99_ms"] >= run["p50_ms"] > 0
    eight = figures["api"][1]["per_s"] / figures["in_process"][1]["per_s"]
    assert abs(figures["ratio_at_8"] - eight) < 0.01
    assert figures["met"] == (figures["ratio_at_8"] >= 0.8)
    assert figures["command_s"] > 0
    assert not (cli.cwd / ".mmindex").exists()  # its index was its own, and is gone
