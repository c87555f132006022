"""`worker`, `ping`, `flower` and `metrics`: running the pools, and watching them."""

from __future__ import annotations

import os
import socket
from typing import Annotated

import typer

from workers.cli.common import fail, out, reach_index, require_broker, serve
from workers.queues import POOLS, Queue


def worker(
    ctx: typer.Context,
    pool: Annotated[str, typer.Argument(help="decode, embed, index or query")],
) -> None:
    """Run one pool's Celery worker; options after the pool name go to `celery worker`."""
    from shared.runtime import reset_runtime
    from workers.app import app as celery_app

    if pool not in POOLS:
        raise fail(f"unknown pool {pool!r}; choose one of {', '.join(q.value for q in Queue)}")
    require_broker("a worker needs")
    queue = Queue(pool)
    argv = [
        "worker",
        "--queues",
        queue.value,
        "--hostname",
        f"{pool}@%h",
        "--loglevel",
        "INFO",
        *POOLS[queue],
        *ctx.args,
    ]
    os.environ["MMINDEX_WORKER_PROCESSES"] = str(_processes(argv))
    reset_runtime()  # settings are read again, with the pool's process count
    celery_app.worker_main(argv)


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


def ping(
    pool: Annotated[str, typer.Argument(help="decode, embed, index or query")],
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="Seconds to wait for the answer")] = 5.0,
    hostname: Annotated[
        str | None, typer.Option("--hostname", help="The worker's node name, if not POOL@<this host>")
    ] = None,
) -> None:
    """Health check: exit 0 when this host's POOL worker answers through the broker, 1 otherwise."""
    from workers.app import app as celery_app

    if pool not in POOLS:
        raise fail(f"unknown pool {pool!r}; choose one of {', '.join(POOLS)}")
    require_broker("a worker needs")
    reach_index(create=False)
    name = hostname or f"{pool}@{socket.gethostname()}"
    replies = celery_app.control.ping(destination=[name], timeout=timeout)  # unreachable broker: exit 2, in main
    if not any(name in reply for reply in replies):
        raise fail(f"{name} did not answer within {timeout:g} s", 1)
    out.print(f"{name}: ok")


def flower(ctx: typer.Context) -> None:
    """Run Flower on the broker: the pools' workers, queues and tasks in a browser. Options go to Flower
    (`--port=5555`, `--address=0.0.0.0`, `--basic-auth=user:password` or FLOWER_BASIC_AUTH)."""
    from workers.app import app as celery_app

    require_broker("Flower watches")
    argv = list(ctx.args)
    if not any(arg.startswith("--address") for arg in argv) and "FLOWER_ADDRESS" not in os.environ:
        argv.insert(0, "--address=127.0.0.1")  # Flower can stop workers: open it to the network only when asked
    celery_app.start(["flower", *argv])


def metrics(
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port to listen on (0: a free one)")] = 9808,
    host: Annotated[str, typer.Option("--host", help="Address to bind (0.0.0.0 in a container)")] = "127.0.0.1",
) -> None:
    """Serve Prometheus metrics at /metrics: queue depth per queue, sources per state, per-stage throughput."""
    from workers.metrics import server

    serve(lambda: server(host, port), host, port, lambda bound: f"serving metrics on http://{host}:{bound}/metrics")
