"""`events sqs|webhook|watch`: the long-running intakes, each until SIGINT or SIGTERM."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shared.config import get_settings
from workers.cli.common import fail, listen, reach_index, serve

events = typer.Typer(help="Long-running intakes: storage events become indexing tasks.", no_args_is_help=True)


@events.command("sqs")
def events_sqs(
    queue_url: Annotated[
        str, typer.Option("--queue-url", help="The SQS queue S3 notifies (directly, SNS or EventBridge)")
    ],
) -> None:
    """Receive S3 notifications from an SQS queue; delete each message once its work is queued."""
    from workers.intakes.sqs import poll

    listen(poll, queue_url)


@events.command("webhook")
def events_webhook(
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to listen on (0: a free one)")] = 8080,
    host: Annotated[str, typer.Option("--host", help="Address to bind (0.0.0.0 in a container)")] = "127.0.0.1",
) -> None:
    """Receive S3-event JSON over HTTP (MinIO's webhook target); bearer token MMINDEX_EVENTS__TOKEN."""
    from workers.intakes.webhook import server

    token = get_settings().events.token
    secret = token.get_secret_value() if token else ""
    serve(lambda: server(host, port, secret), host, port, lambda bound: f"listening on http://{host}:{bound}/")


@events.command("watch")
def events_watch(folder: Annotated[Path, typer.Argument(help="The folder to watch")]) -> None:
    """Ingest files that finish being written in FOLDER; take deleted ones out of the index."""
    from workers.intakes.watch import Watcher

    if not folder.is_dir():
        raise fail(f"{folder}: no such folder")
    reach_index(create=True)
    listen(lambda stop: Watcher(folder).run(stop))
