"""What deploy files may run and set: `mmindex` commands that exist, and `MMINDEX_` variables that are settings.

The compose file, the images and the manifests start the system with command lines and environment
variables written in YAML and Dockerfiles, where nothing checks them; these helpers check them against
the command line and the settings object as built.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import click
import typer
from celery.bin.base import CLIContext
from celery.bin.worker import worker as celery_worker
from flower.options import default_options  # noqa: F401  (defines Flower's options)
from tornado.options import options as flower_options

from shared.config import Settings
from workers.app import app as celery_app
from workers.cli import app as cli
from workers.queues import POOLS as _POOLS


def check_command(argv: Sequence[str]) -> Any:
    """Fail unless `argv` runs a real `mmindex` command whose arguments and options parse; return it.

    `mmindex worker POOL …` passes what follows the pool to `celery worker`, and `mmindex flower …` to
    Flower: those options are checked against Celery's and Flower's own.
    """
    assert argv, "an empty command"
    assert argv[0] == "mmindex", f"{list(argv)} does not run the mmindex command"
    # typer carries its own copy of click: its groups are told apart by what they can do
    command: Any = typer.main.get_command(cli)
    parent = command.make_context("mmindex", [], resilient_parsing=True)
    args = list(argv[1:])
    path = ["mmindex"]
    while hasattr(command, "get_command"):
        assert args, f"{list(argv)}: `{' '.join(path)}` needs a command"
        name, *args = args
        sub = command.get_command(parent, name)
        assert sub is not None, f"{list(argv)}: `{' '.join(path)}` has no command {name!r}"
        if hasattr(sub, "get_command"):
            parent = sub.make_context(name, [], parent=parent, resilient_parsing=True)
        command, path = sub, [*path, name]
    try:
        context = command.make_context(path[-1], list(args), parent=parent)
    except Exception as error:  # typer's click UsageError
        if not hasattr(error, "format_message"):
            raise
        raise AssertionError(f"{list(argv)}: {error.format_message()}") from None
    if path[1:] == ["worker"]:
        pool = context.params["pool"]
        assert pool in _POOLS, f"{list(argv)}: no pool {pool!r}"
        try:
            celery_worker.make_context("worker", list(context.args), obj=CLIContext(celery_app, None, 0, True))
        except click.UsageError as error:
            raise AssertionError(f"{list(argv)}: celery worker: {error.format_message()}") from None
        known = {opt for param in celery_worker.params for opt in param.opts + param.secondary_opts}
        for arg in context.args:
            if arg.startswith("-"):
                assert arg.split("=", 1)[0] in known, f"{list(argv)}: celery worker has no option {arg}"
    if path[1:] == ["flower"]:
        for arg in context.args:
            name = arg.removeprefix("--").split("=", 1)[0].replace("-", "_")
            assert arg.startswith("--") and "=" in arg, f"{list(argv)}: Flower options are --name=value, not {arg}"
            assert name in flower_options._options, f"{list(argv)}: Flower has no option --{name}"
    return command


@contextmanager
def environment(env: Mapping[str, str]) -> Iterator[None]:
    """Run with exactly these `MMINDEX_` variables set (and the others unset)."""
    saved = dict(os.environ)
    try:
        for name in [name for name in os.environ if name.startswith("MMINDEX_")]:
            del os.environ[name]
        os.environ.update({name: value for name, value in env.items() if name.startswith("MMINDEX_")})
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def check_settings(env: Mapping[str, str]) -> Settings:
    """Fail unless every `MMINDEX_` variable of `env` is a setting and, together, they validate; return them."""
    names = [name for name in env if name.startswith("MMINDEX_")]
    with environment(env):
        try:
            settings = Settings()
        except ValueError as error:
            raise AssertionError(f"settings {names} do not validate: {error}") from None
    return settings
