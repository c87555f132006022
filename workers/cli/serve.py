"""`serve`: the HTTP API and the search page, until SIGINT or SIGTERM."""

from __future__ import annotations

from typing import Annotated

import typer

from shared.errors import MmindexError, one_line
from workers.cli.common import err, fail, get_runtime, reach_index


def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on (another than loopback needs API keys)")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on")] = 8000,
) -> None:
    """Serve the HTTP API (/docs) and the search page (/) on HOST:PORT."""
    import uvicorn

    from workers.api import create_app
    from workers.api.access import check_bind

    runtime = get_runtime()
    try:
        check_bind(host, runtime.settings.api)
    except MmindexError as error:
        raise fail(one_line(error)) from None
    if not runtime.settings.distributed:
        reach_index(create=True)
        runtime.ledger, runtime.store  # noqa: B018 - opened here, once, before threads share them
    # In distributed mode the server starts whatever is down: /readyz says what is, and requests answer 503.
    app = create_app(runtime)
    shown = f"[{host}]" if ":" in host else host
    err.print(f"serving the API and the search page on http://{shown}:{port}/ (API docs: /docs)", highlight=False)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False))
    server.run()
    if not server.started:
        raise fail(f"cannot listen on {host}:{port} (in use, or not an address of this machine?)")
