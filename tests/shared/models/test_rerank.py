"""shared/models/rerank.py: the cross-encoder that rescores a search's best hits, loaded once, off when it cannot."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.config import Settings
from shared.models import rerank
from shared.models.rerank import reranker_for


@pytest.fixture(autouse=True)
def fresh() -> Iterator[None]:
    rerank.reset()
    yield
    rerank.reset()


def test_a_cross_encoder_scores_each_text_against_the_query_in_0_to_1(tiny_cross_encoder: Path) -> None:
    reranker = reranker_for(Settings(models={"rerank": str(tiny_cross_encoder), "device": "cpu"}))
    assert reranker is not None and reranker.model_id == str(tiny_cross_encoder)
    texts = ["the ferry leaves at seven", "prune roses in spring", "whisk eggs with sugar"]
    scores = reranker.score("when does the ferry leave", texts)
    assert len(scores) == 3 and all(0.0 < score < 1.0 for score in scores)
    assert reranker.score("when does the ferry leave", texts) == scores  # the same pair, the same score
    assert reranker.score("when does the ferry leave", []) == []
    # Loaded once per process.
    assert reranker_for(Settings(models={"rerank": str(tiny_cross_encoder), "device": "cpu"})) is reranker


def test_none_turns_reranking_off() -> None:
    assert reranker_for(Settings(models={"rerank": "none"})) is None


def test_a_reranker_that_cannot_load_is_reported_once_in_one_line_and_searches_go_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(models={"rerank": str(tmp_path / "missing"), "device": "cpu"})
    with caplog.at_level(logging.WARNING, logger="shared.models.rerank"):
        assert reranker_for(settings) is None
        assert reranker_for(settings) is None  # not tried again at once, nor reported again
    (record,) = caplog.records
    message = record.getMessage()
    assert "\n" not in message and "MMINDEX_MODELS__RERANK" in message and "no such directory" in message


def test_a_hub_reranker_not_cached_while_no_hub_answers_names_the_setting(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="shared.models.rerank"):
        assert reranker_for(Settings(models={"rerank": "cross-encoder/ms-marco-MiniLM-L6-v2"})) is None
    assert "MMINDEX_MODELS__RERANK" in caplog.text and "not in the local cache" in caplog.text
