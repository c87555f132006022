"""`finetune text|vision`: a space's model fine-tuned on examples of one's own, saved as a model directory that
`reindex SPACE --model DIR` takes, with its measure before and after (`shared/models/finetune.py`)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from shared.config import get_settings
from workers.cli.common import err, out, reach_index

finetune = typer.Typer(help="Fine-tune a space's model on examples of your own.", no_args_is_help=True)

Model = Annotated[
    str | None,
    typer.Option("--model", help="The base model, a name or a directory; default the space's configured model"),
]
Epochs = Annotated[int, typer.Option("--epochs", min=1, max=1000, help="Passes over the training examples")]
Batch = Annotated[int, typer.Option("--batch-size", min=2, max=4096, help="Examples a training step takes")]
Validation = Annotated[
    float, typer.Option("--validation", min=0.0, max=1.0, help="The share of the examples held out to measure on")
]
LearningRate = Annotated[
    float | None,
    typer.Option("--learning-rate", min=0.0, help="AdamW's peak learning rate; default 2e-5 (text), 1e-5 (vision)"),
]
Eval = Annotated[
    Path | None,
    typer.Option(
        "--eval",
        help="Queries with known answers (as `mmindex eval` reads them): measured over the index's documents,"
        " ranked in memory by the base and the tuned model",
    ),
]
Json = Annotated[bool, typer.Option("--json", help="Print one JSON object")]


@contextmanager
def _progress(show: bool) -> Iterator[Any]:
    """A progress bar of the training steps on stderr, told by the training after each step; shown from the first
    step on (nothing is drawn for a run refused before it trains)."""
    columns = (
        TextColumn("training"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    progress = Progress(*columns, console=err, disable=not show, transient=False)
    bars: list[Any] = []

    def told(done: int, total: int, loss: float) -> None:
        if not bars:
            progress.start()
            bars.append(progress.add_task("", total=total, loss=""))
        progress.update(bars[0], completed=done, total=total, loss=f"{loss:.4f}")

    try:
        yield told
    finally:
        if bars:
            progress.stop()


def _options(epochs: int, batch_size: int, validation: float, learning_rate: float | None) -> Any:
    from shared.models.finetune import Options

    return Options(epochs=epochs, batch_size=batch_size, validation=validation, learning_rate=learning_rate or None)


@finetune.command("text")
def finetune_text(
    triplets: Annotated[
        Path, typer.Option("--triplets", help='JSON Lines: {"anchor", "positive", "negative"?} a line')
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="Where the tuned model goes (a new or empty folder)")],
    *,
    model: Model = None,
    epochs: Epochs = 1,
    batch_size: Batch = 16,
    validation: Validation = 0.1,
    learning_rate: LearningRate = None,
    eval_file: Eval = None,
    mine: Annotated[
        bool, typer.Option("--mine", help="Give each line without a negative one mined from the index's text space")
    ] = False,
    as_json: Json = False,
) -> None:
    """Fine-tune the text model: TripletLoss on triplets, in-batch negatives on pairs."""
    from shared.models.finetune import finetune_text as run

    if mine or eval_file:
        reach_index(create=False)
    with _progress(sys.stderr.isatty() or not as_json) as progress:
        report = run(
            triplets,
            out_dir,
            get_settings(),
            model=model,
            options=_options(epochs, batch_size, validation, learning_rate),
            eval_file=eval_file,
            mine=mine,
            progress=progress,
        )
    _show(report, as_json)


@finetune.command("vision")
def finetune_vision(
    pairs: Annotated[
        Path, typer.Option("--pairs", help='JSON Lines: {"image": path relative to the file, "caption"} a line')
    ],
    out_dir: Annotated[Path, typer.Option("--out", help="Where the tuned model goes (a new or empty folder)")],
    *,
    model: Model = None,
    epochs: Epochs = 1,
    batch_size: Batch = 16,
    validation: Validation = 0.1,
    learning_rate: LearningRate = None,
    eval_file: Eval = None,
    augment: Annotated[
        bool, typer.Option("--augment/--no-augment", help="Random crops, flips and colour jitter of the images")
    ] = True,
    as_json: Json = False,
) -> None:
    """Fine-tune the CLIP model on image-caption pairs: CLIP's contrastive loss, images augmented."""
    from shared.models.augment import Augmentation
    from shared.models.finetune import finetune_vision as run

    if eval_file:
        reach_index(create=False)
    with _progress(sys.stderr.isatty() or not as_json) as progress:
        report = run(
            pairs,
            out_dir,
            get_settings(),
            model=model,
            options=_options(epochs, batch_size, validation, learning_rate),
            eval_file=eval_file,
            augmentation=Augmentation.from_settings(get_settings()) if augment else Augmentation.none(),
            progress=progress,
        )
    _show(report, as_json)


def _show(report: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(report, indent=2))
        return
    examples = report["examples"]
    mined = f", {examples['mined']} negatives mined" if examples.get("mined") else ""
    lines = [
        f"tuned {report['model']} → {report['out']} ({report['space']} space)",
        f"{examples['train']} examples trained on, {examples['validation']} held out{mined};"
        f" {report['epochs']} epoch{'s' if report['epochs'] != 1 else ''} of {report['loss']} on {report['device']}"
        f" in {report['train_seconds']} s",
        _table("held out", report["validation"]),
    ]
    if report.get("eval"):
        lines.append(_table(f"--eval {report['eval']['file']}", report["eval"]))
    out.print("\n".join(lines), highlight=False, markup=False)


def _table(title: str, measured: dict[str, Any]) -> str:
    """Before and after, a row each, under what was measured."""
    before, after = measured["before"], measured["after"]
    names = [name for name, value in before.items() if isinstance(value, int | float) and name != "queries"]
    rows = [f"{title}: {measured['measured']}", f"  {'':<7}" + "".join(f"{name:>18}" for name in names)]
    for label, figures in (("before", before), ("after", after)):
        rows.append(f"  {label:<7}" + "".join(f"{figures[name]:>18.3f}" for name in names))
    return "\n".join(rows)
