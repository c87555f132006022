"""How a model being fine-tuned is measured, before and after: held-out examples ranked among the training file's
candidates (`retrieval`, `triplet_accuracy`), and a query file with known answers over the documents the index
holds (`index_eval`), each a dense ranking made in memory by the model measured, with `shared.evaluation`'s
metrics (recall@1, recall@10, mrr@10, ndcg@10).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from shared.documents import Hit, Modality, Space
from shared.errors import MmindexError, PermanentError, one_line
from shared.evaluation import DEPTH, Judged, Relevant, evaluate, read_queries
from shared.models import Vectors
from shared.models.finetune_data import Triplet, load_image

if TYPE_CHECKING:
    from shared.runtime import Runtime

BATCH = 32
"""Inputs a model encodes at once while measuring."""


def encode(model: Any, inputs: Sequence[Any]) -> Vectors:
    """Texts and images as L2-normalized float32 vectors, in their order (each kind encoded apart: a model takes
    one modality a call)."""
    vectors: list[Any] = [None] * len(inputs)
    for words in (True, False):
        chosen = [index for index, one in enumerate(inputs) if isinstance(one, str) == words]
        if not chosen:
            continue
        encoded = model.encode(
            [inputs[index] for index in chosen],
            batch_size=BATCH,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        for index, vector in zip(chosen, encoded, strict=True):
            vectors[index] = vector
    return np.asarray(vectors, dtype=np.float32).reshape(len(inputs), -1)


def _ranking(scores: Vectors) -> list[int]:
    return [int(index) for index in np.argsort(-scores, kind="stable")[:DEPTH]]


def retrieval(model: Any, queries: Sequence[Any], corpus: Sequence[Any], answers: Sequence[int]) -> dict[str, Any]:
    """Each query ranks the corpus by cosine similarity; its answer is the corpus entry at its index in `answers`.
    The means of recall@1, recall@10, mrr@10 and ndcg@10, as `mmindex eval` reports them."""
    scores = encode(model, queries) @ encode(model, corpus).T
    judged = [Judged(row, "", None, (Relevant(str(answer)),)) for row, answer in enumerate(answers)]

    def search(query: Judged) -> list[Hit]:
        ranked = _ranking(scores[query.line])
        return [Hit(str(index), Modality.TEXT, float(scores[query.line, index])) for index in ranked]

    return _figures(evaluate(judged, search))


def _figures(report: dict[str, Any]) -> dict[str, Any]:
    """A report of `shared.evaluation.evaluate` without what is the same before and after, or meaningless here."""
    return {name: value for name, value in report.items() if name not in {"recall@10 unfiltered", "tags", "absent"}}


def triplet_accuracy(model: Any, triplets: Sequence[Triplet]) -> float:
    """The share of triplets whose anchor is nearer (by cosine) its positive than its negative."""
    anchors = encode(model, [t.anchor for t in triplets])
    positives = encode(model, [t.positive for t in triplets])
    negatives = encode(model, [t.negative or "" for t in triplets])
    nearer = (anchors * positives).sum(axis=1) > (anchors * negatives).sum(axis=1)
    return round(float(nearer.mean()), 4)


@dataclass
class IndexEval:
    """The queries of a file with known answers, and the documents of one space of the index, to rank in memory
    with any model of that space."""

    file: Path
    space: Space
    queries: list[Judged]
    inputs: list[Any]  # each query's words, or image
    documents: list[Hit]  # uri and time span: what a hit is judged by
    contents: list[Any]  # each document's words, or image

    def measure(self, model: Any) -> dict[str, Any]:
        scores = encode(model, self.inputs) @ encode(model, self.contents).T
        rows = {query.line: row for row, query in enumerate(self.queries)}

        def search(query: Judged) -> list[Hit]:
            row = rows[query.line]
            found = []
            for index in _ranking(scores[row]):
                document = self.documents[index]
                found.append(
                    Hit(document.uri, document.modality, float(scores[row, index]), document.start_s, document.end_s)
                )
            return found

        report = evaluate(self.queries, search)
        figures = _figures(report)
        if "tags" in report:
            figures["tags"] = {tag: _figures(tagged) for tag, tagged in report["tags"].items()}
        return figures

    def report(self, before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
        kinds = "word queries" if self.space is Space.TEXT else "word and image queries"
        return {
            "file": str(self.file),
            "measured": (
                f"a dense ranking, in memory, of the {len(self.documents)} documents of the index's {self.space.value}"
                f" space, encoded by the base model (before) and by the tuned one (after), for the {len(self.queries)}"
                f" {kinds} of the file that have answers; the index itself is unchanged"
            ),
            "documents": len(self.documents),
            "before": before,
            "after": after,
        }


def _image(path: Path, max_pixels: int) -> Any:
    return load_image(path, max_pixels=max_pixels)


def index_eval(path: Path, space: Space, runtime: Runtime, *, max_pixels: int) -> IndexEval:
    """The queries of `path` (the format `mmindex eval` reads) that have answers and that `space` can be searched
    with (words; images too for `vision`), and the documents of that space in the index."""
    judged = [
        query for query in read_queries(path) if query.relevant and (query.text is not None or space is Space.VISION)
    ]
    if not judged:
        kinds = "word queries" if space is Space.TEXT else "queries"
        raise PermanentError(f"--eval {path}: no {kinds} with answers to measure with")
    inputs: list[Any] = []
    for query in judged:
        if query.image is None:
            inputs.append(query.text)
            continue
        try:
            inputs.append(_image(query.image, max_pixels))
        except (MmindexError, OSError) as error:
            raise PermanentError(f"--eval {path}, line {query.line}: {query.image}: {one_line(error)}") from None
    documents: list[Hit] = []
    contents: list[Any] = []
    for hit, _ in runtime.store.scan(space.value):
        if space is Space.TEXT:
            if hit.text and hit.text.strip():
                documents.append(hit)
                contents.append(hit.text)
            continue
        if hit.thumbnail:
            try:
                with runtime.storage(hit.thumbnail).fetch(hit.thumbnail) as thumbnail:
                    contents.append(_image(thumbnail, max_pixels))
            except MmindexError as error:
                raise PermanentError(f"--eval: the thumbnail of {hit.uri} cannot be read ({one_line(error)})") from None
            documents.append(hit)
    if not documents:
        raise PermanentError(
            f"--eval: the index's {space.value} space holds no documents to rank; ingest some first"
            " (MMINDEX_HOME, or the store configured)"
        )
    return IndexEval(path, space, judged, inputs, documents, contents)
