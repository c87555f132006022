"""Fixtures of the shared package's tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.models import build_random_cross_encoder


@pytest.fixture(scope="session")
def tiny_cross_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random-weight cross-encoder (no real one can be had offline): for reranking's mechanics."""
    return build_random_cross_encoder(tmp_path_factory.mktemp("models") / "random-cross-encoder")
