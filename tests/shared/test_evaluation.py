"""shared/evaluation.py: the metrics, computed by hand for two queries, and the query file's errors named by line."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from shared.documents import Hit, Modality
from shared.errors import PermanentError
from shared.evaluation import Judged, Relevant, evaluate, judge, read_queries


def hit(uri: str, start_s: float | None = None, end_s: float | None = None, relevance: float = 1.0) -> Hit:
    return Hit(uri=uri, modality=Modality.VIDEO if start_s is not None else Modality.IMAGE, score=0.5,
               start_s=start_s, end_s=end_s, relevance=relevance)  # fmt: skip


def test_the_metrics_of_two_queries_as_computed_by_hand() -> None:
    # A: its one relevant source comes second.
    a = judge([hit("/y"), hit("/x"), hit("/z")], [Relevant("/x")])
    assert a == {"recall@1": 0.0, "recall@10": 1.0, "mrr@10": 0.5, "ndcg@10": pytest.approx(1 / math.log2(3))}
    # B: a source, and a moment from 10 to 20 s: found first and third (the moment at 25-30 s does not overlap, and
    # the source found again counts once).
    relevant = [Relevant("/a"), Relevant("/v.mp4", 10.0, 20.0)]
    b = judge([hit("/a"), hit("/v.mp4", 25.0, 30.0), hit("/v.mp4", 15.0, 18.0), hit("/a")], relevant)
    ndcg_b = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert b == {"recall@1": 1.0, "recall@10": 1.0, "mrr@10": 1.0, "ndcg@10": pytest.approx(ndcg_b)}
    assert judge([hit("/nothing")], [Relevant("/x")]) == {"recall@1": 0.0, "recall@10": 0.0, "mrr@10": 0.0,
                                                         "ndcg@10": 0.0}  # fmt: skip

    queries = [Judged(1, "a", None, (Relevant("/x"),)), Judged(2, "b", None, tuple(relevant))]
    answers = {
        "a": [hit("/y"), hit("/x"), hit("/z")],
        "b": [hit("/a"), hit("/v.mp4", 25.0, 30.0), hit("/v.mp4", 15.0, 18.0)],
    }
    report = evaluate(queries, lambda query: answers[query.text or ""])
    assert report == {
        "recall@1": 0.5,
        "recall@10": 1.0,
        "mrr@10": 0.75,
        "ndcg@10": round((1 / math.log2(3) + ndcg_b) / 2, 4),
        "recall@10 unfiltered": 1.0,
        "queries": 2,
    }


def test_the_minimum_relevance_tags_and_queries_about_what_the_index_lacks() -> None:
    queries = [
        Judged(1, "code", None, (Relevant("/x"),), "exact"),
        Judged(2, "meaning", None, (Relevant("/y"),), "paraphrase"),
        Judged(3, "bicycles", None, ()),
        Judged(4, "volcanoes", None, ()),
    ]
    answers = {
        "code": [hit("/x", relevance=0.9), hit("/z", relevance=0.2)],
        "meaning": [hit("/z", relevance=0.5), hit("/y", relevance=0.25)],  # its answer is below the minimum
        "bicycles": [hit("/z", relevance=0.1)],  # nothing shown
        "volcanoes": [hit("/x", relevance=0.4)],  # shown: a false match
    }
    report = evaluate(queries, lambda query: answers[query.text or ""], min_relevance=0.3)
    assert report["queries"] == 2
    assert report["recall@1"] == 0.5
    assert report["recall@10"] == 0.5  # what a user is shown: /y is dropped
    assert report["recall@10 unfiltered"] == 1.0  # what the minimum cost
    assert report["tags"]["exact"]["recall@1"] == 1.0
    assert report["tags"]["paraphrase"] == {"recall@1": 0.0, "recall@10": 0.0, "mrr@10": 0.0, "ndcg@10": 0.0,
                                            "recall@10 unfiltered": 1.0, "queries": 1}  # fmt: skip
    assert report["absent"] == {"queries": 2, "found nothing": 0.5}


def test_a_query_file_is_read_with_paths_relative_to_it(tmp_path: Path) -> None:
    file = tmp_path / "set" / "queries.jsonl"
    file.parent.mkdir()
    lines = [
        {"query": "ferry", "relevant": ["docs/ferry.txt", "s3://b/k.ogg"]},
        {"image": "q.jpg", "relevant": [{"uri": "/abs/v.mp4", "start_s": 3, "end_s": 5}]},
    ]
    lines.append({"query": "bicycles", "relevant": [], "tag": "absent"})
    file.write_text("\n".join(json.dumps(line) for line in lines) + "\n\n")
    first, second, third = read_queries(file)
    assert first == Judged(1, "ferry", None, (Relevant(str(file.parent / "docs/ferry.txt")), Relevant("s3://b/k.ogg")))
    assert second == Judged(2, None, file.parent / "q.jpg", (Relevant("/abs/v.mp4", 3, 5),))
    assert third == Judged(3, "bicycles", None, (), "absent")


@pytest.mark.parametrize(
    ("line", "said"),
    [
        ("{not json", "not JSON"),
        ('{"query": "a", "image": "b.jpg", "relevant": ["x"]}', 'give one of "query"'),
        ('{"relevant": ["x"]}', 'give one of "query"'),
        ('{"query": "  ", "relevant": ["x"]}', "the query is empty"),
        ('{"query": "a"}', '"relevant" must be a list'),
        ('{"query": "a", "relevant": [3]}', 'each of "relevant"'),
        ('{"query": "a", "relevant": [{"uri": "x", "start_s": "soon"}]}', "numbers of seconds"),
        ('{"query": "a", "relevant": [], "tag": 7}', '"tag" is a word'),
    ],
)
def test_a_malformed_line_is_named(tmp_path: Path, line: str, said: str) -> None:
    file = tmp_path / "queries.jsonl"
    file.write_text('{"query": "fine", "relevant": ["x"]}\n' + line + "\n")
    with pytest.raises(PermanentError) as raised:
        read_queries(file)
    assert str(raised.value).startswith(f"{file}, line 2: ") and said in str(raised.value)
