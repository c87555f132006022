"""Measuring search: a file of queries with the sources (or moments) that should be found, and the metrics of the
hits a search gives them.

A line of the file (JSON Lines) is `{"query": "words"}` or `{"image": "path"}`, with `"relevant"`: a list of URIs,
or of `{"uri", "start_s", "end_s"}` moments, and optionally a `"tag"` (e.g. `exact`, `paraphrase`) to report on
separately. An empty `"relevant"` marks a query about something the index does not hold: it should find nothing.
A hit matches a relevant entry with its URI and, for a moment, a time span that overlaps it; each relevant entry is
matched once, by the first hit that matches it. Paths (the query image's, and relevant URIs that are not `s3://` or
absolute) are read relative to the file's folder.

Per query, over the first ten hits: `recall@k` is the share of the relevant entries matched in the first k hits,
out of at most k (so `recall@1` says whether the first hit is relevant); `mrr@10` is 1 / the rank of the first
relevant hit (0 when none is in the ten); `ndcg@10` is the discounted gain of the relevant hits (1 / log2(rank + 1)
each) over the best possible. The report is the mean of each over the queries that have answers, judged on the hits
at least as relevant as the minimum relevance (what a user is shown), with `recall@10` without that minimum beside
them (what the minimum costs), the same per tag, and the share of the queries without answers that found nothing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.documents import Hit
from shared.errors import PermanentError

DEPTH = 10
"""Hits a query is judged on."""


@dataclass(frozen=True)
class Relevant:
    uri: str
    start_s: float | None = None
    end_s: float | None = None

    def matches(self, hit: Hit) -> bool:
        if hit.uri != self.uri:
            return False
        if self.start_s is None or hit.start_s is None:
            return True
        end = self.end_s if self.end_s is not None else self.start_s
        hit_end = hit.end_s if hit.end_s is not None else hit.start_s
        return hit.start_s <= end and hit_end >= self.start_s


@dataclass(frozen=True)
class Judged:
    """One query of the file: words or an image, and what it should find."""

    line: int
    text: str | None
    image: Path | None
    relevant: tuple[Relevant, ...]  # empty: nothing in the index answers it
    tag: str | None = None


def _located(value: str, folder: Path) -> str:
    if value.startswith("s3://") or Path(value).is_absolute():
        return value
    return str((folder / value).resolve())


def read_queries(path: Path) -> list[Judged]:
    """The queries of a JSON Lines file; PermanentError naming the first malformed line."""
    if not path.is_file():
        raise PermanentError(f"{path}: no such file")
    folder = path.parent
    judged: list[Judged] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as error:
            raise PermanentError(f"{where}: not JSON ({error.msg})") from None
        if not isinstance(entry, dict) or ("query" in entry) == ("image" in entry):
            raise PermanentError(f'{where}: give one of "query" (words) or "image" (a path)')
        text, image = entry.get("query"), entry.get("image")
        asked = text if "query" in entry else image
        if not isinstance(asked, str) or not asked.strip():
            raise PermanentError(f"{where}: the query is empty or not a string")
        relevant, tag = entry.get("relevant"), entry.get("tag")
        if not isinstance(relevant, list):
            raise PermanentError(f'{where}: "relevant" must be a list of URIs or moments (empty: nothing answers it)')
        if tag is not None and (not isinstance(tag, str) or not tag.strip()):
            raise PermanentError(f'{where}: "tag" is a word, e.g. "exact" or "paraphrase"')
        wanted: list[Relevant] = []
        for item in relevant:
            if isinstance(item, str) and item:
                wanted.append(Relevant(_located(item, folder)))
            elif isinstance(item, dict) and isinstance(item.get("uri"), str):
                start, end = item.get("start_s"), item.get("end_s")
                if not all(value is None or isinstance(value, int | float) for value in (start, end)):
                    raise PermanentError(f"{where}: start_s and end_s are numbers of seconds")
                wanted.append(Relevant(_located(item["uri"], folder), start, end))
            else:
                raise PermanentError(f'{where}: each of "relevant" is a URI or {{"uri", "start_s", "end_s"}}')
        query_image = Path(_located(image, folder)) if image else None
        judged.append(Judged(number, text, query_image, tuple(wanted), tag))
    if not judged:
        raise PermanentError(f"{path}: no queries")
    return judged


def judge(hits: Sequence[Hit], relevant: Sequence[Relevant]) -> dict[str, float]:
    """The metrics of one query's hits (best first)."""
    gains: list[int] = []
    unmatched = list(relevant)
    for hit in hits[:DEPTH]:
        match = next((entry for entry in unmatched if entry.matches(hit)), None)
        if match is not None:
            unmatched.remove(match)
        gains.append(1 if match is not None else 0)

    def recall(k: int) -> float:
        return sum(gains[:k]) / min(k, len(relevant))

    first = next((rank for rank, gain in enumerate(gains, start=1) if gain), None)
    dcg = sum(gain / math.log2(rank + 1) for rank, gain in enumerate(gains, start=1))
    ideal = sum(1 / math.log2(rank + 1) for rank in range(1, min(DEPTH, len(relevant)) + 1))
    return {
        "recall@1": recall(1),
        "recall@10": recall(10),
        "mrr@10": 1 / first if first else 0.0,
        "ndcg@10": dcg / ideal,
    }


def _means(figures: Sequence[dict[str, float]]) -> dict[str, Any]:
    totals: dict[str, float] = {}
    for one in figures:
        for name, value in one.items():
            totals[name] = totals.get(name, 0.0) + value
    report: dict[str, Any] = {name: round(total / len(figures), 4) for name, total in totals.items()}
    report["queries"] = len(figures)
    return report


def evaluate(
    queries: Sequence[Judged], search: Callable[[Judged], Sequence[Hit]], min_relevance: float = 0.0
) -> dict[str, Any]:
    """The mean of each metric over the queries with answers (hits below `min_relevance` left out, and
    `recall@10 unfiltered` with them), per tag too, and for the queries without answers (`absent`) the share that
    found nothing. `search` should return the hits without a minimum relevance."""
    judged: list[dict[str, float]] = []
    by_tag: dict[str, list[dict[str, float]]] = {}
    empty = absent = 0
    for query in queries:
        hits = list(search(query))
        shown = [hit for hit in hits if hit.relevance is None or hit.relevance >= min_relevance]
        if not query.relevant:
            absent += 1
            empty += not shown
            continue
        figures = judge(shown, query.relevant)
        figures["recall@10 unfiltered"] = judge(hits, query.relevant)["recall@10"]
        judged.append(figures)
        if query.tag:
            by_tag.setdefault(query.tag, []).append(figures)
    report: dict[str, Any] = _means(judged) if judged else {"queries": 0}
    if by_tag:
        report["tags"] = {tag: _means(figures) for tag, figures in sorted(by_tag.items())}
    if absent:
        report["absent"] = {"queries": absent, "found nothing": round(empty / absent, 4)}
    return report
