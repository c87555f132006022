"""docker-compose.yml run as local processes, through the journey deploy/README.md ("One host: docker compose")
promises: after `docker compose up`, a photo put into the MinIO bucket is found by
`docker compose exec query mmindex search`.

No Docker engine runs here. The compose file is loaded by compose-go (tests/deploy/test_compose.py's loader) with
`.env.example`, and each mmindex service of the pipeline is started as its image would run it: `mmindex` (the
image's entrypoint) with the service's `command` and `environment`. Only what the containers' network and volumes
provide is replaced, and each replacement first checks the compose file still says what it replaces:

- the hostnames `redis`, `opensearch` and `minio` in URLs become this test's Valkey, OpenSearch node and moto S3;
- MinIO's root user and password become the credentials conftest gives moto;
- the `home` volume (MMINDEX_HOME=/data) becomes one folder all processes share, as all containers share the
  volume; the `models` volume (HF_HOME) goes: no model hub is reachable, the test's models are local folders,
  run on the CPU with one torch thread a process;
- the OpenSearch node has the lucene engine only (no faiss), the test writes to an index of its own, refreshed
  on write;
- the intake and the metrics listen on free loopback ports instead of their container's 0.0.0.0:8080 and :9808.

The services are up when their compose health checks pass: the pools' `mmindex ping POOL` as written, the
listeners' URL on the port they listen on here.

Everything else (MMINDEX_STORE, replicas, the S3 region, the webhook token, the pools' options) comes from the
compose file as it is. MinIO's part is played by the test: it uploads to the bucket minio-setup creates, then
posts what MinIO's webhook target would post, to the path and with the token the minio service is configured
with. Flower is left out: a browser UI, no part of the pipeline (tests/workers/test_flower.py runs it).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote_plus, urlsplit

import boto3
import pytest
from botocore.exceptions import ClientError
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.test_compose import Service, env_example, mmindex_services, option, pool_of, project
from tests.deploy.test_compose import loader as loader  # noqa: PLC0414  (the fixture, for `compose` to request)
from tests.support.cli import Cli
from tests.support.media import near_copy, photo
from tests.support.services import BIN, free_port, wait_for_port
from tests.support.workers import stop_together

PIPELINE = {"intake", "decode", "embed", "index", "query", "metrics", "api"}
"""The default profile's long-running mmindex services this test starts."""
LEFT_OUT = {"flower"}
"""The default profile's other mmindex services: Flower, a browser UI."""
LISTENERS = {"intake": ("events", "webhook"), "metrics": ("metrics",), "api": ("serve",)}
"""Services serving HTTP on a port of their container, by the command that serves it."""
SUBSTITUTED = {
    "MMINDEX_BROKER_URL",
    "MMINDEX_OPENSEARCH__URL",
    "MMINDEX_S3__ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "MMINDEX_HOME",
    "HF_HOME",
    "MMINDEX_MODELS__VISION",
    "MMINDEX_MODELS__TEXT",
    "MMINDEX_MODELS__ASR",
    "MMINDEX_MODELS__DEVICE",
    "MMINDEX_MODELS__THREADS",
    "MMINDEX_OPENSEARCH__ENGINE",
    "MMINDEX_OPENSEARCH__INDEX",
    "MMINDEX_OPENSEARCH__REFRESH",
}
"""Every environment variable the test changes, adds or drops; the rest is the compose file's."""
UP_S = 120.0
"""How long the services may take to answer their health checks."""
WAIT_S = 120.0
"""How long an upload or a deletion may take to show in `mmindex status`."""
EVERY_HIT = ("--min-relevance", "0")
"""The random-weight CLIP's image similarities are all alike, so its ranking is flat and its hits fall below the
default minimum relevance: the journey asks for every hit."""


@dataclass(frozen=True)
class Here:
    """What stands in for the compose project's network and volumes."""

    redis_url: str
    opensearch_url: str
    s3_endpoint: str
    home: Path
    index: str
    models: dict[str, str]


def local_environment(name: str, compose: dict[str, str], here: Here) -> dict[str, str]:
    """The service's compose environment with the substitutions of this module's docstring, and only those."""
    env = dict(compose)
    secrets = env_example()

    def swap(key: str, expected: str, new: str | None) -> None:
        assert env.get(key) == expected, (
            f"{name}: docker-compose.yml sets {key}={env.get(key)!r}, this test replaces {expected!r}: update it"
        )
        if new is None:
            del env[key]
        else:
            env[key] = new

    def add(key: str, value: str) -> None:
        assert key not in env, f"{name}: docker-compose.yml sets {key} now, which this test would override"
        env[key] = value

    # The service hostnames of compose's network → the servers this test runs. The test's Valkey has no
    # password, and every test gets a database of its own (not 0).
    swap("MMINDEX_BROKER_URL", f"redis://:{secrets['REDIS_PASSWORD']}@redis:6379/0", here.redis_url)
    swap("MMINDEX_OPENSEARCH__URL", "http://opensearch:9200", here.opensearch_url)
    swap("MMINDEX_S3__ENDPOINT_URL", "http://minio:9000", here.s3_endpoint)
    # MinIO's root user and password, the workers' S3 credentials → the ones conftest sets for moto.
    swap("AWS_ACCESS_KEY_ID", secrets["MINIO_ROOT_USER"], os.environ["AWS_ACCESS_KEY_ID"])
    swap("AWS_SECRET_ACCESS_KEY", secrets["MINIO_ROOT_PASSWORD"], os.environ["AWS_SECRET_ACCESS_KEY"])
    # The `home` volume, mounted at /data in every mmindex container → one folder every process shares.
    swap("MMINDEX_HOME", "/data", str(here.home))
    # The `models` volume, where models download from the hub → none (no hub is reachable here) ...
    swap("HF_HOME", "/models", None)
    # ... and the local test models instead, on the CPU, one torch thread a process (the host is small).
    for key, value in here.models.items():
        add(f"MMINDEX_MODELS__{key.upper()}", value)
    # The test's OpenSearch node has no faiss (the image's has): lucene. An index of its own, refreshed on write.
    add("MMINDEX_OPENSEARCH__ENGINE", "lucene")
    add("MMINDEX_OPENSEARCH__INDEX", here.index)
    add("MMINDEX_OPENSEARCH__REFRESH", "wait_for")

    changed = {key for key in env.keys() | compose.keys() if env.get(key) != compose.get(key)}
    assert changed == SUBSTITUTED, f"{name}: the test changed {sorted(changed ^ SUBSTITUTED)} unexpectedly"
    return env


def local_command(name: str, command: Sequence[str], port: int | None) -> list[str]:
    """The service's compose command; a listener gets a free loopback port instead of its container's."""
    command = list(command)
    if port is None:
        return command
    # every address of the container → this host's loopback; the container's port → a free one here
    for flag, new in (("--host", "127.0.0.1"), ("--port", str(port))):
        assert flag in command, f"{name}: `{' '.join(command)}` has no {flag} (the test expects `{flag} VALUE`)"
        at = command.index(flag) + 1
        assert flag != "--host" or command[at] == "0.0.0.0", f"{name}: {flag} {command[at]}, the test expects 0.0.0.0"
        command[at] = new
    return command


@dataclass(repr=False)
class Up:
    """The compose services running as local processes, each logging to its own file."""

    logs: Path
    envs: dict[str, dict[str, str]] = field(default_factory=dict)
    ports: dict[str, int] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    files: list[IO[bytes]] = field(default_factory=list)

    def start(self, name: str, command: list[str], env: dict[str, str]) -> None:
        out = (self.logs / f"{name}.log").open("wb")
        self.files.append(out)
        self.envs[name] = env
        self.processes[name] = subprocess.Popen(
            [str(BIN / "mmindex"), *command], env=env, stdout=out, stderr=subprocess.STDOUT
        )

    def exited(self) -> dict[str, int]:
        return {name: code for name, process in self.processes.items() if (code := process.poll()) is not None}

    def tails(self, chars: int = 1500) -> str:
        parts = []
        for name in self.processes:
            text = (self.logs / f"{name}.log").read_text(errors="replace")
            parts.append(f"---- {name} (last {chars} characters of its log)\n{text[-chars:]}")
        return "\n".join(parts)

    def down(self) -> None:
        stop_together(self.processes.values())  # side by side: each takes seconds to shut down
        for out in self.files:
            out.close()


@pytest.fixture
def compose(request: pytest.FixtureRequest) -> dict[str, Service]:
    """The default profile's services, as compose-go loads docker-compose.yml with .env.example (skips without Go)."""
    services: dict[str, Service] = project(request.getfixturevalue("loader"))["services"]
    return services


@pytest.fixture
def up(
    compose: dict[str, Service],
    redis_url: str,
    opensearch_url: str,
    s3_endpoint: str,
    tiny_clip: Path,
    minilm: Path,
    whisper: Path,
    tmp_path: Path,
) -> Iterator[Up]:
    """`docker compose up` of the pipeline's mmindex services, as local processes, once their health checks pass."""
    services = compose
    mmindex = dict(mmindex_services(services))
    assert set(mmindex) == PIPELINE | LEFT_OUT, f"the default profile's mmindex services changed: {sorted(mmindex)}"
    here = Here(
        redis_url=redis_url,
        opensearch_url=opensearch_url,
        s3_endpoint=s3_endpoint,
        home=tmp_path / "home",
        index=f"compose-{uuid.uuid4().hex[:8]}",
        models={"vision": str(tiny_clip), "text": str(minilm), "asr": str(whisper), "device": "cpu", "threads": "1"},
    )
    here.home.mkdir()
    # What the image itself sets (PATH to mmindex and python; no MMINDEX_ variable but MMINDEX_HOME, replaced
    # above) comes from this process, with conftest's switches that keep the model hub offline.
    image = {key: value for key, value in os.environ.items() if not key.startswith("MMINDEX_") and key != "HF_HOME"}
    assert option(services["decode"]["command"], "--concurrency") == env_example()["DECODE_CONCURRENCY"]

    running = Up(logs=tmp_path / "logs")
    running.logs.mkdir()
    try:
        try:
            for name in sorted(PIPELINE):
                service = mmindex[name]
                port = None
                if name in LISTENERS:
                    serves = LISTENERS[name]
                    assert tuple(service["command"][: len(serves)]) == serves, f"{name}: {service['command']}"
                    port = running.ports[name] = free_port()
                env = {**image, **local_environment(name, service["environment"], here)}
                running.start(name, local_command(name, service["command"], port), env)
            healthy(running, services)
        except Exception as error:
            raise AssertionError(f"the services did not come up: {error}\n{running.tails()}") from error
        yield running
    finally:
        running.down()


def healthy(running: Up, services: dict[str, Service]) -> None:
    """Wait until every service passes its compose health check: the pools' `mmindex ping POOL` as written (a
    worker is named POOL@<host>, so each pool's is found here as in its container), and the listeners' GET."""
    checks = {}
    for name in running.processes:
        test = services[name]["healthcheck"]["test"]
        if pool_of(services[name]) is not None:
            assert test[:3] == ["CMD", "mmindex", "ping"], f"{name}: health check {test}"
            checks[name] = [str(BIN / "mmindex"), *test[2:]]
    deadline = time.monotonic() + UP_S
    for name, port in running.ports.items():
        # the listener's check fetches a URL on its container's port: fetched here on the port it listens on
        test = " ".join(services[name]["healthcheck"]["test"])
        url = re.search(r"http://127\.0\.0\.1:(\d+)(/[^'\"\s]*)", test)
        assert url, f"{name}: the health check fetches no http://127.0.0.1 URL: {test}"
        assert url[1] == option(services[name]["command"], "--port"), f"{name}: the health check's port"
        wait_for_port(port, running.processes[name], timeout=UP_S)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{url[2]}", timeout=10) as answer:
            assert answer.status == 200, f"{name}: GET {url[2]} answered {answer.status}"
    failing: dict[str, str] = {}
    while checks:
        exited = running.exited()
        assert not exited, f"services exited: {exited}"
        assert time.monotonic() < deadline, f"not healthy after {UP_S:.0f} s: {failing}"
        pings = {
            name: subprocess.Popen(argv, env=running.envs[name], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            for name, argv in checks.items()
        }
        for name, ping in pings.items():
            output, _ = ping.communicate(timeout=60)
            if ping.returncode == 0:
                del checks[name]
            else:
                failing[name] = output.decode(errors="replace").strip()[-300:]


# ---------------------------------------------------------------- MinIO's part


def minio_notification(name: str, bucket: str, key: str, user: str, etag: str | None = None, size: int = 0) -> bytes:
    """One notification as MinIO's webhook target posts it: one record, the key query-escaped ("/" as %2F,
    " " as +), the sequencer the event's time in nanoseconds in hex, eTag and size for creations only."""
    now = time.time_ns()
    obj: dict[str, Any] = {"key": quote_plus(key, safe=""), "sequencer": f"{now:X}"}
    if etag is not None:
        obj.update(size=size, eTag=etag, contentType="image/jpeg", userMetadata={"content-type": "image/jpeg"})
    record = {
        "eventVersion": "2.0",
        "eventSource": "minio:s3",
        "awsRegion": "",
        "eventTime": datetime.fromtimestamp(now / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "eventName": name,
        "userIdentity": {"principalId": user},
        "requestParameters": {"principalId": user, "region": "", "sourceIPAddress": "127.0.0.1"},
        "responseElements": {"x-amz-request-id": uuid.uuid4().hex.upper()[:16], "x-minio-origin-endpoint": ""},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": "Config",
            "bucket": {"name": bucket, "ownerIdentity": {"principalId": user}, "arn": f"arn:aws:s3:::{bucket}"},
            "object": obj,
        },
        "source": {"host": "127.0.0.1", "port": "", "userAgent": "aws-cli"},
    }
    return json.dumps({"EventName": name, "Key": f"{bucket}/{key}", "Records": [record]}).encode()


def post(url: str, token: str, body: bytes) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        url,
        data=body,
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.load(answer)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def until(condition: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"not within {timeout:.0f} s: {what}"
        time.sleep(0.5)


def scrape(port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30) as answer:
        text = answer.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


# ---------------------------------------------------------------- the journey


def test_an_upload_to_the_bucket_is_found_by_search_in_the_query_service(
    up: Up, compose: dict[str, Service], s3_endpoint: str, tmp_path: Path
) -> None:
    try:
        journey(up, compose, s3_endpoint, tmp_path)
    except Exception as error:
        raise AssertionError(f"{error}\n{up.tails()}") from error
    assert not up.exited(), f"services exited: {up.exited()}"


def journey(up: Up, services: dict[str, Service], s3_endpoint: str, tmp_path: Path) -> None:
    # minio-setup's bucket (MINIO_BUCKET), created if missing (`mc mb --ignore-existing`)
    bucket = services["minio-setup"]["environment"]["BUCKET"]
    assert bucket == env_example()["MINIO_BUCKET"]
    s3 = boto3.client("s3", endpoint_url=s3_endpoint)
    try:
        s3.head_bucket(Bucket=bucket)
    except ClientError:
        s3.create_bucket(Bucket=bucket)

    # where and how the minio service posts its events: its one webhook target's endpoint and token
    minio = services["minio"]["environment"]
    (target,) = [key.removeprefix("MINIO_NOTIFY_WEBHOOK_ENDPOINT_") for key in minio if "WEBHOOK_ENDPOINT_" in key]
    endpoint = urlsplit(minio[f"MINIO_NOTIFY_WEBHOOK_ENDPOINT_{target}"])
    token = minio[f"MINIO_NOTIFY_WEBHOOK_AUTH_TOKEN_{target}"]
    assert (endpoint.hostname, endpoint.port) == ("intake", int(option(services["intake"]["command"], "--port")))
    # the intake service's host and port on compose's network → where it listens here
    webhook = f"http://127.0.0.1:{up.ports['intake']}{endpoint.path or '/'}"
    user = minio["MINIO_ROOT_USER"]

    # `aws --endpoint-url http://127.0.0.1:9000 s3 cp photo.jpg s3://media/`, and MinIO tells the intake
    run = uuid.uuid4().hex[:8]
    photos = {f"{run}/beach {n}.jpg": photo(tmp_path / f"p{n}.jpg", seed=300 + n) for n in range(3)}
    for key, path in photos.items():
        body = path.read_bytes()
        etag = s3.put_object(Bucket=bucket, Key=key, Body=body)["ETag"].strip('"')
        code, answer = post(
            webhook, token, minio_notification("s3:ObjectCreated:Put", bucket, key, user, etag, len(body))
        )
        assert (code, answer.get("queued")) == (200, 1), f"the intake answered {code} {answer} for {key}"

    # `docker compose exec query mmindex status`, and `... search`: with the query service's environment
    query = Cli(env=up.envs["query"], cwd=tmp_path)

    def counts() -> dict[str, int]:
        report = query.json("status")
        assert not report["failed"], f"sources failed: {report['failed']}"
        return dict(report["counts"])

    until(lambda: counts()["done"] == 3, "the three uploads indexed")
    wanted = list(photos)[1]
    uri = f"s3://{bucket}/{wanted}"
    hits = query.json("search", "--image", str(near_copy(photos[wanted], tmp_path / "q.jpg")), "--k", "3", *EVERY_HIT)
    assert hits and hits[0]["uri"] == uri, f"searching with a near copy of {uri} found {[h['uri'] for h in hits]}"
    assert {hit["uri"] for hit in hits} == {f"s3://{bucket}/{key}" for key in photos}

    # `aws s3 rm s3://media/...`, and MinIO tells the intake
    s3.delete_object(Bucket=bucket, Key=wanted)
    code, answer = post(webhook, token, minio_notification("s3:ObjectRemoved:Delete", bucket, wanted, user))
    assert (code, answer.get("removed")) == (200, 1), f"the intake answered {code} {answer} for the deletion"
    until(lambda: counts()["deleted"] == 1, "the deleted object recorded as deleted")
    hits = query.json("search", "--image", str(near_copy(photos[wanted], tmp_path / "q.jpg")), "--k", "3", *EVERY_HIT)
    assert uri not in {hit["uri"] for hit in hits}, f"{uri} is still found after its deletion: {hits}"
    assert len(hits) == 2

    # the metrics service reads the same broker and ledger
    samples = scrape(up.ports["metrics"])
    assert samples[("mmindex_broker_up", ())] == 1
    final = counts()
    for state in ("done", "deleted"):
        assert samples[("mmindex_sources", (("state", state),))] == final[state], f"metrics disagree on {state}"
