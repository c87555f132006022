"""`mmindex bench ask` runs end to end: questions answered by the local model from an index of the evaluation set,
against the search alone, in one run. The figures are checked for sense, never for speed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import Cli

QUESTIONS = 2
"""A question on a document and one on a recording."""
TIMES = ("retrieval_s", "first_token_s", "generation_s", "total_s", "baseline_search_s")


@pytest.mark.timeout(600)
def test_bench_ask_reports_answer_times_against_the_search_alone(cli: Cli) -> None:
    # Short answers from short prompts: a quicker test. The prompt keeps the best hits that fit in 300 tokens of
    # sources (three to five here; the best one always stays), where the default 3000 takes all eight: most of
    # each answer's time is the model reading its prompt.
    short = Cli({**cli.env, "MMINDEX_GENERATOR__MAX_TOKENS": "48", "MMINDEX_GENERATOR__CONTEXT_TOKENS": "300"}, cli.cwd)
    result = short("bench", "ask", "--questions", str(QUESTIONS), "--json", timeout=580)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)

    # The index holds the evaluation set's 208 documents and the one recording asked about (a full run: all 24),
    # built with the configured models; the packaged local model answers.
    assert figures["index"]["sources"] == 209 and figures["index"]["failed_sources"] == []
    assert figures["index"]["passages"] >= 209
    assert figures["text_model"] == f"{cli.env['MMINDEX_MODELS__TEXT']} (as configured)"
    assert figures["speech_model"] == f"{cli.env['MMINDEX_MODELS__ASR']} (as configured)"
    assert figures["generator"] == "local (llama.cpp)" and figures["model"].endswith(".gguf")
    assert figures["load_s"] > 0 and figures["warm_up_s"] > 0

    # Every question asked is counted once, and every count agrees with the questions' own figures.
    asked = figures["per_question"]
    assert figures["questions"] == len(asked) == QUESTIONS
    assert figures["failed"] == 0, [a["error"] for a in asked]
    assert figures["answered"] == QUESTIONS  # every question finds sources, and the model is asked
    for count, flag in (("grounded", "grounded"), ("empty", "empty"), ("cited_the_source", "cited")):
        assert figures[count] == sum(a[flag] for a in asked), count
    assert figures["retrieved_the_source"] == sum(a["retrieved"] for a in asked) == QUESTIONS  # the search finds it
    assert figures["tokens"] == sum(a["tokens"] for a in asked) > 0

    for a in asked:
        assert a["search_s"] > 0 and a["retrieval_s"] > 0, a
        # The first token comes after the search and no later than the end; the answer fits in the total.
        assert a["retrieval_s"] <= a["first_token_s"] <= a["total_s"], a
        assert 0 < a["generation_s"] <= a["total_s"], a
        assert a["tokens"] >= 1 and (bool(a["answer"]) != a["empty"]), a
    for name in TIMES:
        spread = figures[name]
        assert 0 < spread["median"] <= spread["p90"], name
    rates = [a["tokens_per_s"] for a in asked if a["tokens"] > 1]
    assert all(rate > 0 for rate in rates) and (figures["tokens_per_s"]["median"] is not None) == bool(rates)
    per = {name: sorted(a[name] for a in asked) for name in ("retrieval_s", "first_token_s", "total_s")}
    for name, values in per.items():
        assert values[0] <= figures[name]["median"] <= values[-1], name
    assert figures["first_token_s"]["median"] <= figures["total_s"]["median"]

    # The baseline is the search alone, timed in the same run; the ratio is of the medians.
    assert figures["ratio"] == pytest.approx(
        figures["total_s"]["median"] / figures["baseline_search_s"]["median"], rel=0.01
    )
    assert "baseline_search_s" in figures["ratio_of"]
    assert not Path(cli.env["MMINDEX_HOME"]).exists()  # its index was its own, and is gone
