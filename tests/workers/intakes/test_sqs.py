"""workers/intakes/sqs.py end to end: moto's S3 server notifies a real SQS queue (moto's too), `mmindex events sqs`
turns the notifications into tasks for real workers writing to the real OpenSearch node, and nothing but the upload
is needed for a source to become searchable; duplicate and out-of-order events leave the final state, an unreachable
queue is waited out, a queue that does not exist ends the intake with the reason, a bug in applying ends it with its
traceback, and a broker outage does not end it (the message stays on the queue).
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.support.cli import Cli
from tests.support.media import near_copy, photo
from tests.support.services import BIN, forwarding, free_port, running_moto, stop
from tests.support.workers import Workers
from tests.workers.intakes.events import BUGGY, dead_broker, intake_env, record, status, until


@pytest.fixture
def index(node: tuple[dict[str, str], Any]) -> Any:
    """The pipeline's OpenSearch index, to count what it holds."""
    return node[1]


@pytest.fixture
def queue_url(s3_endpoint: str) -> str:
    sqs = boto3.client("sqs", endpoint_url=s3_endpoint)
    return str(sqs.create_queue(QueueName=f"uploads-{uuid.uuid4().hex[:8]}")["QueueUrl"])


def notify(s3_endpoint: str, bucket: str, queue_url: str) -> None:
    """Point the bucket's create and remove notifications at the queue, as a user sets S3 up."""
    sqs = boto3.client("sqs", endpoint_url=s3_endpoint)
    arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    boto3.client("s3", endpoint_url=s3_endpoint).put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*", "s3:ObjectRemoved:*"]}]
        },
    )


@pytest.fixture
def intake(events_env: dict[str, str], queue_url: str, tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    """`mmindex events sqs` running on the queue."""
    log = (tmp_path / "intake.log").open("w")
    process = subprocess.Popen(
        [str(BIN / "mmindex"), "events", "sqs", "--queue-url", queue_url],
        env=events_env,
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield process
    finally:
        stop(process)


def send(s3_endpoint: str, queue_url: str, *records: dict[str, Any]) -> None:
    sqs = boto3.client("sqs", endpoint_url=s3_endpoint)
    for one in records:
        sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps({"Records": [one]}))


def test_uploads_overwrites_and_deletes_reach_the_index_through_sqs(
    pipeline: Workers,
    intake: subprocess.Popen[str],
    events_env: dict[str, str],
    s3_endpoint: str,
    bucket: str,
    queue_url: str,
    index: Any,
    tmp_path: Path,
) -> None:
    cli = Cli(env=events_env, cwd=tmp_path)
    notify(s3_endpoint, bucket, queue_url)
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    photos = [photo(tmp_path / f"p{n}.jpg", seed=60 + n) for n in range(3)]
    for path in photos:
        s3.put_object(Bucket=bucket, Key=f"drop/my photo {path.name}", Body=path.read_bytes())
    s3.put_object(Bucket=bucket, Key="_mmindex/thumbnails/x/y/0.jpg", Body=photos[0].read_bytes())  # our own kind

    until(lambda: status(cli)["counts"]["done"] == 3, "three uploads indexed")
    hits = cli.json("search", "--image", str(near_copy(photos[1], tmp_path / "q1.jpg")), "--k", "3")
    assert hits[0]["uri"] == f"s3://{bucket}/drop/my photo p1.jpg"  # the URL-encoded key, decoded
    assert index.count() == 3

    replacement = photo(tmp_path / "new.jpg", seed=99)
    s3.put_object(Bucket=bucket, Key="drop/my photo p0.jpg", Body=replacement.read_bytes())
    until(
        lambda: (
            cli.json("search", "--image", str(near_copy(replacement, tmp_path / "q0.jpg")), "--k", "1")[0]["uri"]
            == f"s3://{bucket}/drop/my photo p0.jpg"
        ),
        "the overwritten photo found by its new content",
    )
    until(lambda: status(cli)["counts"]["done"] == 3, "the new version done")
    assert index.count() == 3 and index.count(source=f"s3://{bucket}/drop/my photo p0.jpg") == 1

    s3.delete_object(Bucket=bucket, Key="drop/my photo p2.jpg")
    until(lambda: status(cli)["counts"]["deleted"] == 1, "the deleted object recorded as deleted")
    assert index.count() == 2 and index.count(source=f"s3://{bucket}/drop/my photo p2.jpg") == 0
    assert intake.poll() is None and all(pipeline.alive().values())


def test_duplicate_and_out_of_order_events_leave_the_final_state(
    pipeline: Workers,
    intake: subprocess.Popen[str],
    events_env: dict[str, str],
    s3_endpoint: str,
    bucket: str,
    queue_url: str,
    index: Any,
    tmp_path: Path,
) -> None:
    """Events sent to the queue as S3 sends them, with sequencers, in the order a queue may deliver them
    (the bucket itself notifies nobody here)."""
    cli = Cli(env=events_env, cwd=tmp_path)
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)

    def put(key: str, seed: int) -> tuple[Path, str]:
        path = photo(tmp_path / f"{key}-{seed}.jpg", seed=seed)
        return path, s3.put_object(Bucket=bucket, Key=key, Body=path.read_bytes())["ETag"].strip('"')

    # The same notification three times: indexed once.
    _, etag = put("dup.jpg", 1)
    created = record(bucket, "dup.jpg", "ObjectCreated:Put", etag, "0055AED6DCD90281E5")
    send(s3_endpoint, queue_url, created, created, created)
    until(lambda: status(cli)["counts"]["done"] == 1, "dup.jpg indexed")

    # A deletion delivered before the creation it follows: the object stays out of the index.
    _, etag = put("gone.jpg", 2)
    s3.delete_object(Bucket=bucket, Key="gone.jpg")
    send(
        s3_endpoint,
        queue_url,
        record(bucket, "gone.jpg", "ObjectRemoved:Delete", None, "0055AED6DCD9028200"),
        record(bucket, "gone.jpg", "ObjectCreated:Put", etag, "0055AED6DCD90281F0"),
    )

    # Two writes to one key, the second heard first: the second one's content is what stays.
    first, first_etag = put("burst.jpg", 3)
    second, second_etag = put("burst.jpg", 4)
    send(
        s3_endpoint,
        queue_url,
        record(bucket, "burst.jpg", "ObjectCreated:Put", second_etag, "0055AED6DCD9028300"),
        record(bucket, "burst.jpg", "ObjectCreated:Put", first_etag, "0055AED6DCD90282FF"),
        record(bucket, "burst.jpg", "ObjectRemoved:Delete", None, "0055AED6DCD90282F0"),  # older still
    )

    until(lambda: status(cli)["counts"]["done"] == 2, "burst.jpg indexed")
    time.sleep(2)  # let anything late arrive
    counts = status(cli)["counts"]
    assert (counts["done"], counts["deleted"], counts["queued"]) == (2, 1, 0), counts
    assert index.count(source=f"s3://{bucket}/dup.jpg") == 1
    assert index.count(source=f"s3://{bucket}/gone.jpg") == 0
    assert index.count(source=f"s3://{bucket}/burst.jpg") == 1
    hits = cli.json("search", "--image", str(near_copy(second, tmp_path / "q.jpg")), "--k", "1")
    assert hits[0]["uri"] == f"s3://{bucket}/burst.jpg" and hits[0]["score"] > 0.99
    assert first.read_bytes() != second.read_bytes()


def test_twenty_bad_and_twenty_good_uploads(
    pipeline: Workers,
    intake: subprocess.Popen[str],
    events_env: dict[str, str],
    s3_endpoint: str,
    bucket: str,
    queue_url: str,
    index: Any,
    tmp_path: Path,
) -> None:
    cli = Cli(env=events_env, cwd=tmp_path)
    notify(s3_endpoint, bucket, queue_url)
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    good = photo(tmp_path / "good.jpg", seed=5).read_bytes()
    rng = random.Random(9)
    bad = [
        ("empty.jpg", b""),
        ("truncated.jpg", good[:1500]),
        ("notes.jpg", b"a shopping list, not a photo\n"),
        ("noise.png", rng.randbytes(3000)),
        ("noise.mp4", rng.randbytes(3000)),
    ]
    for n in range(20):
        s3.put_object(Bucket=bucket, Key=f"in/good-{n}.jpg", Body=photo(tmp_path / f"g{n}.jpg", seed=n).read_bytes())
        name, body = bad[n % len(bad)]
        s3.put_object(Bucket=bucket, Key=f"in/bad-{n}-{name}", Body=body)

    until(lambda: status(cli)["counts"]["done"] + status(cli)["counts"]["failed"] == 40, "all 40 finished")
    report = status(cli)
    assert (report["counts"]["done"], report["counts"]["failed"]) == (20, 20)
    assert all(failure["uri"].split("/")[-1].startswith("bad-") for failure in report["failed"])
    assert all(failure["error"] and "\n" not in failure["error"] for failure in report["failed"])
    assert index.count() == 20
    assert intake.poll() is None and all(pipeline.alive().values())


def test_the_sqs_intake_waits_out_an_unreachable_queue_and_then_delivers(
    pipeline: Workers,
    events_env: dict[str, str],
    s3_endpoint: str,
    bucket: str,
    tmp_path: Path,
) -> None:
    """SQS down when the intake starts (its address refuses connections): the intake keeps trying instead of
    exiting, and an upload notified once SQS answers there is indexed. The queue is made on a second SQS server
    before that server becomes reachable at the intake's address, so the intake never sees it without the queue."""
    port = free_port()
    sqs_endpoint = f"http://127.0.0.1:{port}"
    queue_url = f"{sqs_endpoint}/123456789012/late"
    env = {**events_env, "MMINDEX_EVENTS__SQS_ENDPOINT_URL": sqs_endpoint}
    log_path = tmp_path / "intake.log"
    with log_path.open("w") as log:
        intake = subprocess.Popen(
            [str(BIN / "mmindex"), "events", "sqs", "--queue-url", queue_url], env=env, stdout=log, stderr=log
        )
    try:
        with running_moto(tmp_path / "sqs.log") as late_endpoint:
            boto3.client("sqs", endpoint_url=late_endpoint).create_queue(QueueName="late")
            until(lambda: "cannot reach SQS" in log_path.read_text(), "the intake reports SQS unreachable", 60)
            assert intake.poll() is None, log_path.read_text()

            with forwarding(port, int(late_endpoint.rsplit(":", 1)[1])):
                sqs = boto3.client("sqs", endpoint_url=sqs_endpoint)
                path = photo(tmp_path / "late.jpg", seed=71)
                etag = boto3.client("s3", endpoint_url=s3_endpoint).put_object(
                    Bucket=bucket, Key="late.jpg", Body=path.read_bytes()
                )["ETag"]
                created = record(bucket, "late.jpg", "ObjectCreated:Put", etag.strip('"'), "0055AED6E0")
                send(sqs_endpoint, queue_url, created)

                cli = Cli(env=env, cwd=tmp_path)
                indexed = lambda: intake.poll() is not None or status(cli)["counts"]["done"] == 1  # noqa: E731
                until(indexed, "the upload indexed once SQS answers", detail=log_path.read_text)
                assert intake.poll() is None, log_path.read_text()
                hits = cli.json("search", "--image", str(near_copy(path, tmp_path / "q.jpg")), "--k", "1")
                assert hits[0]["uri"] == f"s3://{bucket}/late.jpg"
                attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
                assert attributes["ApproximateNumberOfMessages"] == "0"  # received and deleted
    finally:
        stop(intake)


def test_the_sqs_intake_stops_with_the_reason_on_a_queue_that_does_not_exist(
    events_env: dict[str, str], s3_endpoint: str, tmp_path: Path
) -> None:
    """Waiting cannot mend a wrong queue URL: the intake exits and says which queue and what to check."""
    missing = f"{s3_endpoint}/123456789012/no-such-queue-{uuid.uuid4().hex[:8]}"
    result = subprocess.run(
        [str(BIN / "mmindex"), "events", "sqs", "--queue-url", missing],
        check=False,
        env=events_env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert f"{missing}: no such SQS queue" in result.stderr and "check --queue-url" in result.stderr, result.stderr


# ---------------------------------------------------------------- a bug ends an intake; an outage does not


def held(s3_endpoint: str, queue_url: str) -> int:
    """Messages on the queue, visible or received and not yet deleted."""
    sqs = boto3.client("sqs", endpoint_url=s3_endpoint)
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
    return sum(int(attributes[name]) for name in names)


def test_a_bug_in_applying_ends_the_sqs_intake_with_its_traceback_and_leaves_the_message(
    s3_endpoint: str, queue_url: str, tmp_path: Path
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", BUGGY, str(BIN / "mmindex"), "events", "sqs", "--queue-url", queue_url],
        env=intake_env(tmp_path, events__sqs_endpoint_url=s3_endpoint),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        send(s3_endpoint, queue_url, record("photos", "a.jpg", "ObjectCreated:Put", "0" * 32, "0055AED6E0"))
        _, log = process.communicate(timeout=120)
    finally:
        stop(process)
    assert process.returncode not in (0, None), log
    assert "Traceback" in log and "TypeError: a bug in apply" in log
    assert held(s3_endpoint, queue_url) == 1  # not deleted: SQS delivers it again


def test_the_sqs_intake_keeps_the_message_and_stays_up_while_the_broker_is_unreachable(
    s3_endpoint: str, queue_url: str, tmp_path: Path
) -> None:
    log_path = tmp_path / "intake.log"
    with log_path.open("w") as log:
        process = subprocess.Popen(
            [str(BIN / "mmindex"), "events", "sqs", "--queue-url", queue_url],
            env=intake_env(tmp_path, broker_url=dead_broker(), events__sqs_endpoint_url=s3_endpoint),
            stdout=log,
            stderr=log,
        )
    try:
        send(s3_endpoint, queue_url, record("photos", "a.jpg", "ObjectCreated:Put", "0" * 32, "0055AED6E0"))
        until(lambda: "could not apply 1 messages" in log_path.read_text(), "the intake reports the outage", 90)
        assert process.poll() is None, log_path.read_text()
        assert held(s3_endpoint, queue_url) == 1  # not deleted: SQS delivers it again
    finally:
        stop(process)
