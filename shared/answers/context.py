"""The context of an answer: the best moments a search found, numbered `[1]`, `[2]`, … as its sources, within a
token budget (MMINDEX_GENERATOR__CONTEXT_TOKENS); what does not fit is dropped from the weakest hit up.

A source gives its words (a document's chunk, what is said in a recording or a video at that time) and, to a
generator that reads pictures, its picture (a photo's or a video frame's thumbnail). A hit that would give the
generator nothing (a photo, to a model that reads only words) is not a source."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from shared.generators import Prompt

log = logging.getLogger(__name__)

CHARS_PER_TOKEN = 4
"""A token is about four characters of English: the budget is counted with it, not with each model's tokenizer."""
PICTURE_TOKENS = 258
"""What a picture costs (Gemini counts a small image as 258 tokens; OpenAI's low detail is 85)."""
LABEL_TOKENS = 16
"""What a source's number, kind, name and time cost."""
SYSTEM = (
    "You answer questions from the numbered sources you are given: passages of documents, words spoken in"
    " recordings and videos (with their times), and pictures. Use only what the sources say. After each statement,"
    " cite the sources it comes from by their numbers in square brackets, like [1] or [2][3]. If the sources do not"
    " hold the answer, say that they do not, and do not guess."
)


@dataclass
class Source:
    """One numbered source: a hit of the search, with what the generator is given of it."""

    n: int
    hit: dict[str, Any]  # as `search --json` gives it
    text: str  # its words, possibly shortened to fit
    picture: bytes | None = None

    @property
    def label(self) -> str:
        hit = self.hit
        kind = {"image": "picture", "video": "video", "audio": "recording", "text": "document"}.get(
            hit["modality"], hit["modality"]
        )
        where = f", {hit['start_s']:.1f}-{hit['end_s']:.1f} s" if hit.get("start_s") is not None else ""
        where = f", page {hit['page']}" if hit.get("page") is not None else where
        return f"[{self.n}] {kind} {PurePosixPath(hit['uri']).name}{where}"

    def tokens(self) -> int:
        return LABEL_TOKENS + len(self.text) // CHARS_PER_TOKEN + (PICTURE_TOKENS if self.picture else 0)

    def citation(self, cited: bool) -> dict[str, Any]:
        """What `ask --json` says of it: `n`, `uri`, `modality`, `start_s`, `end_s`, `page`, `text`, `thumbnail`,
        and whether the answer cites it."""
        hit = self.hit
        return {
            "n": self.n,
            "uri": hit["uri"],
            "modality": hit["modality"],
            "start_s": hit.get("start_s"),
            "end_s": hit.get("end_s"),
            "page": hit.get("page"),
            "text": hit.get("text"),
            "thumbnail": hit.get("thumbnail"),
            "relevance": hit.get("relevance"),
            "cited": cited,
        }


def sources(
    hits: Sequence[dict[str, Any]], budget: int, picture: Callable[[str], bytes | None] | None = None
) -> list[Source]:
    """The hits, best first, as numbered sources within `budget` tokens. `picture` reads a thumbnail (None when
    the generator reads no pictures); a picture that cannot be read leaves the source its words."""
    chosen: list[Source] = []
    for hit in hits:
        text = " ".join((hit.get("text") or "").split())
        image = _picture(hit, picture)
        if text or image:
            chosen.append(Source(len(chosen) + 1, hit, text, image))
    while len(chosen) > 1 and sum(source.tokens() for source in chosen) > budget:
        chosen.pop()  # the weakest goes first
    if chosen and chosen[0].tokens() > budget:  # the best alone is too long: its words are shortened
        best = chosen[0]
        best.picture = best.picture if budget > PICTURE_TOKENS + LABEL_TOKENS else None
        room = max(0, budget - LABEL_TOKENS - (PICTURE_TOKENS if best.picture else 0)) * CHARS_PER_TOKEN
        best.text = best.text[:room].rstrip() + "…" if len(best.text) > room else best.text
    return chosen


def _picture(hit: dict[str, Any], read: Callable[[str], bytes | None] | None) -> bytes | None:
    if read is None or not hit.get("thumbnail") or hit["modality"] not in ("image", "video"):
        return None
    try:
        return read(hit["thumbnail"])
    except Exception as error:  # a missing thumbnail costs the picture, not the answer
        log.warning("%s: its thumbnail cannot be read, the answer goes without it: %s", hit["uri"], error)
        return None


def prompt(question: str, chosen: Sequence[Source]) -> Prompt:
    """The prompt: the instructions, then the sources (words, and pictures after their labels), then the question."""
    parts: list[str | bytes] = ["Sources:\n"]
    for source in chosen:
        words = f": “{source.text}”" if source.text else ""
        follows = " (its picture follows)" if source.picture else ""
        parts.append(f"{source.label}{follows}{words}\n")
        if source.picture:
            parts.append(source.picture)
    parts.append(f"\nQuestion: {question.strip()}")
    return Prompt(SYSTEM, tuple(parts))
