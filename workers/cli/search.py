"""`search` and `duplicates`: a text, image or spoken query sent to the query pool, and its hits shown best first;
near-identical images and frames found in the index."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from shared.config import get_settings
from shared.documents import SearchMode
from shared.errors import MmindexError, one_line
from workers.cli.common import fail, out, reach_index

if TYPE_CHECKING:
    from shared.search import Query

WORDS_SHOWN = 240
"""Characters of a hit's words that `search` shows."""
HITS_NOTE = (
    "ranked by relevance (0-1), fused from the vector search of each space and the search by words;"
    " similarity is a hit's own cosine similarity (none: found by its words)"
)


def search(
    text: Annotated[str | None, typer.Argument(help="What to look for, in words")] = None,
    *,
    image: Annotated[Path | None, typer.Option("--image", help="Find images and video moments like this one")] = None,
    audio: Annotated[
        Path | None, typer.Option("--audio", help="Search with the words spoken in this recording (first 30 s)")
    ] = None,
    k: Annotated[int, typer.Option("--k", min=1, max=1000, help="How many hits")] = 10,
    modality: Annotated[
        list[str] | None, typer.Option("--modality", help="image, video, audio or text; repeatable")
    ] = None,
    mode: Annotated[
        str | None,
        typer.Option("--mode", help="dense, lexical or hybrid (both, fused); default MMINDEX_SEARCH__MODE"),
    ] = None,
    min_relevance: Annotated[
        float | None,
        typer.Option(
            "--min-relevance",
            min=0.0,
            max=1.0,
            help="Drop hits less relevant (0-1); default MMINDEX_SEARCH__MIN_RELEVANCE",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of hits, best first")] = False,
) -> None:
    """Search the index by text, an example image, or a spoken query."""
    if sum(bool(given) for given in (text, image, audio)) != 1:
        raise fail("give one of TEXT to search for, --image FILE or --audio FILE")
    from shared.search import MODALITIES, Query, audio_query, image_query

    unknown = sorted(set(modality or []) - set(MODALITIES))
    if unknown:
        raise fail(f"unknown --modality {', '.join(unknown)}; choose from {', '.join(MODALITIES)}")
    modes = [choice.value for choice in SearchMode]
    if mode is not None and mode not in modes:
        raise fail(f"unknown --mode {mode}; choose from {', '.join(modes)}")
    if mode == SearchMode.LEXICAL and image:
        raise fail("an image is searched by its looks: --mode lexical needs words")
    reach_index(create=False)
    try:  # a query file's errors name it, in one line
        if image:
            query = image_query(image, k=k, modalities=modality or [])
        elif audio:
            query = audio_query(audio, k=k, modalities=modality or [])
        else:
            query = Query(text=text, k=k, modalities=modality or [])
    except MmindexError as error:
        raise fail(str(error)) from None
    query.mode, query.min_relevance = mode, min_relevance
    hits = searched(query)
    if as_json:
        print(json.dumps(hits, indent=2))
        return
    out.print(hits_text(hits) if hits else NO_HITS, highlight=False, markup=False)


def searched(query: Query) -> list[dict[str, Any]]:
    """The hits of `query` from the query pool (in embedded mode, in this process), as `search --json` gives them;
    what goes wrong ends the command in one line."""
    from celery.exceptions import TimeoutError as CeleryTimeoutError

    from workers.query import search as search_task

    settings = get_settings()
    try:
        result = search_task.apply_async(args=[query.to_message()])
        hits: list[dict[str, Any]] = result.get(timeout=settings.tasks.query_timeout_s, propagate=True)
    except MmindexError as error:
        raise fail(one_line(error)) from None
    except CeleryTimeoutError:
        raise fail(
            f"no answer from the query pool in {settings.tasks.query_timeout_s:.0f} s;"
            " is `mmindex worker query` running?"
        ) from None
    return hits


NO_HITS = "no hits: nothing matches well enough (see --min-relevance)"


def where_in(hit: dict[str, Any]) -> str:
    """Where in its source a hit is: its time span (`12.0-14.5 s`), a document's page (`page 2`), or nothing."""
    if hit.get("start_s") is not None:
        return f"{hit['start_s']:.1f}-{hit['end_s']:.1f} s"
    return f"page {hit['page']}" if hit.get("page") is not None else ""


def hits_text(hits: list[dict[str, Any]]) -> str:
    """Hits in their order, best first: a line each with its whole path (never folded, so it can be copied), and
    under it the words said or written there."""
    lines = [f"{'#':>3}  {'relevance':<9}  {'similarity':<10}  {'modality':<8}  {'where':<15}  uri"]
    for rank, hit in enumerate(hits, start=1):
        span = where_in(hit)
        relevance = "" if hit.get("relevance") is None else f"{hit['relevance']:.3f}"
        similarity = "" if hit["score"] is None else f"{hit['score']:.3f}"
        lines.append(f"{rank:>3}  {relevance:<9}  {similarity:<10}  {hit['modality']:<8}  {span:<15}  {hit['uri']}")
        words = " ".join((hit.get("text") or "").split())
        if words:
            cut = words if len(words) <= WORDS_SHOWN else words[: WORDS_SHOWN - 1].rstrip() + "…"
            lines.append(f"{'':>3}  “{cut}”")
    lines.append(HITS_NOTE)
    return "\n".join(lines)


def duplicates(
    threshold: Annotated[
        float, typer.Option("--threshold", min=0.0, max=1.0, help="Cosine similarity at which two items match")
    ] = 0.95,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Groups of near-identical images and video frames, by the vision space's vectors (nothing is encoded again)."""
    from shared.duplicates import near_duplicates
    from workers.cli.common import get_runtime

    reach_index(create=False)
    try:
        groups = near_duplicates(get_runtime().store, threshold)
    except MmindexError as error:
        raise fail(one_line(error)) from None
    if as_json:
        print(json.dumps({"threshold": threshold, "groups": [group.public() for group in groups]}, indent=2))
        return
    if not groups:
        out.print(f"no near-duplicates at similarity {threshold}", highlight=False)
        return
    for number, group in enumerate(groups, start=1):
        out.print(f"{number}. {len(group.members)} alike (similarity ≥ {group.similarity:.3f})", highlight=False)
        for hit in group.members:
            at = f"  at {hit.start_s:.1f} s" if hit.start_s is not None else ""
            out.print(f"   {hit.uri}{at}", highlight=False, markup=False)


EVAL_MODES = ("dense", "lexical", "hybrid", "hybrid+rerank")
"""What `eval` can measure: the search modes, and hybrid with the cross-encoder rescoring its best hits."""


def evaluate(
    queries: Annotated[
        Path, typer.Argument(help="JSON Lines: {query|image, relevant: [uri or moment, ...], tag?} a line")
    ],
    modes: Annotated[
        list[str] | None,
        typer.Option(
            "--mode", help="dense, lexical, hybrid or hybrid+rerank; repeatable; default all (rerank when it loads)"
        ),
    ] = None,
    min_relevance: Annotated[
        float | None,
        typer.Option("--min-relevance", min=0.0, max=1.0, help="Default MMINDEX_SEARCH__MIN_RELEVANCE"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Measure search on queries whose answers are known: recall@1, recall@10, mrr@10 and ndcg@10 per mode, per
    tag, and how many queries about what the index lacks find nothing. Exits 1 on a malformed line, naming it."""
    from shared.evaluation import DEPTH, Judged, read_queries
    from shared.evaluation import evaluate as measure
    from shared.search import Query, image_query, run_query
    from workers.cli.common import get_runtime

    unknown = sorted(set(modes or []) - set(EVAL_MODES))
    if unknown:
        raise fail(f"unknown --mode {', '.join(unknown)}; choose from {', '.join(EVAL_MODES)}")
    try:
        judged = read_queries(queries)
    except MmindexError as error:
        raise fail(one_line(error), code=1) from None
    reach_index(create=False)
    runtime = get_runtime()
    settings = runtime.settings.search
    chosen = list(dict.fromkeys(modes or EVAL_MODES))
    if "hybrid+rerank" in chosen and runtime.reranker() is None:
        if modes:
            raise fail("hybrid+rerank needs a reranker: MMINDEX_MODELS__RERANK is none or cannot load")
        chosen.remove("hybrid+rerank")
    images: dict[int, Query] = {}
    for query in judged:
        if query.image is not None:
            try:
                images[query.line] = image_query(query.image, k=DEPTH)
            except MmindexError as error:  # a missing or unreadable query image: the line that names it
                raise fail(f"{queries}, line {query.line}: {one_line(error)}", code=1) from None

    def searcher(mode: str) -> Any:
        def search(query: Judged) -> list[Any]:
            if query.image is not None:
                if mode == "lexical":
                    return []  # an image has no words to search by
                asked = images[query.line]
            else:
                asked = Query(text=query.text, k=DEPTH)
            plain, _, rerank = mode.partition("+")
            return run_query(replace(asked, mode=plain, min_relevance=0.0, rerank=bool(rerank)), runtime)

        return search

    threshold = settings.min_relevance if min_relevance is None else min_relevance
    try:
        report = {
            "fusion": settings.fusion.value,
            "normalization": settings.normalization.value,
            "min_relevance": threshold,
            "modes": {mode: measure(judged, searcher(mode), threshold) for mode in chosen},
        }
    except MmindexError as error:
        raise fail(one_line(error)) from None
    if as_json:
        print(json.dumps(report, indent=2))
        return
    out.print(eval_table(report), highlight=False, markup=False)


def eval_table(report: dict[str, Any]) -> str:
    """`eval`'s report as a table: a row per mode and, under it, per tag; then what queries about things the index
    lacks found."""
    lines = [
        f"fusion {report['fusion']} ({report['normalization']}), minimum relevance {report['min_relevance']}",
        f"{'mode':<22}  recall@1  recall@10  mrr@10  ndcg@10  queries  recall@10 unfiltered  absent: found nothing",
    ]
    for mode, figures in report["modes"].items():
        rows = [(mode, figures)] + [(f"  {tag}", tagged) for tag, tagged in figures.get("tags", {}).items()]
        for name, row in rows:
            if not row.get("queries"):
                continue
            absent = figures.get("absent") if name == mode else None
            nothing = f"{absent['found nothing']:.3f} of {absent['queries']}" if absent else ""
            lines.append(
                f"{name:<22}  {row['recall@1']:<8.3f}  {row['recall@10']:<9.3f}  {row['mrr@10']:<6.3f}"
                f"  {row['ndcg@10']:<7.3f}  {row['queries']:<7}  {row['recall@10 unfiltered']:<20.3f}  {nothing}"
            )
    return "\n".join(lines)
