"""`models` and `reindex`: the generations of every space, a rebuild with another model beside the serving one, and
the swaps that put a generation in service (workers/rebuild.py)."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from shared.documents import Space
from shared.errors import MmindexError, one_line
from shared.generations import GenerationReport, GenerationState, parse_number
from workers.cli.common import err, fail, get_runtime, out, reach_index

STALL_S = 120.0
"""How long `reindex --wait` waits for a generation whose count has stopped moving before it looks again."""

models = typer.Typer(
    help="The model generations of each space: list them, swap one in, roll back, drop a retired one.",
    invoke_without_command=True,
)


def _space(value: str) -> Space:
    try:
        return Space(value)
    except ValueError:
        raise fail(f"unknown space {value!r}; choose from {', '.join(Space)}") from None


def reports() -> list[GenerationReport]:
    store = get_runtime().store
    found = []
    for space in Space:
        lineage = store.lineage(space)
        for generation in lineage.generations:
            documents = store.count(space.value, generation=generation.number)
            found.append(GenerationReport(generation, documents, previous=lineage.previous == generation.number))
    return found


@models.callback()
def list_models(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list of generations")] = False,
) -> None:
    """The generations of every space: model, dimension, state and documents."""
    if ctx.invoked_subcommand is not None:
        return
    reach_index(create=False)
    found = reports()
    if as_json:
        print(json.dumps([report.public() for report in found], indent=2))
        return
    if not found:
        out.print("no generations yet: ingest sources first")
        return
    for report in found:
        generation = report.generation
        state = generation.state.value + (" (rollback target)" if report.previous else "")
        out.print(
            f"{generation.space.value:<7} {generation.name:<4} {state:<26} {generation.dimension:>5}-d"
            f" {report.documents:>9} documents  {generation.model or '(model not recorded)'}",
            highlight=False,
            soft_wrap=True,
        )


@models.command("export")
def export(
    spaces: Annotated[list[str] | None, typer.Argument(help="vision, text (default: both)")] = None,
    *,
    backend: Annotated[str | None, typer.Option("--backend", help="onnx or openvino (default: the setting)")] = None,
    precision: Annotated[str | None, typer.Option("--precision", help="fp32, fp16, bf16, int8 (default: auto)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list, one object per space")] = False,
) -> None:
    """Export each space's configured model for an exported backend now (workers otherwise do it on first use):
    where it is, its format and its parity with torch."""
    from shared.config import get_settings
    from shared.models import Backend, Precision
    from shared.models.encoders import encoder_for

    settings = get_settings()
    try:
        chosen_backend = Backend(backend) if backend else None
        models = (
            settings.models.model_copy(update={"precision": Precision(precision)}) if precision else settings.models
        )
    except ValueError as error:
        raise fail(one_line(error)) from None
    settings = settings.model_copy(update={"models": models})
    found: list[dict[str, Any]] = []
    for space in [_space(value) for value in spaces or [s.value for s in Space]]:
        use = chosen_backend or settings.models.backend_for(space.value)
        if use is Backend.TORCH:
            raise fail(f"the {space.value} space runs on torch, which needs no export; pass --backend onnx or openvino")
        try:
            encoder = encoder_for(space, settings, backend=use)
        except MmindexError as error:
            raise fail(one_line(error)) from None
        parity = getattr(encoder, "parity", None)
        exported = getattr(encoder, "export", None)
        found.append(
            {
                "space": space.value,
                "model": encoder.model_id,
                "backend": encoder.backend.value,
                "format": getattr(exported, "format", None),
                "folder": str(exported.folder) if exported is not None else None,
                "parity": parity() if parity is not None else None,
            }
        )
    if as_json:
        print(json.dumps(found, indent=2))
        return
    for entry in found:
        parity_said = ", ".join(
            f"{t} cosine {f['mean']} mean / {f['worst']} worst" for t, f in (entry["parity"] or {}).items()
        )
        out.print(f"{entry['space']}: {entry['model']} as {entry['format']} in {entry['folder']} ({parity_said})")


@models.command("swap")
def swap(
    space: Annotated[str, typer.Argument(help="vision or text")],
    generation: Annotated[
        str | None, typer.Argument(help="The generation to serve (default: the newest built)")
    ] = None,
) -> None:
    """Serve a complete generation (every serving document has its counterpart); the serving one retires."""
    from workers.rebuild import lacking

    chosen = _space(space)
    reach_index(create=False)
    runtime = get_runtime()
    lineage = runtime.store.lineage(chosen)
    try:
        if generation is not None:
            number = parse_number(generation)
        else:
            building = [g.number for g in lineage.generations if g.state is GenerationState.BUILDING]
            if not building:
                raise fail(f"the {chosen.value} space has no generation being built; name one to swap in")
            number = max(building)
        target = lineage.get(number)
        absent = lacking(chosen, number, runtime)
        if absent:
            raise fail(
                f"generation {target.name} lacks {absent} documents of the serving one; finish it with"
                f" `mmindex reindex {chosen.value} --model {target.model}`"
            )
        runtime.store.commit(lineage, lineage.swap(number))
    except MmindexError as error:
        raise fail(one_line(error)) from None
    out.print(f"the {chosen.value} space now serves {target.name} ({target.model})", highlight=False)


@models.command("rollback")
def rollback(space: Annotated[str, typer.Argument(help="vision or text")]) -> None:
    """Serve again the generation that served before this one, and add to it what was ingested since it retired."""
    from workers.rebuild import missing, send

    chosen = _space(space)
    reach_index(create=False)
    runtime = get_runtime()
    lineage = runtime.store.lineage(chosen)
    try:
        after = lineage.rollback()
        runtime.store.commit(lineage, after)
    except MmindexError as error:
        raise fail(one_line(error)) from None
    serving, retired = after.serving, lineage.serving
    assert serving is not None
    out.print(f"the {chosen.value} space serves {serving.name} ({serving.model}) again", highlight=False)
    if retired is None:
        return
    # A retired generation takes deletions, not what is ingested after it retired: that is embedded for it now, from
    # what the generation that served meanwhile holds.
    added = send(missing(chosen, serving, retired, runtime), serving, runtime, lambda n: None)
    if added:
        out.print(f"{added} documents ingested while {retired.name} served are added to {serving.name}")


@models.command("drop")
def drop(
    space: Annotated[str, typer.Argument(help="vision or text")],
    generation: Annotated[str, typer.Argument(help="The generation to remove (retired or being built)")],
) -> None:
    """Remove a generation that does not serve, with its documents."""
    chosen = _space(space)
    reach_index(create=False)
    try:
        number = parse_number(generation)
        get_runtime().store.drop(chosen.value, number)
    except MmindexError as error:
        raise fail(one_line(error)) from None
    out.print(f"dropped generation g{number} of the {chosen.value} space")


def reindex(
    space: Annotated[str, typer.Argument(help="vision or text")],
    model: Annotated[str, typer.Option("--model", help="The model (a hub name or a local folder) to rebuild with")],
    wait: Annotated[
        bool, typer.Option("--wait", help="Distributed mode: wait until the new generation is complete")
    ] = False,
    swap_in: Annotated[bool, typer.Option("--swap", help="Serve the new generation once it is complete")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Build a generation of SPACE with another model from what the index holds (stored thumbnails and words; the
    originals are not read), beside the serving one; run again to resume. Exits 1 if --swap found it incomplete."""
    from workers.rebuild import rebuild, target

    chosen = _space(space)
    reach_index(create=False)
    runtime = get_runtime()
    try:
        prepared = target(chosen, model, runtime)  # the model loads, or the command ends here in one line
    except MmindexError as error:
        raise fail(one_line(error)) from None
    columns = (TextColumn("rebuilding"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    show = sys.stderr.isatty() or not as_json
    with Progress(*columns, console=err, disable=not show, transient=False) as bar:
        task = bar.add_task("", total=None)

        def progress(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        try:
            report = rebuild(
                chosen, model, runtime, wait=wait, swap=swap_in, progress=progress, timeout_s=STALL_S, prepared=prepared
            )
        except MmindexError as error:
            raise fail(one_line(error)) from None
    figures: dict[str, Any] = report.public()
    if as_json:
        print(json.dumps(figures, indent=2))
    elif runtime.settings.distributed and not (wait or swap_in):
        out.print(
            f"generation {report.generation.name} of the {chosen.value} space ({model}): {report.sent} items sent to"
            " the embed pool; follow with `mmindex models`, or run again with --wait",
            highlight=False,
        )
    else:
        done = "complete" if report.complete else f"{report.missing} documents still missing"
        out.print(
            f"generation {report.generation.name} of the {chosen.value} space ({model}): {figures['rebuilt']} of"
            f" {report.documents} documents, {done}"
            + (f"; now serving (was {report.source.name})" if report.swapped else ""),
            highlight=False,
        )
        if not report.swapped and report.complete:
            out.print(f"serve it with `mmindex models swap {chosen.value} {report.generation.name}`")
    raise typer.Exit(1 if swap_in and not report.swapped else 0)
