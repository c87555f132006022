"""The event intakes end to end: moto's S3 server notifies a real SQS queue (moto's too), `mmindex events sqs`
turns the notifications into tasks for real workers writing to the real OpenSearch node; the webhook and the
folder watch likewise. Nothing but the upload (or the file) is needed for a source to become searchable.
"""

from __future__ import annotations

import json
import os
import random
import resource
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.support.cli import Cli
from tests.support.media import near_copy, photo
from tests.support.services import BIN, free_port, on_opensearch, stop, wait_for_port
from tests.support.workers import Workers, start_workers

WAIT_S = 120.0


@pytest.fixture
def node(
    mmindex_env: dict[str, str], redis_url: str, opensearch_url: str, s3_endpoint: str
) -> tuple[dict[str, str], Any]:
    """Distributed mode on the OpenSearch node (an index of its own), events heard through moto's SQS."""
    env, store = on_opensearch(mmindex_env, redis_url, opensearch_url, f"events-{uuid.uuid4().hex[:8]}")
    env.update(MMINDEX_EVENTS__SQS_ENDPOINT_URL=s3_endpoint, MMINDEX_EVENTS__LINGER_S="0.3")
    return env, store


@pytest.fixture
def events_env(node: tuple[dict[str, str], Any]) -> dict[str, str]:
    return node[0]


@pytest.fixture
def index(node: tuple[dict[str, str], Any]) -> Any:
    """The pipeline's OpenSearch index, to count what it holds."""
    return node[1]


@pytest.fixture
def pipeline(events_env: dict[str, str], tmp_path: Path) -> Iterator[Workers]:
    running = start_workers(events_env, tmp_path / "logs")
    try:
        yield running
    finally:
        for process in running.processes.values():
            stop(process)


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


def status(cli: Cli) -> dict[str, Any]:
    result: dict[str, Any] = cli.json("status")
    return result


def counts(cli: Cli) -> dict[str, int]:
    """Sources per state; none while `status` refuses because no index exists yet (a watch makes it as it starts)."""
    result = cli("status", "--json")
    return dict(json.loads(result.stdout)["counts"]) if result.returncode == 0 else {}


def until(condition: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout:.0f} s: {what}"
        time.sleep(0.5)


def record(bucket: str, key: str, name: str, etag: str | None, sequencer: str) -> dict[str, Any]:
    """One S3 notification record as AWS sends it (key URL-encoded)."""
    from urllib.parse import quote_plus

    obj: dict[str, Any] = {"key": quote_plus(key, safe="/"), "sequencer": sequencer}
    if etag is not None:
        obj.update(eTag=etag, size=1000)
    return {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventName": name,
        "s3": {"bucket": {"name": bucket}, "object": obj},
    }


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
    """SQS down when the intake starts (a second SQS server, not yet running): the intake keeps trying
    instead of exiting, and an upload notified once SQS is up is indexed."""
    port = free_port()
    sqs_endpoint = f"http://127.0.0.1:{port}"
    queue_url = f"{sqs_endpoint}/123456789012/late"
    env = {**events_env, "MMINDEX_EVENTS__SQS_ENDPOINT_URL": sqs_endpoint}
    log_path = tmp_path / "intake.log"
    with log_path.open("w") as log:
        intake = subprocess.Popen(
            [str(BIN / "mmindex"), "events", "sqs", "--queue-url", queue_url], env=env, stdout=log, stderr=log
        )
    server: subprocess.Popen[bytes] | None = None
    try:
        until(lambda: "cannot reach SQS" in log_path.read_text(), "the intake reports SQS unreachable", 60)
        assert intake.poll() is None, log_path.read_text()

        with (tmp_path / "sqs.log").open("w") as server_log:
            server = subprocess.Popen(
                [str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], stdout=server_log, stderr=server_log
            )
        wait_for_port(port, server)
        sqs = boto3.client("sqs", endpoint_url=sqs_endpoint)
        assert sqs.create_queue(QueueName="late")["QueueUrl"] == queue_url
        path = photo(tmp_path / "late.jpg", seed=71)
        etag = boto3.client("s3", endpoint_url=s3_endpoint).put_object(
            Bucket=bucket, Key="late.jpg", Body=path.read_bytes()
        )["ETag"]
        send(sqs_endpoint, queue_url, record(bucket, "late.jpg", "ObjectCreated:Put", etag.strip('"'), "0055AED6E0"))

        cli = Cli(env=env, cwd=tmp_path)
        until(lambda: status(cli)["counts"]["done"] == 1, "the upload indexed once SQS answers")
        hits = cli.json("search", "--image", str(near_copy(path, tmp_path / "q.jpg")), "--k", "1")
        assert hits[0]["uri"] == f"s3://{bucket}/late.jpg"
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["All"])["Attributes"]
        assert attributes["ApproximateNumberOfMessages"] == "0"  # received and deleted
        assert intake.poll() is None
    finally:
        stop(intake)
        if server is not None:
            stop(server)


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


def test_the_webhook_queues_what_minio_posts_with_the_token(
    pipeline: Workers, events_env: dict[str, str], s3_endpoint: str, bucket: str, tmp_path: Path
) -> None:
    cli = Cli(env=events_env, cwd=tmp_path)
    port = free_port()
    env = {**events_env, "MMINDEX_EVENTS__TOKEN": "s3cret"}
    process = subprocess.Popen(
        [str(BIN / "mmindex"), "events", "webhook", "--port", str(port)], env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        wait_for_port(port, process)
        path = photo(tmp_path / "hook.jpg", seed=7)
        etag = boto3.client("s3", endpoint_url=s3_endpoint).put_object(
            Bucket=bucket, Key="hook/a b.jpg", Body=path.read_bytes()
        )["ETag"]
        minio = {
            "EventName": "s3:ObjectCreated:Put",
            "Key": f"{bucket}/hook/a+b.jpg",
            "Records": [record(bucket, "hook/a b.jpg", "s3:ObjectCreated:Put", etag.strip('"'), "17A3C2B1F0E1D000")],
        }

        def post(body: bytes, token: str) -> tuple[int, dict[str, Any]]:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/", data=body, headers={"Authorization": f"Bearer {token}"}, method="POST"
            )
            try:
                with urllib.request.urlopen(request, timeout=30) as answer:
                    return answer.status, json.load(answer)
            except urllib.error.HTTPError as error:
                return error.code, json.load(error)

        assert post(json.dumps(minio).encode(), "wrong")[0] == 401
        code, answer = post(b"{not json", "s3cret")
        assert code == 400 and "\n" not in answer["error"]
        code, answer = post(json.dumps(minio).encode(), "s3cret")
        assert (code, answer["queued"]) == (200, 1)
        until(lambda: status(cli)["counts"]["done"] == 1, "the posted object indexed")
        hits = cli.json("search", "--image", str(near_copy(path, tmp_path / "q.jpg")), "--k", "1")
        assert hits[0]["uri"] == f"s3://{bucket}/hook/a b.jpg"
    finally:
        stop(process)


def test_a_watched_folder_is_indexed_as_files_arrive_and_leave(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "inbox"
    folder.mkdir()
    env = {**cli.env, "MMINDEX_EVENTS__WATCH_INTERVAL_S": "0.2", "MMINDEX_EVENTS__SETTLE_S": "0.5"}
    process = subprocess.Popen(
        [str(BIN / "mmindex"), "events", "watch", str(folder)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        first = photo(folder / "first.jpg", seed=1)
        until(lambda: counts(cli).get("done") == 1, "first.jpg indexed")
        second = photo(folder / "sub" / "second.jpg", seed=2)
        until(lambda: status(cli)["counts"]["done"] == 2, "sub/second.jpg indexed")
        hits = cli.json("search", "--image", str(near_copy(second, tmp_path / "q.jpg")), "--k", "2")
        assert hits[0]["uri"] == str(second.resolve())

        first.unlink()
        until(lambda: status(cli)["counts"]["deleted"] == 1, "first.jpg taken out")
        hits = cli.json("search", "--image", str(near_copy(second, tmp_path / "q.jpg")), "--k", "5")
        assert [hit["uri"] for hit in hits] == [str(second.resolve())]
        assert process.poll() is None
    finally:
        stop(process)


# ---------------------------------------------------------------- the webhook against hostile clients

TOKEN = "s3cret"


@pytest.fixture
def hook(redis_url: str, tmp_path: Path) -> Iterator[int]:
    """`mmindex events webhook` queueing to Redis (no workers needed: the answer says what was queued), with a
    1 s request deadline, 16 connections at most, 64 KiB bodies, two buckets allowed, and 128 file descriptors."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MMINDEX_")}
    env.update(
        MMINDEX_HOME=str(tmp_path / "home"),
        MMINDEX_BROKER_URL=redis_url,
        MMINDEX_EVENTS__TOKEN=TOKEN,
        MMINDEX_EVENTS__WEBHOOK_TIMEOUT_S="1",
        MMINDEX_EVENTS__WEBHOOK_CONNECTIONS="16",
        MMINDEX_EVENTS__WEBHOOK_MAX_BYTES=str(64 * 1024),
        MMINDEX_EVENTS__BUCKETS="photos, clips",
    )
    port = free_port()

    process = subprocess.Popen(
        [str(BIN / "mmindex"), "events", "webhook", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    resource.prlimit(process.pid, resource.RLIMIT_NOFILE, (128, 128))  # a flood meets the server's limit sooner
    try:
        wait_for_port(port, process, timeout=120)
        yield port
    finally:
        stop(process)


def raw(port: int, request: bytes, wait_s: float = 10.0) -> tuple[int, dict[str, Any]]:
    """Send bytes as they are, keep the connection open for writing, and read the answer (0 if none came)."""
    with socket.create_connection(("127.0.0.1", port), timeout=wait_s) as sock:
        sock.sendall(request)
        answer = b""
        try:
            while chunk := sock.recv(65536):
                answer += chunk
        except (TimeoutError, ConnectionResetError):
            pass
    if not answer.startswith(b"HTTP/"):
        return 0, {}
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body or b"{}")


def post(port: int, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    lines = [b"POST / HTTP/1.1", b"Host: 127.0.0.1"]
    for name, value in {
        "Authorization": f"Bearer {TOKEN}",
        "Content-Length": str(len(body)),
        **(headers or {}),
    }.items():
        lines.append(f"{name}: {value}".encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def notification(bucket: str, key: str, sequencer: str = "17A3C2B1F0E1D000") -> bytes:
    return json.dumps({"Records": [record(bucket, key, "s3:ObjectCreated:Put", "0" * 32, sequencer)]}).encode()


def test_the_webhook_answers_again_once_half_open_connections_time_out(hook: int) -> None:
    hanging = []
    try:
        for _ in range(200):  # more than the server's file descriptors: each sends half a header and waits
            sock = socket.create_connection(("127.0.0.1", hook), timeout=10)
            sock.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bea")
            hanging.append(sock)
        deadline = time.monotonic() + 30  # MinIO sends again until it is answered
        code, answer = 0, {}
        while code != 200 and time.monotonic() < deadline:
            code, answer = raw(hook, post(hook, notification("photos", "a.jpg")), wait_s=5)
        assert (code, answer.get("queued")) == (200, 1)
    finally:
        for sock in hanging:
            sock.close()


@pytest.mark.parametrize(
    ("request_bytes", "code"),
    [
        (post(0, b'{"Records": []}', {"Content-Length": "-1"}), 400),
        (post(0, b'{"Records": []}', {"Content-Length": "abc"}), 400),
        (post(0, b"{}", {"Content-Length": str(10**9)}), 413),
        (post(0, b"{}").replace(b"Content-Length: 2\r\n", b""), 411),
        (post(0, b"{}", {"Authorization": "Bearer s3crét"}), 401),
        (post(0, b"[" * 10_000 + b"]" * 10_000), 400),
    ],
    ids=["length -1", "length abc", "over the cap", "no length", "non-ASCII token", "nested 10,000 deep"],
)
def test_the_webhook_answers_hostile_requests_with_a_4xx_at_once(hook: int, request_bytes: bytes, code: int) -> None:
    # Nothing more is sent and the connection stays open: an answer that waits for more never comes.
    status, answer = raw(hook, request_bytes, wait_s=5)
    assert status == code, answer
    assert "\n" not in answer.get("error", "")


def test_the_webhook_ignores_buckets_outside_the_allowlist(hook: int) -> None:
    body = {
        "Records": [json.loads(notification(bucket, f"{bucket}.jpg"))["Records"][0] for bucket in ("photos", "secrets")]
    }
    code, answer = raw(hook, post(hook, json.dumps(body).encode()))
    assert (code, answer["queued"], answer["ignored"]) == (200, 1, 1)


def test_a_link_out_of_a_watched_folder_is_not_indexed(cli: Cli, tmp_path: Path) -> None:
    secret = tmp_path / "private" / "secret.txt"
    secret.parent.mkdir()
    secret.write_text("the vault code is swordfish, kept by the quartermaster\n")
    folder = tmp_path / "inbox"
    folder.mkdir()
    (folder / "leak.txt").symlink_to(secret)
    env = {**cli.env, "MMINDEX_EVENTS__WATCH_INTERVAL_S": "0.2", "MMINDEX_EVENTS__SETTLE_S": "0.5"}
    process = subprocess.Popen(
        [str(BIN / "mmindex"), "events", "watch", str(folder)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        good = photo(folder / "good.jpg", seed=1)

        def settled() -> bool:
            now = counts(cli)
            return now.get("done", 0) + now.get("failed", 0) >= 2

        until(settled, "both files settled")
        report = status(cli)
        assert report["counts"]["done"] == 1
        (failure,) = report["failed"]
        assert failure["uri"] == str(folder / "leak.txt")
        assert "outside" in failure["error"] and "MMINDEX_INGEST__LINKS" in failure["error"]
        hits = cli.json("search", "swordfish vault code quartermaster", "--k", "10")
        assert [hit["uri"] for hit in hits] == [str(good)]
        assert process.poll() is None
    finally:
        stop(process)


# ---------------------------------------------------------------- a bug ends an intake; an outage does not

BUGGY = """
import runpy
import sys

import workers.intakes.sqs
import workers.intakes.webhook


def apply(*args, **kwargs):
    raise TypeError("a bug in apply")


workers.intakes.sqs.apply = workers.intakes.webhook.apply = apply
script, *sys.argv[1:] = sys.argv[1:]
sys.argv[0] = script
runpy.run_path(script, run_name="__main__")
"""
"""The real `mmindex` command, with the `apply` the intakes call replaced by one with a bug."""


def intake_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    """An intake's environment, without workers or models: applying is all it does."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MMINDEX_")}
    env.update(MMINDEX_HOME=str(tmp_path / "home"), MMINDEX_EVENTS__TOKEN=TOKEN, MMINDEX_EVENTS__LINGER_S="0.3")
    env.update({f"MMINDEX_{name.upper()}": value for name, value in settings.items()})
    return env


def dead_broker() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there


def held(s3_endpoint: str, queue_url: str) -> int:
    """Messages on the queue, visible or received and not yet deleted."""
    sqs = boto3.client("sqs", endpoint_url=s3_endpoint)
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=names)["Attributes"]
    return sum(int(attributes[name]) for name in names)


def test_a_bug_in_applying_ends_the_webhook_with_its_traceback(tmp_path: Path) -> None:
    """A 503 would have the sender post the same events for ever; the webhook answers 500 and ends (status 70)."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", BUGGY, str(BIN / "mmindex"), "events", "webhook", "--port", str(port)],
        env=intake_env(tmp_path),
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for_port(port, process, timeout=120)
        code, _ = raw(port, post(port, notification("photos", "a.jpg")), wait_s=30)
        _, log = process.communicate(timeout=30)
    finally:
        stop(process)
    assert code == 500
    assert process.returncode == 70, log
    assert "Traceback" in log and "TypeError: a bug in apply" in log


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


def test_the_webhook_answers_503_and_stays_up_while_the_broker_is_unreachable(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [str(BIN / "mmindex"), "events", "webhook", "--port", str(port)],
        env=intake_env(tmp_path, broker_url=dead_broker()),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, process, timeout=120)
        code, answer = raw(port, post(port, notification("photos", "a.jpg")), wait_s=90)
        assert code == 503, answer
        assert process.poll() is None
    finally:
        stop(process)


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
