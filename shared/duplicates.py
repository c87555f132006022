"""Near-duplicates: groups of images and video frames that look alike, by the vision space's own vectors.

Two items of different sources are linked when the cosine similarity of their vectors is at least the threshold;
a group is what the links join (single linkage). Items of one source never link each other, so the similar frames
of one video make no group; a group names each source once, with its item most like the rest. Nothing is encoded
again: the store's vectors are read page by page and compared in blocks, so memory grows with the number of
items (4 bytes a dimension each), and time with its square.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from shared.documents import Hit, Space
from shared.stores import VectorStore

BLOCK = 1024
"""Rows compared against every other at once."""


@dataclass
class Group:
    members: list[Hit]
    similarity: float  # the weakest link that joined the group

    def public(self) -> dict[str, Any]:
        return {
            "similarity": round(self.similarity, 4),
            "members": [
                {"uri": hit.uri, "modality": hit.modality.value, "start_s": hit.start_s, "thumbnail": hit.thumbnail}
                for hit in self.members
            ],
        }


@dataclass
class _Sets:
    """Union-find over item numbers, remembering each set's weakest link."""

    parent: list[int]
    weakest: dict[int, float] = field(default_factory=dict)

    def find(self, item: int) -> int:
        while self.parent[item] != item:
            self.parent[item] = self.parent[self.parent[item]]
            item = self.parent[item]
        return item

    def join(self, a: int, b: int, similarity: float) -> None:
        ra, rb = self.find(a), self.find(b)
        weakest = min(self.weakest.get(ra, 1.0), self.weakest.get(rb, 1.0), similarity)
        if ra != rb:
            self.parent[rb] = ra
        self.weakest[ra] = weakest


def near_duplicates(store: VectorStore, threshold: float = 0.95, space: Space = Space.VISION) -> list[Group]:
    """Groups of at least two sources whose items look alike, largest first."""
    hits: list[Hit] = []
    rows: list[list[float]] = []
    for hit, vector in store.scan(space):
        hits.append(hit)
        rows.append(vector)
    if len(hits) < 2:
        return []
    vectors = np.asarray(rows, dtype=np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    sources = np.asarray([hit.uri for hit in hits])
    sets = _Sets(list(range(len(hits))))
    best = np.zeros(len(hits), dtype=np.float32)  # each item's closest match in another source
    for start in range(0, len(hits), BLOCK):
        similar = vectors[start : start + BLOCK] @ vectors.T
        for offset, row in enumerate(similar):
            item = start + offset
            row[sources == sources[item]] = -1.0  # one source's own items never link
            best[item] = row.max()
            for other in np.flatnonzero(row >= threshold):
                if other > item:
                    sets.join(item, int(other), float(row[other]))
    members: dict[int, dict[str, int]] = {}  # set → source → its item most like the rest
    for item in range(len(hits)):
        if best[item] < threshold:
            continue
        chosen = members.setdefault(sets.find(item), {})
        uri = hits[item].uri
        if uri not in chosen or best[item] > best[chosen[uri]]:
            chosen[uri] = item
    groups = [
        Group([hits[item] for item in sorted(chosen.values(), key=lambda n: -best[n])], sets.weakest.get(root, 1.0))
        for root, chosen in members.items()
        if len(chosen) >= 2
    ]
    groups.sort(key=lambda group: (-len(group.members), -group.similarity))
    return groups
