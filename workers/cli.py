"""The `mmindex` command line: the commands and options the README documents are a contract."""

from __future__ import annotations

import base64
import inspect
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from shared.config import get_settings
from shared.errors import MmindexError, mask, one_line
from shared.ledger import FAILURES, FINAL, PENDING

# Heavy libraries (torch, sentence-transformers, LanceDB, Celery's workers) are imported by the commands that
# use them, so that `status` or `--help` start in a fraction of a second.
if TYPE_CHECKING:
    from shared.runtime import Runtime
    from workers.intakes.submission import Submission

RETRY_LIMIT = 100_000
"""`retry` replays at most this many of the most recent failures at once."""
RATE_WINDOW_S = 120.0
"""`status` measures throughput over this many seconds for its ETA."""

app = typer.Typer(
    add_completion=False,
    pretty_exceptions_show_locals=False,
    no_args_is_help=True,
    help="Drop media in a bucket, search it by meaning.",
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/red] {mask(message)}", highlight=False)
    return typer.Exit(code)


def get_runtime() -> Runtime:
    """The process's runtime (imported on first use: it brings numpy, Pillow and the stores)."""
    from shared.runtime import get_runtime as runtime

    return runtime()


def _reach_index(*, create: bool) -> None:
    """Embedded mode: say where a new index is created; refuse to read one that does not exist.

    Distributed mode: one quick call to the broker's Redis, so that a command against a dead broker or with a
    wrong password says so at once, in one line (see `main`), instead of riding out an outage.
    """
    settings = get_settings()
    if settings.distributed:
        get_runtime().broker.ping()
        return
    home = settings.home.expanduser().resolve()
    if home.is_dir():
        return
    if not create:
        raise _fail(
            f"no index at {home} (MMINDEX_HOME): `mmindex ingest PATH` creates one there;"
            " or set MMINDEX_HOME to the folder that holds your index"
        )
    home.mkdir(parents=True, exist_ok=True)
    err.print(f"created a new index at {home} (MMINDEX_HOME)", highlight=False)


def _unreachable(error: BaseException) -> str | None:
    """One line for an error that means the broker or the ledger's Redis cannot be reached (or refused us);
    None for any other error."""
    from kombu.exceptions import OperationalError
    from redis.exceptions import RedisError

    if not isinstance(error, OperationalError | RedisError | ConnectionError | TimeoutError):
        return None
    try:
        url = get_settings().broker_url
    except ValidationError:
        url = None
    where = f" at {url}" if url else ""
    return mask(f"cannot reach the broker{where} ({one_line(error)}); is it running, and is MMINDEX_BROKER_URL right?")


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


@app.command()
def ingest(
    paths: Annotated[list[str], typer.Argument(help="Files, directories or s3://bucket/prefix URIs")],
    wait: Annotated[
        bool, typer.Option("--wait", help="Distributed mode: wait until every source is done or failed")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Index new and changed sources; unchanged ones are skipped. Exits 1 if any failed."""
    from workers.intakes.submission import submit

    _reach_index(create=True)
    try:
        submission = submit(paths)
    except MmindexError as error:
        raise _fail(one_line(error)) from None
    _report(submission, wait=wait, as_json=as_json)


def _report(submission: Submission, *, wait: bool, as_json: bool) -> None:
    """What became of submitted sources (after waiting for them, if asked), as `ingest` prints it; exit 1 if any
    failed."""
    from workers.intakes.submission import outcome

    settings = get_settings()
    waited = settings.distributed and wait
    if waited:
        _wait(submission.ids, settings.ingest.wait_timeout_s, show=sys.stderr.isatty() or not as_json)
    records = get_runtime().ledger.get(submission.ids)
    indexed, failed, pending = outcome(records)
    failed = submission.unlisted + failed
    result: dict[str, Any] = {"indexed": indexed, "failed": failed, "skipped": submission.skipped}
    if pending:
        result["queued"] = pending
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


@app.command()
def retry(
    wait: Annotated[
        bool, typer.Option("--wait", help="Distributed mode: wait until every source is done or failed")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object, as `ingest` does")] = False,
) -> None:
    """Queue failed and dead-lettered sources again (their current version in storage). Exits 1 if any failed."""
    from workers.intakes.submission import Submission, submit
    from workers.sweep import stranded

    _reach_index(create=False)
    failures = get_runtime().ledger.failures(limit=RETRY_LIMIT) + stranded()  # and sources an outage stranded
    if not failures:
        _report(Submission(), wait=False, as_json=as_json)
    try:
        submission = submit([record.uri for record in failures])
    except MmindexError as error:
        raise _fail(one_line(error)) from None
    _report(submission, wait=wait, as_json=as_json)


def _image_query(file: Path) -> str:
    from shared.media.image import open_rgb, thumbnail_jpeg

    settings = get_settings().image
    if not file.is_file():
        raise _fail(f"{file}: no such file")
    try:
        image = open_rgb(file, max_pixels=settings.max_pixels, min_side=settings.thumbnail_px)
    except MmindexError as error:
        raise _fail(f"{file}: {one_line(error)}") from None
    return base64.b64encode(thumbnail_jpeg(image, settings.thumbnail_px)).decode("ascii")


def _audio_query(file: Path) -> str:
    """The first QUERY_AUDIO_S of a recording, as 16 kHz mono Opus: what the query pool transcribes."""
    from shared.media import ffmpeg
    from shared.models.speech import SAMPLE_RATE
    from shared.search import QUERY_AUDIO_S

    if not file.is_file():
        raise _fail(f"{file}: no such file")
    timeout_s = get_settings().media.ffmpeg_timeout_s
    try:
        samples = ffmpeg.pcm(file, end_s=QUERY_AUDIO_S, timeout_s=timeout_s)
        if samples.size == 0:
            raise _fail(f"{file}: the recording holds no sound")
        return base64.b64encode(ffmpeg.write_audio(samples, SAMPLE_RATE, timeout_s=timeout_s)).decode("ascii")
    except MmindexError as error:
        raise _fail(f"{file}: {one_line(error)}") from None


@app.command()
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
        raise _fail("give one of TEXT to search for, --image FILE or --audio FILE")
    from shared.search import MODALITIES

    unknown = sorted(set(modality or []) - set(MODALITIES))
    if unknown:
        raise _fail(f"unknown --modality {', '.join(unknown)}; choose from {', '.join(MODALITIES)}")
    _reach_index(create=False)
    from celery.exceptions import TimeoutError as CeleryTimeoutError

    from shared.search import Query
    from workers.query import search as search_task

    query = Query(
        text=text,
        image_jpeg=_image_query(image) if image else None,
        audio_ogg=_audio_query(audio) if audio else None,
        k=k,
        modalities=modality or [],
    )
    settings = get_settings()
    try:
        result = search_task.apply_async(args=[query.to_message()])
        hits: list[dict[str, Any]] = result.get(timeout=settings.tasks.query_timeout_s, propagate=True)
    except MmindexError as error:
        raise _fail(one_line(error)) from None
    except CeleryTimeoutError:
        raise _fail(
            f"no answer from the query pool in {settings.tasks.query_timeout_s:.0f} s;"
            " is `mmindex worker query` running?"
        ) from None
    if as_json:
        print(json.dumps(hits, indent=2))
        return
    out.print(hits_text(hits) if hits else "no hits", highlight=False, markup=False)


WORDS_SHOWN = 240
"""Characters of a hit's words that `search` shows."""
HITS_NOTE = "ranked by relevance fused across the spaces searched; similarity is each hit's own cosine similarity"


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


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False) -> None:
    """Sources per state, throughput and an ETA, and the failed ones with their reasons."""
    _reach_index(create=False)
    ledger = get_runtime().ledger
    counts = ledger.counts()
    pending = sum(counts[state] for state in PENDING)
    per_minute = ledger.finished_since(time.time() - RATE_WINDOW_S) * 60 / RATE_WINDOW_S
    eta_s = None if pending and not per_minute else round(pending / per_minute * 60, 1) if pending else 0.0
    failed = [
        {"uri": record.uri, "error": mask(record.error or "failed"), "state": record.state.value}
        for record in ledger.failures()
    ]
    if as_json:
        figures = {
            "counts": {state.value: n for state, n in counts.items()},
            "pending": pending,
            "finished_per_minute": round(per_minute, 1),
            "eta_s": eta_s,
            "failed": failed,
        }
        print(json.dumps(figures, indent=2))
        return
    out.print("  ".join(f"{state.value} {n}" for state, n in counts.items()))
    if pending:
        eta = "unknown (nothing finished lately)" if eta_s is None else f"{eta_s:.0f} s"
        out.print(f"{pending} on their way, {per_minute:.1f} finished a minute, done in {eta}")
    for failure in failed:
        label = "dead letter" if failure["state"] == "dead" else "failed"
        out.print(f"  [red]{label}[/red] {failure['uri']}: {failure['error']}", highlight=False)


_POOLS: dict[str, list[str]] = {
    "decode": ["--pool", "prefork", "--concurrency", str(os.cpu_count() or 1)],
    "embed": ["--pool", "solo"],
    "index": ["--pool", "threads", "--concurrency", "4"],
    "query": ["--pool", "threads", "--concurrency", "4"],
}


def _processes(argv: list[str]) -> int:
    """How many processes a worker's pool forks, so each can take its share of CPU threads."""
    pool = argv[argv.index("--pool") + 1] if "--pool" in argv else "prefork"
    if pool != "prefork":
        return 1
    concurrency = 1
    for index, arg in enumerate(argv):
        if arg in {"-c", "--concurrency"} and index + 1 < len(argv):
            concurrency = int(argv[index + 1])
        elif arg.startswith("--concurrency="):
            concurrency = int(arg.split("=", 1)[1])
    return concurrency


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def worker(
    ctx: typer.Context,
    pool: Annotated[str, typer.Argument(help="decode, embed, index or query")],
) -> None:
    """Run one pool's Celery worker; options after the pool name go to `celery worker`."""
    from shared.runtime import reset_runtime
    from workers.app import app as celery_app
    from workers.queues import Queue

    if pool not in _POOLS:
        raise _fail(f"unknown pool {pool!r}; choose one of {', '.join(q.value for q in Queue)}")
    if not get_settings().distributed:
        raise _fail("a worker needs a broker: set MMINDEX_BROKER_URL (e.g. redis://localhost:6379/0)")
    argv = [
        "worker",
        "--queues",
        Queue(pool).value,
        "--hostname",
        f"{pool}@%h",
        "--loglevel",
        "INFO",
        *_POOLS[pool],
        *ctx.args,
    ]
    os.environ["MMINDEX_WORKER_PROCESSES"] = str(_processes(argv))
    reset_runtime()  # settings are read again, with the pool's process count
    celery_app.worker_main(argv)


@app.command()
def ping(
    pool: Annotated[str, typer.Argument(help="decode, embed, index or query")],
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds to wait for the answer")] = 5.0,
    hostname: Annotated[
        str | None, typer.Option("--hostname", help="The worker's node name, if not POOL@<this host>")
    ] = None,
) -> None:
    """Health check: exit 0 when this host's POOL worker answers through the broker, 1 otherwise."""
    import socket

    from workers.app import app as celery_app

    if pool not in _POOLS:
        raise _fail(f"unknown pool {pool!r}; choose one of {', '.join(_POOLS)}")
    if not get_settings().distributed:
        raise _fail("a worker needs a broker: set MMINDEX_BROKER_URL (e.g. redis://localhost:6379/0)")
    _reach_index(create=False)
    name = hostname or f"{pool}@{socket.gethostname()}"
    replies = celery_app.control.ping(destination=[name], timeout=timeout)  # unreachable broker: exit 2, below
    if not any(name in reply for reply in replies):
        raise _fail(f"{name} did not answer within {timeout:g} s", 1)
    out.print(f"{name}: ok")


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def flower(ctx: typer.Context) -> None:
    """Run Flower on the broker: the pools' workers, queues and tasks in a browser. Options go to Flower
    (`--port=5555`, `--address=0.0.0.0`, `--basic-auth=user:password` or FLOWER_BASIC_AUTH)."""
    from workers.app import app as celery_app

    if not get_settings().distributed:
        raise _fail("Flower watches a broker: set MMINDEX_BROKER_URL (e.g. redis://localhost:6379/0)")
    argv = list(ctx.args)
    if not any(arg.startswith("--address") for arg in argv) and "FLOWER_ADDRESS" not in os.environ:
        argv.insert(0, "--address=127.0.0.1")  # Flower can stop workers: open it to the network only when asked
    celery_app.start(["flower", *argv])


@app.command()
def metrics(
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to listen on (0: a free one)")] = 9808,
    host: Annotated[str, typer.Option("--host", help="Address to bind (0.0.0.0 in a container)")] = "127.0.0.1",
) -> None:
    """Serve Prometheus metrics at /metrics: queue depth per queue, sources per state, per-stage throughput."""
    import threading

    from workers.metrics import server

    try:
        httpd = server(host, port)
    except OSError as error:
        raise _fail(f"cannot listen on {host}:{port} ({error.strerror})") from None
    err.print(f"serving metrics on http://{host}:{httpd.server_address[1]}/metrics", highlight=False)

    def serve(stop: threading.Event) -> None:
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        stop.wait()
        httpd.shutdown()

    _listen(serve)


def _benchmarks() -> dict[str, Any]:
    """The checkout's `bench` package: importable when the project runs from its source tree (an editable install)."""
    root = Path(__file__).resolve().parents[1]
    if not (root / "bench" / "__init__.py").is_file():
        raise _fail("mmindex bench runs from a checkout of the project: the benchmarks are not installed with it")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    from bench import BENCHMARKS

    return BENCHMARKS


@app.command()
def bench(
    name: Annotated[str, typer.Argument(help="embed, opensearch, decode or events")],
    *,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
    images: Annotated[int | None, typer.Option("--images", min=1, help="embed: how many photos (default 200)")] = None,
    docs: Annotated[
        int | None,
        typer.Option("--docs", min=1, help="opensearch: documents to search over (default 100000)"),
    ] = None,
    data: Annotated[
        str | None, typer.Option("--data", help="opensearch: clustered (like embeddings; default) or uniform")
    ] = None,
    seconds: Annotated[
        int | None, typer.Option("--seconds", min=3, help="decode: length of the clip in seconds (default 60)")
    ] = None,
    objects: Annotated[
        int | None, typer.Option("--objects", min=1, help="events: objects uploaded per path (default 2000)")
    ] = None,
) -> None:
    """Measure a stage against a plain baseline, in one run (from a checkout of the project: the benchmarks and the
    fixtures they read are not part of the installed package)."""
    benchmarks = _benchmarks()

    if name not in benchmarks:
        raise _fail(f"unknown benchmark {name!r}; available: {', '.join(benchmarks)}")
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
        }.items()
        if value is not None
    }
    for option in given:
        if option not in inspect.signature(benchmark).parameters:
            raise _fail(f"--{option} does not apply to the {name} benchmark")
    figures = benchmark(log=err, **given)
    if as_json:
        print(json.dumps(figures, indent=2))
    else:
        for key, value in figures.items():
            out.print(f"{key}: {value}")


events = typer.Typer(help="Long-running intakes: storage events become indexing tasks.", no_args_is_help=True)
app.add_typer(events, name="events")


def _listen(function: Any, *args: Any) -> None:
    """Run an intake until SIGINT or SIGTERM, logging what it does."""
    import signal
    import threading

    logging.getLogger("workers.intakes").setLevel(logging.INFO)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        function(*args, stop)
    except MmindexError as error:
        raise _fail(one_line(error)) from None


@events.command("sqs")
def events_sqs(
    queue_url: Annotated[
        str, typer.Option("--queue-url", help="The SQS queue S3 notifies (directly, SNS or EventBridge)")
    ],
) -> None:
    """Receive S3 notifications from an SQS queue; delete each message once its work is queued."""
    from workers.intakes.sqs import poll

    _listen(poll, queue_url)


@events.command("webhook")
def events_webhook(
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to listen on (0: a free one)")] = 8080,
    host: Annotated[str, typer.Option("--host", help="Address to bind (0.0.0.0 in a container)")] = "127.0.0.1",
) -> None:
    """Receive S3-event JSON over HTTP (MinIO's webhook target); bearer token MMINDEX_EVENTS__TOKEN."""
    import threading

    from workers.intakes.webhook import server

    token = get_settings().events.token
    try:
        httpd = server(host, port, token.get_secret_value() if token else "")
    except MmindexError as error:
        raise _fail(one_line(error)) from None
    except OSError as error:
        raise _fail(f"cannot listen on {host}:{port} ({error.strerror})") from None
    err.print(f"listening on http://{host}:{httpd.server_address[1]}/", highlight=False)

    def serve(stop: threading.Event) -> None:
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        stop.wait()
        httpd.shutdown()

    _listen(serve)


@events.command("watch")
def events_watch(folder: Annotated[Path, typer.Argument(help="The folder to watch")]) -> None:
    """Ingest files that finish being written in FOLDER; take deleted ones out of the index."""
    from workers.intakes.watch import Watcher

    if not folder.is_dir():
        raise _fail(f"{folder}: no such folder")
    _reach_index(create=True)
    _listen(lambda stop: Watcher(folder).run(stop))


@app.callback()
def _setup(ctx: typer.Context) -> None:
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
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
        err.print(f"[red]error:[/red] {_unreachable(error) or one_line(error)}", highlight=False)
        sys.exit(2)
