"""shared/fusion.py: rankings fused into hits with a relevance, reranked, gathered into moments; arithmetic shown."""

from __future__ import annotations

import pytest

from shared.documents import FusionMethod, Hit, Normalization
from shared.fusion import Kind, Ranking, coverage, fuse, sharpness, terms

RRF = FusionMethod.RRF


def hit(name: str, score: float, space: str = "vision", text: str | None = None) -> Hit:
    # Document ids differ per space (the space is part of the hash), as the stores return them.
    return Hit(uri=f"/photos/{name}.jpg", modality="image", score=score, id=f"{name}-{space}", space=space, text=text)


def dense(*hits: Hit, scale: tuple[float, float] = (0.0, 1.0), weight: float = 1.0) -> Ranking:
    name = hits[0].space or "vision" if hits else "vision"
    return Ranking(str(name), Kind.DENSE, list(hits), weight=weight, scale=scale)


def lexical(query: str, *hits: Hit, weight: float = 1.0) -> Ranking:
    return Ranking("lexical", Kind.LEXICAL, list(hits), weight=weight, query=query)


def ids(hits: list[Hit]) -> list[str]:
    return [h.uri.removeprefix("/photos/").removesuffix(".jpg") for h in hits]


# ---------------------------------------------------------------- weighted fusion: relevance


def test_a_clear_match_is_fully_relevant_and_the_others_in_proportion() -> None:
    ranking = dense(*(hit(n, s, "text") for n, s in zip("abcde", [0.55, 0.45, 0.2, 0.2, 0.2], strict=True)),
                    scale=(0.2, 0.55))  # fmt: skip
    fused = fuse([ranking], k=10)
    # Trust: 0.55 is a clear match on the scale (1), 0.35 above the others' median 0.2 (sharp: over 0.15, 1).
    # min-max: a = 1, b = (0.45 - 0.2) / (0.55 - 0.2) = 0.714, c, d, e = 0.
    assert ids(fused)[:2] == ["a", "b"]
    assert [round(h.relevance or 0, 3) for h in fused] == [1.0, 0.714, 0.0, 0.0, 0.0]
    assert fused[0].score == 0.55  # the score stays the cosine similarity


def test_a_weak_best_match_is_weakly_relevant() -> None:
    ranking = dense(*(hit(n, s, "text") for n, s in zip("abcde", [0.3, 0.1, 0.1, 0.05, 0.0], strict=True)),
                    scale=(0.2, 0.55))  # fmt: skip
    # Trust: (0.3 - 0.2) / 0.35 = 0.286 on the scale; sharp (0.3 - 0.075 >= 0.15): 0.286.
    assert round(fuse([ranking], k=1)[0].relevance or 0, 3) == 0.286


def test_a_flat_noise_ranking_cannot_outrank_a_strong_match_in_another_ranking() -> None:
    # A random model's similarities: high and alike. Best 0.93, the others' median 0.915: 0.015 / 0.15 = 0.1 trust.
    noise = dense(*(hit(f"n{i}", 0.93 - i * 0.005) for i in range(6)), scale=(0.2, 0.3))
    words = dense(*(hit(n, s, "text") for n, s in zip("abcde", [0.6, 0.3, 0.25, 0.2, 0.2], strict=True)),
                  scale=(0.2, 0.55))  # fmt: skip
    fused = fuse([noise, words], k=10)
    assert ids(fused)[0] == "a"
    assert fused[0].relevance == 1.0
    assert max(h.relevance or 0 for h in fused if h.uri.startswith("/photos/n")) == pytest.approx(0.1)
    # Rank fusion cannot tell: both firsts add 1/61, and the noise's higher similarity breaks the tie.
    assert ids(fuse([noise, words], k=10, fusion=RRF))[0] == "n0"


def test_agreement_lifts_a_hit_as_independent_evidence() -> None:
    vision = dense(hit("a", 0.9), hit("b", 0.5), hit("c", 0.5), hit("d", 0.5), hit("e", 0.1))
    text = dense(hit("x", 0.8, "text"), hit("b", 0.65, "text"), hit("y", 0.5, "text"), hit("z", 0.5, "text"),
                 hit("w", 0.2, "text"))  # fmt: skip
    fused = {h.uri: h.relevance for h in fuse([vision, text], k=10)}
    # Trust of each: 1 * sharp; vision: 0.9 on (0, 1) = 0.9, text: 0.8.
    # b: vision 0.9 * (0.5 - 0.1) / 0.8 = 0.45; text 0.8 * (0.65 - 0.2) / 0.6 = 0.6; 1 - 0.55 * 0.4 = 0.78.
    assert fused["/photos/b.jpg"] == pytest.approx(0.78)
    assert fused["/photos/a.jpg"] == pytest.approx(0.9)


def test_weights_scale_a_ranking_s_contribution() -> None:
    ranking = dense(hit("a", 1.0), hit("b", 0.0), weight=0.5)
    assert fuse([ranking], k=1)[0].relevance == 0.5


def test_z_score_counts_from_the_mean_not_the_worst() -> None:
    scores = [1.0, 0.6, 0.5, 0.4, 0.0]  # mean 0.5
    ranking = dense(*(hit(n, s) for n, s in zip("abcde", scores, strict=True)))
    relevance = [h.relevance for h in fuse([ranking], k=10, normalization=Normalization.Z_SCORE)]
    # b: (0.6 - 0.5) / (1 - 0.5) = 0.2; c, d, e at or below the mean: 0.
    assert relevance == pytest.approx([1.0, 0.2, 0.0, 0.0, 0.0])
    minmax = [h.relevance for h in fuse([ranking], k=10)]
    assert minmax == pytest.approx([1.0, 0.6, 0.5, 0.4, 0.0])


def test_sharpness_compares_the_best_with_the_median_of_the_others() -> None:
    assert sharpness([0.5, 0.45, 0.45, 0.44, 0.40]) == pytest.approx(0.055 / 0.15)  # (0.5 - 0.445) / 0.15
    assert sharpness([0.9, 0.2, 0.2, 0.2, 0.2]) == 1.0
    assert sharpness([0.3, 0.29]) == 1.0  # too few candidates to tell


def test_a_lexical_hit_counts_by_the_share_of_the_query_s_words_it_holds() -> None:
    assert terms("The invoices of INV-48213, paid") == {"invoice", "inv", "48213", "paid"}
    assert coverage(terms("invoice INV-48213"), "Order INV-48213 shipped") == pytest.approx(2 / 3)
    ranking = lexical(
        "invoice INV-48213",
        hit("a", 12.0, "text", text="Invoice INV-48213 for the boiler"),
        hit("b", 6.0, "text", text="INV-48213 was paid twice"),
        hit("c", 3.0, "text", text="An invoice for paint"),
    )
    fused = {h.uri: h.relevance for h in fuse([ranking], k=10)}
    # weight * coverage * (0.5 + 0.5 * bm25 / best): a 1 * 1; b 2/3 * 0.75; c 1/3 * 0.625.
    assert fused["/photos/a.jpg"] == pytest.approx(1.0)
    assert fused["/photos/b.jpg"] == pytest.approx(0.5)
    assert fused["/photos/c.jpg"] == pytest.approx(0.625 / 3)


def test_a_lexical_hit_has_no_similarity_and_keeps_the_similarity_a_vector_search_gave_it() -> None:
    words = lexical("ferry", hit("a", 9.0, "text", text="the ferry"), hit("b", 4.0, "text", text="ferry times"))
    vectors = dense(hit("b", 0.42, "text", text="ferry times"), hit("c", 0.1, "text"))
    fused = {h.uri: h.score for h in fuse([words, vectors], k=10)}
    assert fused == {"/photos/a.jpg": None, "/photos/b.jpg": 0.42, "/photos/c.jpg": 0.1}  # never a BM25 score


def test_the_minimum_relevance_drops_what_does_not_match_so_a_search_can_find_nothing() -> None:
    unrelated = dense(*(hit(n, s, "text") for n, s in zip("abcde", [0.18, 0.1, 0.1, 0.05, 0.0], strict=True)),
                      scale=(0.2, 0.55))  # fmt: skip
    assert fuse([unrelated], k=10, min_relevance=0.3) == []
    related = dense(hit("a", 0.5, "text"), hit("b", 0.1, "text"), scale=(0.2, 0.55))
    assert ids(fuse([related], k=10, min_relevance=0.3)) == ["a"]  # (0.5 - 0.2) / 0.35 = 0.857; b: 0


# ---------------------------------------------------------------- reciprocal rank fusion


def test_one_ranking_keeps_its_order() -> None:
    ranking = dense(hit("a", 0.9), hit("b", 0.8), hit("c", 0.7))
    assert ids(fuse([ranking], k=10)) == ["a", "b", "c"]
    assert ids(fuse([ranking], k=10, fusion=RRF)) == ["a", "b", "c"]


def test_rrf_a_hit_found_in_both_spaces_beats_hits_found_in_one() -> None:
    vision = dense(hit("a", 0.9), hit("b", 0.8), hit("c", 0.7))
    text = dense(hit("x", 0.95, "text"), hit("c", 0.6, "text"), hit("y", 0.5, "text"))
    fused = fuse([vision, text], k=10, fusion=RRF)
    # c: 1/63 + 1/62 beats any single first place (1/61).
    assert ids(fused)[0] == "c"
    assert sorted(ids(fused)) == ["a", "b", "c", "x", "y"]


def test_rrf_order_across_two_rankings() -> None:
    first = dense(hit("a", 0.9), hit("b", 0.8), hit("c", 0.7), hit("d", 0.6))
    second = dense(hit("d", 0.5, "text"), hit("c", 0.4, "text"), hit("e", 0.3, "text"))
    # a: 1/61; b: 1/62; c: 1/63 + 1/62; d: 1/64 + 1/61; e: 1/63
    assert ids(fuse([first, second], k=10, fusion=RRF)) == ["d", "c", "a", "b", "e"]


def test_rrf_hits_keep_a_relevance_to_filter_by() -> None:
    ranking = dense(hit("a", 0.9), hit("b", 0.1), scale=(0.5, 0.9))
    fused = fuse([ranking], k=10, fusion=RRF, min_relevance=0.5)
    assert ids(fused) == ["a"]


def test_duplicates_are_merged_keeping_the_best_similarity() -> None:
    first = dense(hit("a", 0.3), hit("b", 0.2))
    second = dense(hit("a", 0.8, "text"))
    fused = fuse([first, second], k=10)
    assert ids(fused) == ["a", "b"]
    assert fused[0].score == 0.8
    assert fused[0].space == "text"


def test_equal_fused_scores_are_ordered_by_similarity() -> None:
    first = dense(hit("a", 0.2))
    second = dense(hit("b", 0.9, "text"))
    assert ids(fuse([first, second], k=10, fusion=RRF)) == ["b", "a"]


def test_k_cuts_the_fused_list() -> None:
    first = dense(*(hit(str(i), 1 - i / 100) for i in range(20)))
    second = dense(*(hit(str(i), 1 - i / 100, "text") for i in range(19, -1, -1)))
    for fusion in FusionMethod:
        fused = fuse([first, second], k=5, fusion=fusion)
        assert len(fused) == 5
        assert len(set(ids(fused))) == 5


def test_hits_without_ids_are_told_apart_by_uri_and_time() -> None:
    first = dense(
        Hit(uri="/v.mp4", modality="video", score=0.9, start_s=0.0),
        Hit(uri="/v.mp4", modality="video", score=0.8, start_s=5.0),
    )
    second = dense(Hit(uri="/v.mp4", modality="video", score=0.7, start_s=5.0, space="text"))
    fused = fuse([first, second], k=10, fusion=RRF)
    assert [h.start_s for h in fused] == [5.0, 0.0]


def test_no_rankings_give_no_hits() -> None:
    assert fuse([], k=10) == []
    assert fuse([dense(), dense()], k=10) == []


# ---------------------------------------------------------------- reranking


def test_a_reranker_s_scores_become_the_relevance_of_the_text_bearing_hits_it_read() -> None:
    words = dense(hit("a", 0.9, "text", text="ferry"), hit("b", 0.8, "text", text="harbour"),
                  hit("c", 0.7, "text", text="boats"))  # fmt: skip
    photos = dense(hit("p", 0.7), hit("q", 0.1))
    read: list[list[str]] = []

    def rescore(texts: object) -> list[float]:
        read.append(list(texts))  # type: ignore[call-overload]
        return [{"ferry": 0.2, "harbour": 0.95, "boats": 0.6}[text] for text in texts]  # type: ignore[attr-defined]

    fused = fuse([words, photos], k=10, rescore=rescore, rerank_candidates=2)
    assert read == [["ferry", "harbour"]]  # the best two text-bearing hits only
    assert ids(fused)[0] == "b"
    relevance = {h.uri.removeprefix("/photos/").removesuffix(".jpg"): h.relevance for h in fused}
    assert relevance["b"] == pytest.approx(0.95)
    assert relevance["a"] == pytest.approx(0.2)
    assert relevance["p"] == pytest.approx(0.7)  # the photos' best: 0.7 on (0, 1), min-max 1: not read, kept
    assert relevance["c"] == 0.0  # not read: min-max (0.7 - 0.7) / (0.9 - 0.7)


def test_under_rrf_a_reranker_reorders_the_places_its_hits_held() -> None:
    words = dense(hit("a", 0.9, "text", text="x"), hit("b", 0.8, "text", text="y"))
    photos = dense(hit("p", 0.95))
    fused = fuse([photos, words], k=10, fusion=RRF, rescore=lambda texts: [0.1, 0.9], rerank_candidates=5)
    # Places by rank fusion: p (1/61, similarity 0.95), a (1/61), b (1/62); the reranker swaps a and b.
    assert ids(fused) == ["p", "b", "a"]


# ---------------------------------------------------------------- moments


def moment(start: float, end: float, score: float, space: str, uri: str = "/talk.mp4", **fields: str) -> Hit:
    return Hit(uri=uri, modality="video", score=score, start_s=start, end_s=end, id=f"{start}-{space}", space=space,
               **fields)  # fmt: skip


@pytest.mark.parametrize("fusion", list(FusionMethod))
def test_adjacent_frames_and_words_of_one_video_merge_into_one_moment(fusion: FusionMethod) -> None:
    vision = dense(
        moment(11.0, 12.0, 0.31, "vision", thumbnail="/t/11000.jpg"),
        moment(10.0, 11.0, 0.305, "vision", thumbnail="/t/10000.jpg"),
        moment(40.0, 41.0, 0.29, "vision", thumbnail="/t/40000.jpg"),
        *(moment(float(t), t + 1.0, 0.2 - t / 1000, "vision") for t in (70, 80, 90)),
    )
    text = dense(moment(10.4, 12.6, 0.7, "text", text="the ferry leaves at seven"))
    fused = fuse([vision, text], k=10, fusion=fusion)
    assert [(h.start_s, h.end_s) for h in fused][:2] == [(10.0, 12.6), (40.0, 41.0)]
    first = fused[0]
    assert first.text == "the ferry leaves at seven"
    assert first.thumbnail == "/t/11000.jpg"  # the best-ranked frame's
    assert first.score == 0.7


def test_moments_of_different_files_or_far_apart_stay_apart() -> None:
    ranking = dense(
        moment(0.0, 1.0, 0.9, "vision"),
        moment(0.5, 1.5, 0.8, "vision", uri="/other.mp4"),
        moment(3.0, 4.0, 0.7, "vision"),  # 2 s after the first ends: beyond the gap
    )
    fused = fuse([ranking], k=10)
    assert [(h.uri, h.start_s) for h in fused] == [("/talk.mp4", 0.0), ("/other.mp4", 0.5), ("/talk.mp4", 3.0)]


def test_a_moment_ends_where_the_match_fades() -> None:
    scores = [0.2, 0.21, 0.2, 0.3, 0.31, 0.3, 0.2, 0.19, 0.2, 0.21]  # one frame a second; a match at 3-6 s
    ranking = dense(*sorted((moment(float(t), t + 1.0, score, "vision") for t, score in enumerate(scores)),
                            key=lambda hit: -(hit.score or 0)))  # fmt: skip
    fused = fuse([ranking], k=1)
    assert (fused[0].start_s, fused[0].end_s) == (3.0, 6.0)


@pytest.mark.parametrize("fusion", list(FusionMethod))
def test_a_run_of_similar_frames_counts_once_against_a_moment_two_spaces_agree_on(fusion: FusionMethod) -> None:
    vision = dense(*(moment(float(t), t + 1.0, 0.5, "vision") for t in range(5)), moment(60.0, 61.0, 0.4, "vision"))
    text = dense(moment(60.2, 62.0, 0.6, "text", text="weather"), moment(100.0, 102.0, 0.5, "text"))
    fused = fuse([vision, text], k=2, fusion=fusion)
    assert [(h.start_s, h.end_s) for h in fused] == [(60.0, 62.0), (0.0, 5.0)]
