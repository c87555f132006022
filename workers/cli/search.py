"""`search` and `duplicates`: a text, image or spoken query sent to the query pool, and its hits shown best first;
near-identical images and frames found in the index."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from shared.config import get_settings
from shared.errors import MmindexError, one_line
from workers.cli.common import fail, out, reach_index

WORDS_SHOWN = 240
"""Characters of a hit's words that `search` shows."""
HITS_NOTE = "ranked by relevance fused across the spaces searched; similarity is each hit's own cosine similarity"


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
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of hits, best first")] = False,
) -> None:
    """Search the index by text, an example image, or a spoken query."""
    if sum(bool(given) for given in (text, image, audio)) != 1:
        raise fail("give one of TEXT to search for, --image FILE or --audio FILE")
    from shared.search import MODALITIES, Query, audio_query, image_query

    unknown = sorted(set(modality or []) - set(MODALITIES))
    if unknown:
        raise fail(f"unknown --modality {', '.join(unknown)}; choose from {', '.join(MODALITIES)}")
    reach_index(create=False)
    from celery.exceptions import TimeoutError as CeleryTimeoutError

    from workers.query import search as search_task

    try:  # a query file's errors name it, in one line
        if image:
            query = image_query(image, k=k, modalities=modality or [])
        elif audio:
            query = audio_query(audio, k=k, modalities=modality or [])
        else:
            query = Query(text=text, k=k, modalities=modality or [])
    except MmindexError as error:
        raise fail(str(error)) from None
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
    if as_json:
        print(json.dumps(hits, indent=2))
        return
    out.print(hits_text(hits) if hits else "no hits", highlight=False, markup=False)


def hits_text(hits: list[dict[str, Any]]) -> str:
    """Hits in their order, best first: a line each with its whole path (never folded, so it can be copied), and
    under it the words said or written there."""
    lines = [f"{'#':>3}  {'similarity':<10}  {'modality':<8}  {'time':<15}  uri"]
    for rank, hit in enumerate(hits, start=1):
        span = f"{hit['start_s']:.1f}-{hit['end_s']:.1f} s" if hit["start_s"] is not None else ""
        lines.append(f"{rank:>3}  {hit['score']:<10.3f}  {hit['modality']:<8}  {span:<15}  {hit['uri']}")
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


def evaluate(
    queries: Annotated[Path, typer.Argument(help="JSON Lines: {query|image, relevant: [uri or moment, ...]} a line")],
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Measure search on queries whose answers are known: recall@1, recall@10, mrr@10 and ndcg@10 per mode.
    Exits 1 on a malformed line, naming it."""
    from shared.evaluation import DEPTH, Judged, read_queries
    from shared.evaluation import evaluate as measure
    from shared.search import Query, image_query, run_query
    from workers.cli.common import get_runtime

    try:
        judged = read_queries(queries)
    except MmindexError as error:
        raise fail(one_line(error), code=1) from None
    reach_index(create=False)
    runtime = get_runtime()

    def dense(query: Judged) -> list[Any]:
        asked = Query(text=query.text, k=DEPTH) if query.image is None else image_query(query.image, k=DEPTH)
        return run_query(asked, runtime)

    try:
        report = {"modes": {"dense": measure(judged, dense)}}
    except MmindexError as error:
        raise fail(one_line(error)) from None
    if as_json:
        print(json.dumps(report, indent=2))
        return
    out.print(f"{'mode':<8}  recall@1  recall@10  mrr@10  ndcg@10  queries", highlight=False)
    for mode, figures in report["modes"].items():
        out.print(
            f"{mode:<8}  {figures['recall@1']:<8.3f}  {figures['recall@10']:<9.3f}  {figures['mrr@10']:<6.3f}"
            f"  {figures['ndcg@10']:<7.3f}  {figures['queries']}",
            highlight=False,
        )
