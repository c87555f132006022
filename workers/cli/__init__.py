"""The `mmindex` command line: the commands and options the README documents are a contract.

Each group of commands has a module (`ingest`, `search`, `ask`, `serve`, `pools`, `bench`, `events`, `models`); this one
registers them, in the order `--help` lists them, and runs the command so that what goes wrong is told in one line.
Heavy libraries (torch, sentence-transformers, LanceDB, Celery's workers) are imported by the commands that use them,
so that `status` or `--help` start in a fraction of a second.
"""

from __future__ import annotations

import logging
import sys

import typer
from pydantic import ValidationError

from shared.errors import MmindexError, mask, one_line
from workers.cli import ask, bench, events, finetune, ingest, models, pools, search, serve
from workers.cli.common import err, unreachable

app = typer.Typer(
    add_completion=False,
    pretty_exceptions_show_locals=False,
    no_args_is_help=True,
    help="Drop media in a bucket, search it by meaning.",
)
PASSED_ON = {"allow_extra_args": True, "ignore_unknown_options": True}
"""Settings of a command whose unknown options go on to the program it runs (`celery worker`, Flower)."""

app.command()(ingest.ingest)
app.command()(ingest.retry)
app.command()(search.search)
app.command()(search.duplicates)
app.command(name="eval")(search.evaluate)
app.command()(ask.ask)
app.command()(ingest.status)
app.command()(serve.serve)
app.command(context_settings=PASSED_ON)(pools.worker)
app.command()(pools.ping)
app.command(context_settings=PASSED_ON)(pools.flower)
app.command()(pools.metrics)
app.command()(bench.bench)
app.add_typer(events.events, name="events")
app.add_typer(finetune.finetune, name="finetune")
app.add_typer(models.models, name="models")
app.command()(models.reindex)


@app.callback()
def _setup(ctx: typer.Context) -> None:
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    # A model setting that disagrees with the generation a space serves is said, in one line (shared/runtime.py).
    logging.getLogger("shared.runtime").setLevel(logging.WARNING)
    if ctx.invoked_subcommand not in {"worker", "flower"}:
        # A command (in embedded mode, the tasks too) tells what failed in one line: a failed source's reason,
        # or `error:`; not with Celery's log of a task's traceback or of its reconnection attempts.
        logging.getLogger("celery").setLevel(logging.CRITICAL + 1)


def main() -> None:
    """The `mmindex` command: what goes wrong is told in one line (exit 2), not a traceback."""
    try:
        app()
    except MmindexError as error:
        err.print(f"[red]error:[/red] {one_line(error)}", highlight=False)
        sys.exit(2)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in problem['loc']) or 'settings'}: {problem['msg']}"
            for problem in error.errors()
        )
        err.print(f"[red]error:[/red] invalid configuration: {mask(problems)}", highlight=False)
        sys.exit(2)
    except Exception as error:  # the last resort: still one line, never a traceback
        err.print(f"[red]error:[/red] {unreachable(error) or one_line(error)}", highlight=False)
        sys.exit(2)
