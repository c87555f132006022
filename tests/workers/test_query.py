"""workers/query.py: the query task answers a query message with hits in `search --json`'s shape, best first
(embedded mode: the task runs in this process, as the query pool runs it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.search import Query
from workers.intakes.submission import submit
from workers.query import search


@pytest.mark.usefixtures("embedded")
def test_the_query_task_finds_the_chunk_that_answers_a_paraphrase(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    notes.mkdir()
    (notes / "garden.txt").write_text("Prune the roses in early spring, before the buds open.")
    (notes / "travel.txt").write_text("The ferry to the island leaves the harbour at six every morning.")
    submit([str(notes)])

    hits = search.apply(args=(Query(text="when should I cut back rose bushes", k=2).to_message(),)).get()

    assert Path(hits[0]["uri"]).name == "garden.txt"
    assert set(hits[0]) == {"uri", "modality", "score", "relevance", "start_s", "end_s", "page", "text", "thumbnail"}
    assert hits[0]["modality"] == "text" and "Prune the roses" in hits[0]["text"]


@pytest.mark.usefixtures("embedded")
def test_a_query_for_an_unknown_modality_fails_naming_it() -> None:
    result = search.apply(args=(Query(text="roses", modalities=["smell"]).to_message(),))

    assert result.failed()
    assert "unknown modality smell" in str(result.result)
