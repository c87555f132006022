"""`ingest`, `retry` and `status`: sources go in, failed ones go in again, and what became of them."""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from shared.config import get_settings
from shared.errors import MmindexError, one_line
from shared.ledger import FAILURES, FINAL
from workers.cli.common import err, fail, get_runtime, out, reach_index

if TYPE_CHECKING:
    from workers.intakes.submission import Submission


def ingest(
    paths: Annotated[list[str], typer.Argument(help="Files, directories or s3://bucket/prefix URIs")],
    wait: Annotated[
        bool, typer.Option("--wait", help="Distributed mode: wait until every source is done or failed")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Index new and changed sources; unchanged ones are skipped. Exits 1 if any failed."""
    from workers.intakes.submission import submit

    reach_index(create=True)
    try:
        submission = submit(paths)
    except MmindexError as error:
        raise fail(one_line(error)) from None
    _report(submission, wait=wait, as_json=as_json)


def retry(
    wait: Annotated[
        bool, typer.Option("--wait", help="Distributed mode: wait until every source is done or failed")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object, as `ingest` does")] = False,
) -> None:
    """Queue failed and dead-lettered sources again (their current version in storage). Exits 1 if any failed."""
    from workers.reports import retry as retry_failed

    reach_index(create=False)
    try:
        submission = retry_failed(get_runtime())  # and the sources an outage stranded
    except MmindexError as error:
        raise fail(one_line(error)) from None
    _report(submission, wait=wait and bool(submission.ids), as_json=as_json)


def _wait(ids: list[str], timeout: float, show: bool) -> None:
    """Poll the ledger until every source is done or failed, with a progress bar on stderr."""
    ledger = get_runtime().ledger
    deadline = time.monotonic() + timeout
    columns = (
        TextColumn("ingesting"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err, disable=not show, transient=False) as progress:
        bar = progress.add_task("", total=len(ids))
        while True:
            records = ledger.get(ids)
            final = sum(record.state in FINAL for record in records)
            failed = sum(record.state in FAILURES for record in records)
            progress.update(bar, completed=final, description=f"{failed} failed" if failed else "")
            if final >= len(ids) or time.monotonic() > deadline:
                return
            time.sleep(0.25)


def _report(submission: Submission, *, wait: bool, as_json: bool) -> None:
    """What became of submitted sources (after waiting for them, if asked), as `ingest` prints it; exit 1 if any
    failed."""
    from workers.reports import submission_report

    settings = get_settings()
    waited = settings.distributed and wait
    if waited:
        _wait(submission.ids, settings.ingest.wait_timeout_s, show=sys.stderr.isatty() or not as_json)
    result = submission_report(submission, get_runtime())
    indexed, failed, pending = result["indexed"], result["failed"], result.get("queued", [])
    if as_json:
        print(json.dumps(result, indent=2))
    else:
        out.print(
            f"indexed {len(indexed)}, skipped {len(submission.skipped)}, failed {len(failed)}"
            + (f", queued {len(pending)} (watch with `mmindex status`)" if pending else "")
        )
        for failure in failed:
            out.print(f"  [red]failed[/red] {failure['uri']}: {failure['error']}", highlight=False)
    if waited and pending:
        err.print(f"{len(pending)} sources still on their way after {settings.ingest.wait_timeout_s:.0f} s")
    raise typer.Exit(1 if failed or (waited and pending) else 0)


def status(as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False) -> None:
    """Sources per state, throughput and an ETA, and the failed ones with their reasons."""
    from workers.reports import status_report

    reach_index(create=False)
    figures = status_report(get_runtime())
    if as_json:
        print(json.dumps(figures, indent=2))
        return
    counts, pending, per_minute, eta_s, failed = (
        figures["counts"],
        figures["pending"],
        figures["finished_per_minute"],
        figures["eta_s"],
        figures["failed"],
    )
    out.print("  ".join(f"{state} {n}" for state, n in counts.items()))
    if pending:
        eta = "unknown (nothing finished lately)" if eta_s is None else f"{eta_s:.0f} s"
        out.print(f"{pending} on their way, {per_minute:.1f} finished a minute, done in {eta}")
    for failure in failed:
        label = "dead letter" if failure["state"] == "dead" else "failed"
        out.print(f"  [red]{label}[/red] {failure['uri']}: {failure['error']}", highlight=False)
