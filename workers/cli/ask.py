"""`ask`: a question answered from the index, citing the moments it comes from by number."""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated, Any

import typer

from shared.errors import MmindexError, one_line
from workers.cli.common import fail, out, reach_index

WORDS_SHOWN = 160
"""Characters of a source's words that `ask` shows under the answer."""


def ask(
    question: Annotated[str, typer.Argument(help="The question, in words")],
    *,
    k: Annotated[int, typer.Option("--k", min=1, max=100, help="How many hits the answer may draw on")] = 8,
    min_relevance: Annotated[
        float | None,
        typer.Option("--min-relevance", min=0.0, max=1.0, help="Default MMINDEX_SEARCH__MIN_RELEVANCE"),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object: answer, citations, model, grounded")
    ] = False,
    stream: Annotated[
        bool, typer.Option("--stream", help="Print the answer as it is written (with --json: one event a line)")
    ] = False,
) -> None:
    """Answer a question from what the index holds, citing its sources by number: words said or written, and
    pictures for a generator that reads them (MMINDEX_GENERATOR__*)."""
    from shared.answers.ask import Answer, answer
    from shared.search import Query
    from workers.cli.common import get_runtime
    from workers.cli.search import searched

    if not question.strip():
        raise fail("ask a question in words")
    reach_index(create=False)
    runtime = get_runtime()
    started = time.perf_counter()
    hits = searched(Query(text=question, k=k, min_relevance=min_relevance))
    retrieval_s = round(time.perf_counter() - started, 4)
    events = answer(
        question,
        hits,
        runtime.generator,
        runtime.settings.generator,
        picture=runtime.picture,
        retrieval_s=retrieval_s,
    )
    result: Answer | None = None
    try:
        for kind, value in events:
            if as_json and stream:
                print(json.dumps({"event": kind, "data": value.public() if kind == "answer" else value}), flush=True)
            elif stream and kind == "text":
                sys.stdout.write(value)
                sys.stdout.flush()
            if kind == "answer":
                result = value
    except MmindexError as error:
        if stream:
            print()
        raise fail(one_line(error)) from None
    assert result is not None
    if as_json:
        if not stream:
            print(json.dumps(result.public(), indent=2))
        return
    if stream:
        print()
    else:
        out.print(result.answer, highlight=False, markup=False)
    out.print(
        sources_text(result.public(), local=runtime.settings.generator.kind == "local"), highlight=False, markup=False
    )


def sources_text(result: dict[str, Any], *, local: bool = False) -> str:
    """Under the answer: its sources, the cited ones marked, each with its time and words; then which model wrote
    it and whether it is grounded."""
    lines = []
    if result["citations"]:
        lines += ["", "sources (* cited):"]
    for citation in result["citations"]:
        span = f"  {citation['start_s']:.1f}-{citation['end_s']:.1f} s" if citation["start_s"] is not None else ""
        mark = "*" if citation["cited"] else " "
        lines.append(f"{mark}[{citation['n']}] {citation['uri']}{span}")
        words = " ".join((citation.get("text") or "").split())
        if words:
            lines.append(f"     “{words if len(words) <= WORDS_SHOWN else words[: WORDS_SHOWN - 1].rstrip() + '…'}”")
    if result["model"] is None:
        return "\n".join(lines)
    grounded = (
        "grounded: it cites its sources, and only them (which says nothing of whether it reads them right)"
        if result["grounded"]
        else "not grounded: the answer cites no source, or cited a number that names none (taken out)"
    )
    weak = " (a small model on this machine: answers are weak; see MMINDEX_GENERATOR__*)" if local else ""
    lines += ["", f"model {result['model']}{weak}; {grounded}"]
    return "\n".join(lines)
