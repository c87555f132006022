"""workers/intakes/webhook.py end to end: `mmindex events webhook` queues what MinIO posts with the token for real
workers writing to the real OpenSearch node. Against hostile clients it answers malformed requests (bad or missing
lengths, a body over the cap, a wrong token, JSON nested 10,000 deep) at once with a 4xx, answers again once
connections left half open time out, and ignores buckets outside the allowlist; a bug in applying ends it with its
traceback, and while the broker is unreachable it answers 503 and stays up.
"""

from __future__ import annotations

import json
import os
import resource
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.support.cli import Cli
from tests.support.media import near_copy, photo
from tests.support.services import BIN, free_port, stop, wait_for_port
from tests.support.workers import Workers
from tests.workers.intakes.events import BUGGY, TOKEN, dead_broker, intake_env, record, status, until


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


# ---------------------------------------------------------------- the webhook against hostile clients


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


# ---------------------------------------------------------------- a bug ends an intake; an outage does not


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
