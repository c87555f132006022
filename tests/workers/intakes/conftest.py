"""Fixtures the SQS and webhook tests share: distributed mode on the OpenSearch node, with an index of its own and
events heard through moto's SQS, and real workers running on it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.services import on_opensearch
from tests.support.workers import Workers, running_workers


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
def pipeline(events_env: dict[str, str], tmp_path: Path) -> Iterator[Workers]:
    with running_workers(events_env, tmp_path / "logs") as running:
        yield running
