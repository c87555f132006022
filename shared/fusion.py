"""Fusing a query's rankings into one list of hits: how relevant each is, in 0-1, and moments of time-based media.

A search makes one ranking per source of evidence: the vector search of each space it asks (dense) and, for words,
the lexical search (BM25). Fusion reads each ranking's scores on its own scale:

- **Normalised** per query, as OpenSearch's normalization processor does: `min_max` maps the ranking's worst
  candidate to 0 and its best to 1; `z_score` maps the candidates' mean to 0 and the best to 1 (below the mean: 0).
- **Trusted** as far as the ranking deserves for this query. A dense ranking's best similarity is read on its
  space's scale (`similarity`: where a match starts to count, and a clear match) and discounted when the ranking
  is flat: its best barely above its median, as a model's noise is (`FLAT_GAP`). A lexical hit counts by the share
  of the query's words it holds (BM25 alone says how rare a word is, not how much of the query matched).
- **Weighted** (settings), each contribution `weight * trust * normalised score`, at most 1.

A hit's relevance is the chance that at least one ranking is right about it, the contributions taken as independent
evidence: `1 - prod(1 - c)`. Agreement lifts a hit; a flat noise ranking contributes almost nothing, so it cannot
outrank a strong match elsewhere; and a query about nothing in the index finds nothing above a minimum relevance.
`weighted` fusion ranks by relevance; `rrf` ranks by reciprocal rank (each ranking's r-th hit adds 1 / (60 + r)),
with the same relevance to filter by.

A reranker (a cross-encoder reading the query and a hit's words together) may then rescore the best text-bearing
candidates: its score, 0-1, becomes their relevance. Last, hits of one video or recording close in time are
gathered into moments.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from shared.documents import FusionMethod, Hit, Normalization

RRF_K = 60
"""Reciprocal rank fusion constant: a hit ranked r in a ranking adds 1 / (RRF_K + r)."""
FLAT_GAP = 0.15
"""A dense ranking whose best similarity stands this far above its median (or more) is trusted fully; one whose
best stands less far is trusted in proportion: a random model's similarities are all alike."""
FLAT_FEW = 5
"""Fewer candidates than this say nothing of a ranking's flatness."""
LEXICAL_FLOOR = 0.5
"""A lexical hit holding all of the query's words counts at least this share of its weight, however low its BM25
score against the best (which may only repeat a rare word more often)."""
MOMENT_GAP_S = 1.0
"""Hits of one video or recording this close (end to start) or overlapping may form one moment."""
MOMENT_DROP = 0.25
"""A neighbour joins a moment if its score is below the best member's by at most this share of the way from the
best down to the median candidate of that ranking: a moment ends where the match fades."""
OTHER_RANKING_STRENGTH = 0.5
"""A neighbour found by another ranking joins if it stands at least this far from that ranking's median to its
top."""

_COMMON = (
    "a about above after again against all am an and any are as at be because been before being below "
    "between both but by can did do does doing down during each few for from further had has have having "
    "he her here hers him his how i if in into is it its itself just me more most my  no nor not now of "
    "off on once only or other our ours out over own same she should so some such than that the their "
    "theirs them then there these they this those through to too under until up very was we were what "
    "when where which while who whom why will with would you your yours "
)
STOPWORDS = frozenset(_COMMON.split())
"""Words too common to say whether a text matches a query."""


class Kind(StrEnum):
    DENSE = "dense"  # cosine similarities of a vector search
    LEXICAL = "lexical"  # BM25 scores of a search by words


@dataclass
class Ranking:
    """One ranking of a query, best first, with what fusion needs to read its scores."""

    name: str  # the space, or "lexical"
    kind: Kind
    hits: list[Hit]
    weight: float = 1.0
    scale: tuple[float, float] = (0.0, 1.0)  # dense: the similarity where a match starts to count, a clear match's
    query: str = ""  # lexical: the words asked

    def contributions(self, normalization: Normalization) -> list[float]:
        """What each hit adds to its relevance: weight * trust * normalised score, in 0-1."""
        scores = [hit.score or 0.0 for hit in self.hits]
        if not scores:
            return []
        if self.kind is Kind.LEXICAL:
            asked = terms(self.query)
            floor = 0.0  # BM25's score of no match: every candidate of a lexical ranking matched some words
            top = max(scores)
            return [
                self.weight
                * coverage(asked, hit.text or "")
                * (LEXICAL_FLOOR + (1 - LEXICAL_FLOOR) * _share(s, floor, top))
                for hit, s in zip(self.hits, scores, strict=True)
            ]
        top = max(scores)
        floor = min(scores) if normalization is Normalization.MIN_MAX else sum(scores) / len(scores)
        trust = calibrated(top, self.scale) * sharpness(scores)
        return [self.weight * trust * _share(s, floor, top) for s in scores]


def _share(score: float, floor: float, top: float) -> float:
    return 1.0 if top <= floor else min(1.0, max(0.0, (score - floor) / (top - floor)))


def median(scores: Sequence[float]) -> float:
    ordered = sorted(scores)
    if not ordered:
        return 0.0
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def sharpness(scores: Sequence[float]) -> float:
    """1 when the best stands FLAT_GAP or more above the median of the others, less in proportion. With fewer than
    FLAT_FEW candidates (a filter left few) flatness cannot be told: 1."""
    if len(scores) < FLAT_FEW:
        return 1.0
    ordered = sorted(scores, reverse=True)
    return min(1.0, max(0.0, (ordered[0] - median(ordered[1:])) / FLAT_GAP))


def calibrated(similarity: float, scale: tuple[float, float]) -> float:
    """A similarity read on its space's scale: 0 where a match starts to count, 1 at a clear match."""
    floor, top = scale
    return min(1.0, max(0.0, (similarity - floor) / (top - floor)))


_WORD = re.compile(r"[^\W_]+")


def _stem(word: str) -> str:
    for suffix in ("ing", "ies", "ied", "ed", "ly", "s"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix) and not word.endswith("ss"):
            return word[: -len(suffix)] + ("y" if suffix in ("ies", "ied") else "")
    return word


def terms(text: str) -> set[str]:
    """The words of a text that can match: lower case, common words left out, crudely stemmed."""
    return {_stem(word) for word in _WORD.findall(text.lower()) if word not in STOPWORDS}


def coverage(asked: set[str], text: str) -> float:
    """The share of the query's words that a text holds."""
    if not asked:
        return 0.0
    return len(asked & terms(text)) / len(asked)


def _key(hit: Hit) -> tuple[str, float | None, float | None]:
    return hit.uri, hit.start_s, hit.end_s  # one item, whichever ranking found it


def _end(hit: Hit) -> float:
    return hit.end_s if hit.end_s is not None else hit.start_s or 0.0


def noisy_or(parts: Sequence[float]) -> float:
    """The chance that at least one of independent pieces of evidence is right."""
    return 1.0 - math.prod(1.0 - min(1.0, max(0.0, part)) for part in parts)


@dataclass
class _Candidate:
    """One item with what fusion knows of it."""

    hit: Hit  # as its strongest ranking found it
    ranking: int  # that ranking
    score: float  # its score there
    strength: float  # 1 at that ranking's top score, 0 at its median
    similarity: float | None  # its best cosine similarity, where a vector search found it
    parts: dict[int, float] = field(default_factory=dict)  # contribution per ranking
    rrf: float = 0.0  # its reciprocal rank share
    relevance: float = 0.0
    order: float = 0.0  # what it ranks by: its relevance, or under rrf its reciprocal rank share


def _candidates(rankings: Sequence[Ranking], fusion: FusionMethod, normalization: Normalization) -> list[_Candidate]:
    found: dict[tuple[str, float | None, float | None], _Candidate] = {}
    for number, ranking in enumerate(rankings):
        parts = ranking.contributions(normalization)
        scores = [hit.score or 0.0 for hit in ranking.hits]
        middle, top = median(scores), max(scores, default=0.0)
        seen: set[tuple[str, float | None, float | None]] = set()
        for rank, (hit, part) in enumerate(zip(ranking.hits, parts, strict=True), start=1):
            key = _key(hit)
            if key in seen:  # an item counts once per ranking
                continue
            seen.add(key)
            score = hit.score or 0.0
            strength = 1.0 if top <= middle else (score - middle) / (top - middle)
            dense = score if ranking.kind is Kind.DENSE else None
            entry = found.get(key)
            if entry is None:
                entry = found[key] = _Candidate(hit, number, score, strength, dense)
            elif part > max(entry.parts.values(), default=0.0):
                entry.hit, entry.ranking, entry.score, entry.strength = hit, number, score, strength
            if dense is not None and (entry.similarity is None or dense > entry.similarity):
                entry.similarity = dense
            entry.parts[number] = part
            entry.rrf += 1.0 / (RRF_K + rank)
    entries = list(found.values())
    for entry in entries:
        entry.relevance = noisy_or(list(entry.parts.values()))
        entry.order = entry.relevance if fusion is FusionMethod.WEIGHTED else entry.rrf
    entries.sort(key=lambda entry: (-entry.order, -(entry.similarity or 0.0)))
    return entries


Rescore = Callable[[Sequence[str]], Sequence[float]]
"""A reranker bound to one query: a relevance in 0-1 for each text."""


def _rerank(entries: list[_Candidate], rescore: Rescore, candidates: int, fusion: FusionMethod) -> None:
    """The best `candidates` text-bearing entries take the reranker's score as their relevance; in rrf fusion they
    are reordered among the places they held."""
    chosen = [index for index, entry in enumerate(entries) if entry.hit.text][:candidates]
    if not chosen:
        return
    scores = rescore([entries[index].hit.text or "" for index in chosen])
    for index, score in zip(chosen, scores, strict=True):
        entries[index].relevance = min(1.0, max(0.0, float(score)))
    if fusion is FusionMethod.WEIGHTED:
        for index in chosen:
            entries[index].order = entries[index].relevance
        entries.sort(key=lambda entry: (-entry.relevance, -(entry.similarity or 0.0)))
    else:
        places = [entries[index].order for index in chosen]
        reordered = sorted((entries[index] for index in chosen), key=lambda entry: -entry.relevance)
        for index, place, entry in zip(chosen, places, reordered, strict=True):
            entries[index], entry.order = entry, place


def _joins(seed: _Candidate, other: _Candidate, medians: Sequence[float]) -> bool:
    """Whether a hit next to a moment's seed belongs to the moment: as strong as the seed in the same ranking,
    nearly, or clearly a match in another ranking (words said over matching frames)."""
    if other.ranking == seed.ranking:
        return seed.score - other.score <= MOMENT_DROP * max(0.0, seed.score - medians[seed.ranking])
    return other.strength >= OTHER_RANKING_STRENGTH


def _moment(members: list[_Candidate], relevance: float) -> Hit:
    """One hit for a moment: its span, the best similarity, the best frame's thumbnail and the words said in it."""
    seed = members[0]
    similarities = [entry.similarity for entry in members if entry.similarity is not None]
    similarity = max(similarities) if similarities else None
    if len(members) == 1:
        return replace(seed.hit, score=similarity, relevance=relevance)
    in_time = sorted(members, key=lambda entry: entry.hit.start_s or 0.0)
    words: list[str] = []
    for entry in in_time:
        if entry.hit.text and entry.hit.text not in words:
            words.append(entry.hit.text)
    return Hit(
        uri=seed.hit.uri,
        modality=seed.hit.modality,
        score=similarity,
        start_s=min(entry.hit.start_s or 0.0 for entry in members),
        end_s=max(_end(entry.hit) for entry in members),
        text=" ".join(words) or None,
        thumbnail=next((entry.hit.thumbnail for entry in members if entry.hit.thumbnail), None),
        id=seed.hit.id,
        space=seed.hit.space,
        relevance=relevance,
    )


def fuse(
    rankings: Sequence[Ranking],
    k: int,
    *,
    fusion: FusionMethod = FusionMethod.WEIGHTED,
    normalization: Normalization = Normalization.MIN_MAX,
    min_relevance: float = 0.0,
    rescore: Rescore | None = None,
    rerank_candidates: int = 20,
    gap_s: float = MOMENT_GAP_S,
) -> list[Hit]:
    """The query's hits, best first: rankings fused (see the module), optionally reranked, gathered into moments,
    at most `k`, none less relevant than `min_relevance`.

    The same item (uri and time span) found by several rankings is one hit. Moments grow from the best hits: a hit
    of the same file within `gap_s` of a moment joins it when it is nearly as strong in the seed's ranking or
    clearly a match in another (see `_joins`). A moment's relevance is its seed's, with each other ranking's best
    member as more evidence (under rrf its order adds their reciprocal ranks): words and frames that agree lift it;
    a run of similar frames counts once.
    """
    entries = _candidates(rankings, fusion, normalization)
    if rescore is not None and entries:
        _rerank(entries, rescore, rerank_candidates, fusion)
    medians = [median([hit.score or 0.0 for hit in ranking.hits]) for ranking in rankings]
    timed: dict[str, list[_Candidate]] = {}
    for entry in entries:
        if entry.hit.start_s is not None:
            timed.setdefault(entry.hit.uri, []).append(entry)
    taken: set[int] = set()
    moments: list[tuple[float, Hit]] = []
    for seed in entries:  # best first
        if id(seed) in taken:
            continue
        taken.add(id(seed))
        members = [seed]
        if seed.hit.start_s is not None:
            start, end = seed.hit.start_s, _end(seed.hit)
            grew = True
            while grew:
                grew = False
                for other in timed[seed.hit.uri]:
                    near = (other.hit.start_s or 0.0) <= end + gap_s and _end(other.hit) >= start - gap_s
                    if id(other) not in taken and near and _joins(seed, other, medians):
                        taken.add(id(other))
                        members.append(other)
                        start, end = min(start, other.hit.start_s or 0.0), max(end, _end(other.hit))
                        grew = True
        best_other: dict[int, _Candidate] = {}
        for entry in members[1:]:
            if entry.ranking != seed.ranking and (
                entry.ranking not in best_other or entry.order > best_other[entry.ranking].order
            ):
                best_other[entry.ranking] = entry
        relevance = noisy_or([seed.relevance, *(entry.relevance for entry in best_other.values())])
        weighted = fusion is FusionMethod.WEIGHTED
        order = relevance if weighted else seed.order + sum(entry.rrf for entry in best_other.values())
        moments.append((order, _moment(members, relevance)))
    moments.sort(key=lambda pair: (-pair[0], -(pair[1].score or 0.0)))
    return [hit for _, hit in moments if (hit.relevance or 0.0) >= min_relevance][:k]
