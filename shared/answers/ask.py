"""Asking the index a question: the hits of its search become numbered sources, a generator writes the answer,
and the answer's citations are checked as it is written.

`answer` yields what happens in order, for a command to print and a server to stream: the sources (`sources`),
the answer's pieces (`text`), then the whole `Answer`. When no hit is relevant enough, the answer says the index
holds nothing on it, and no generator is asked (or loaded)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from shared.answers.citations import Citations
from shared.answers.context import Source, prompt, sources
from shared.config import GeneratorSettings
from shared.generators import Generator

NOTHING = "The index holds nothing on this: no hit was relevant enough to answer from."
NOTHING_READABLE = "The hits hold nothing this generator can read (pictures only, and it reads words)."


@dataclass
class Answer:
    answer: str
    citations: list[dict[str, Any]]
    model: str | None  # None: no generator was asked
    grounded: bool
    timings: dict[str, float | None] = field(default_factory=dict)

    def public(self) -> dict[str, Any]:
        """`ask --json`: `answer`, `citations` (every source given, `cited` or not; `[n]` is the one with that
        `n`), `model`, `grounded` (the answer cites a source, and only sources), `timings` in seconds."""
        return {
            "answer": self.answer,
            "citations": self.citations,
            "model": self.model,
            "grounded": self.grounded,
            "timings": self.timings,
        }


Event = tuple[str, Any]
"""`("sources", [citation, ...])`, `("text", piece)`, `("answer", Answer)`."""


def answer(
    question: str,
    hits: Sequence[dict[str, Any]],
    generator: Callable[[], Generator],
    settings: GeneratorSettings,
    *,
    picture: Callable[[str], bytes | None] | None = None,
    retrieval_s: float | None = None,
) -> Iterator[Event]:
    """The events of answering `question` from `hits` (best first, as `search --json` gives them). `generator`
    is called only when there is something to answer from; `picture` reads a thumbnail's bytes."""
    started = time.perf_counter()
    timings: dict[str, float | None] = {"retrieval_s": retrieval_s, "first_token_s": None, "generation_s": None}
    if not hits:
        yield "sources", []
        yield "answer", Answer(NOTHING, [], None, False, timings)
        return
    writer = generator()
    chosen = sources(hits, settings.context_tokens, picture if writer.reads_images and settings.images else None)
    yield "sources", [source.citation(False) for source in chosen]
    if not chosen:
        yield "answer", Answer(NOTHING_READABLE, [], writer.model, False, timings)
        return
    citations = Citations(len(chosen))
    written: list[str] = []
    for piece in writer.stream(prompt(question, chosen)):
        if timings["first_token_s"] is None:
            timings["first_token_s"] = round(time.perf_counter() - started, 4)
        text = citations.feed(piece)
        if text:
            written.append(text)
            yield "text", text
    tail = citations.close()
    if tail:
        written.append(tail)
        yield "text", tail
    timings["generation_s"] = round(time.perf_counter() - started, 4)
    yield "answer", _answer("".join(written).strip(), chosen, citations, writer.model, timings)


def _answer(
    text: str, chosen: Sequence[Source], citations: Citations, model: str, timings: dict[str, float | None]
) -> Answer:
    cited = set(citations.cited)
    grounded = bool(cited) and not citations.invalid
    return Answer(text, [source.citation(source.n in cited) for source in chosen], model, grounded, timings)


def final(events: Iterator[Event]) -> Answer:
    """The Answer at the end of `events`, the pieces before it passed over."""
    for kind, value in events:
        if kind == "answer":
            assert isinstance(value, Answer)
            return value
    raise RuntimeError("the answer ended without its result")
