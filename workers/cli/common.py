"""What every command shares: its consoles, the one-line failure (exit 2), reaching the index or the broker, and
running an intake or an HTTP server until the process is told to stop."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from http.server import HTTPServer
from typing import TYPE_CHECKING, Any

import typer
from pydantic import ValidationError
from rich.console import Console

from shared.config import get_settings
from shared.errors import MmindexError, mask, one_line

if TYPE_CHECKING:
    from shared.runtime import Runtime

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print `error: message` (passwords masked) on stderr; the exit to raise, with `code`."""
    err.print(f"[red]error:[/red] {mask(message)}", highlight=False)
    return typer.Exit(code)


def get_runtime() -> Runtime:
    """The process's runtime (imported on first use: it brings numpy, Pillow and the stores)."""
    from shared.runtime import get_runtime as runtime

    return runtime()


def reach_index(*, create: bool) -> None:
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
        raise fail(
            f"no index at {home} (MMINDEX_HOME): `mmindex ingest PATH` creates one there;"
            " or set MMINDEX_HOME to the folder that holds your index"
        )
    home.mkdir(parents=True, exist_ok=True)
    err.print(f"created a new index at {home} (MMINDEX_HOME)", highlight=False)


def require_broker(who: str) -> None:
    """Refuse to go on in embedded mode: `who` (e.g. "a worker needs") a broker."""
    if not get_settings().distributed:
        raise fail(f"{who} a broker: set MMINDEX_BROKER_URL (e.g. redis://localhost:6379/0)")


def unreachable(error: BaseException) -> str | None:
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


def listen(function: Callable[..., Any], *args: Any) -> None:
    """Run an intake, `function(*args, stop)`, until SIGINT or SIGTERM sets `stop`, logging what it does."""
    logging.getLogger("workers.intakes").setLevel(logging.INFO)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    try:
        function(*args, stop)
    except MmindexError as error:
        raise fail(one_line(error)) from None


def serve(open_server: Callable[[], HTTPServer], host: str, port: int, banner: Callable[[int], str]) -> None:
    """Serve HTTP on a thread of its own until SIGINT or SIGTERM: `open_server` binds (host, port), and
    `banner(port)` says on stderr where it listens (the port it got, when 0 asked for a free one)."""
    try:
        httpd = open_server()
    except MmindexError as error:
        raise fail(one_line(error)) from None
    except OSError as error:
        raise fail(f"cannot listen on {host}:{port} ({error.strerror})") from None
    err.print(banner(httpd.server_address[1]), highlight=False)

    def run(stop: threading.Event) -> None:
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        stop.wait()
        httpd.shutdown()

    listen(run)
