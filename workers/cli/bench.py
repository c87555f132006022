"""`bench`: measure a stage against a plain baseline, with the benchmarks of the project's checkout."""

from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from workers.cli.common import err, fail, out


def _benchmarks() -> dict[str, Any]:
    """The checkout's `bench` package: importable when the project runs from its source tree (an editable install)."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "bench" / "__init__.py").is_file():
        raise fail("mmindex bench runs from a checkout of the project: the benchmarks are not installed with it")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from bench import BENCHMARKS
    from bench.ask import bench_ask

    return {**BENCHMARKS, "ask": bench_ask}


def bench(
    name: Annotated[str, typer.Argument(help="embed, opensearch, decode, events, api, reindex, ocr or ask")],
    *,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
    images: Annotated[
        int | None,
        typer.Option(
            "--images",
            min=1,
            help="embed, reindex: how many photos (default 200); ocr: pictures with text, and as many without (60)",
        ),
    ] = None,
    docs: Annotated[
        int | None,
        typer.Option("--docs", min=1, help="opensearch, api: documents to search over (default 100000, 10000)"),
    ] = None,
    data: Annotated[
        str | None, typer.Option("--data", help="opensearch: clustered (like embeddings; default) or uniform")
    ] = None,
    seconds: Annotated[
        int | None,
        typer.Option("--seconds", min=3, help="decode, reindex: length of the video in seconds (default 60, 120)"),
    ] = None,
    objects: Annotated[
        int | None, typer.Option("--objects", min=1, help="events: objects uploaded per path (default 2000)")
    ] = None,
    rounds: Annotated[
        int | None, typer.Option("--rounds", min=1, help="api: times each client runs every query (default 5)")
    ] = None,
    backend: Annotated[
        str | None,
        typer.Option(
            "--backend", help="embed: backends to compare, e.g. torch,onnx,openvino or onnx:fp32,openvino:int8"
        ),
    ] = None,
    questions: Annotated[
        int | None, typer.Option("--questions", min=1, max=20, help="ask: how many questions to ask (default 20)")
    ] = None,
) -> None:
    """Measure a stage against a plain baseline, in one run (from a checkout of the project: the benchmarks and the
    fixtures they read are not part of the installed package)."""
    benchmarks = _benchmarks()

    if name not in benchmarks:
        raise fail(f"unknown benchmark {name!r}; available: {', '.join(benchmarks)}")
    benchmark = benchmarks[name]
    # Each benchmark takes the options its signature names, with its own defaults; a given one must apply.
    given = {
        option: value
        for option, value in {
            "images": images,
            "docs": docs,
            "data": data,
            "seconds": seconds,
            "objects": objects,
            "rounds": rounds,
            "questions": questions,
            "backend": backend,
        }.items()
        if value is not None
    }
    for option in given:
        if option not in inspect.signature(benchmark).parameters:
            raise fail(f"--{option} does not apply to the {name} benchmark")
    figures = benchmark(log=err, **given)
    if as_json:
        print(json.dumps(figures, indent=2))
    else:
        for key, value in figures.items():
            out.print(f"{key}: {value}")
